// The OCI state the runtime passes on stdin, and the parts of the bundle's config.json that
// networking needs.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ocinet {

struct OciState {
  std::string id;
  std::string status;
  std::string bundle;
  int pid = 0;  // 0 at poststop
  std::map<std::string, std::string> annotations;
};

struct BundleConfig {
  std::string rootfs;                     // absolute
  std::string hostname;                   // config.json "hostname", may be empty
  std::optional<std::string> netns_path;  // linux.namespaces[type=network].path
  bool has_netns = false;                 // a network namespace entry exists at all
  std::map<std::string, std::string> file_mounts;  // destination -> source, for bind mounts
};

inline constexpr size_t kMaxStateBytes = 1 << 20;

// Throws ocinet::Error (Invalid) for malformed JSON, missing/ill-typed fields, or an id that is
// not [A-Za-z0-9][A-Za-z0-9_.-]{0,127}.
OciState parse_oci_state(const std::string& json);
// The same from an already parsed document (the hook parses stdin once).
OciState parse_oci_state_doc(const nlohmann::json& doc);
BundleConfig parse_bundle_config(const std::string& json, const std::string& bundle_dir);
// Reads BUNDLE/config.json (Invalid when absent, malformed, not a regular file, or over 1 MiB).
BundleConfig load_bundle_config(const std::string& bundle_dir);

}  // namespace ocinet
