#include "config/oci_state.h"

#include <nlohmann/json.hpp>

#include "config/validate.h"
#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

using nlohmann::json;

static json parse_json(const std::string& text, const std::string& what) {
  if (text.size() > kMaxStateBytes) fail_invalid(what + ": larger than 1 MiB");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // e.what() can quote input bytes; keep the message to the position.
    fail_invalid(what + ": malformed JSON (" + std::string(e.id == 101 ? "syntax error" : "invalid") + ")");
  }
}

// get<long long>() would turn 1.5 into 1 and true into 1: a pid is a JSON integer, nothing else.
static int pid_of(const json& p) {
  constexpr int64_t kMaxPid = 1 << 22;  // the kernel's PID_MAX_LIMIT
  if (!p.is_number_integer()) fail_invalid("OCI state: pid is not an integer");
  // Non-negative numbers parse as unsigned, whose values above INT64_MAX get<int64_t> would wrap.
  if (p.is_number_unsigned() ? p.get<uint64_t>() > uint64_t(kMaxPid) : p.get<int64_t>() < 0 || p.get<int64_t>() > kMaxPid)
    fail_invalid("OCI state: pid out of range");
  return int(p.get<int64_t>());
}

OciState parse_oci_state(const std::string& text) { return parse_oci_state_doc(parse_json(text, "OCI state")); }

OciState parse_oci_state_doc(const json& j) {
  if (!j.is_object()) fail_invalid("OCI state: not a JSON object");
  OciState s;
  try {
    s.id = j.at("id").get<std::string>();
    if (j.contains("status")) s.status = j["status"].get<std::string>();
    if (j.contains("bundle")) s.bundle = j["bundle"].get<std::string>();
    if (j.contains("pid") && !j["pid"].is_null()) s.pid = pid_of(j["pid"]);
    if (j.contains("annotations") && !j["annotations"].is_null())
      s.annotations = j["annotations"].get<std::map<std::string, std::string>>();
  } catch (const json::exception&) {
    fail_invalid("OCI state: missing or ill-typed field (want id string, pid number, annotations of strings)");
  }
  if (!is_valid_name(s.id, 128)) fail_invalid("OCI state: invalid container id");
  if (!s.bundle.empty() && (s.bundle[0] != '/' || has_control_chars(s.bundle)))
    fail_invalid("OCI state: bundle must be an absolute path");
  return s;
}

BundleConfig parse_bundle_config(const std::string& text, const std::string& bundle_dir) {
  json j = parse_json(text, "config.json");
  BundleConfig b;
  try {
    std::string root = j.at("root").at("path").get<std::string>();
    b.rootfs = root.size() && root[0] == '/' ? root : bundle_dir + "/" + root;
    if (j.contains("hostname")) b.hostname = j["hostname"].get<std::string>();
    if (j.contains("linux") && j["linux"].contains("namespaces")) {
      for (auto& ns : j["linux"]["namespaces"]) {
        if (ns.value("type", "") != "network") continue;
        b.has_netns = true;
        if (ns.contains("path") && !ns["path"].get<std::string>().empty()) b.netns_path = ns["path"].get<std::string>();
      }
    }
    if (j.contains("mounts")) {
      for (auto& m : j["mounts"]) {
        std::string dst = m.value("destination", "");
        if (dst == "/etc/hosts" || dst == "/etc/resolv.conf" || dst == "/etc/hostname")
          if (m.contains("source")) b.file_mounts[dst] = m["source"].get<std::string>();
      }
    }
  } catch (const json::exception&) {
    fail_invalid("config.json: missing or ill-typed field (root.path, hostname, linux.namespaces, mounts)");
  }
  if (!b.hostname.empty() && !is_valid_hostname(b.hostname)) b.hostname.clear();
  return b;
}

BundleConfig load_bundle_config(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/config.json";
  std::optional<std::string> text;
  try {
    text = read_regular_file(path, kMaxStateBytes);  // a FIFO or device here must not hang the hook
  } catch (const Error& e) {
    throw Error(e.kind(), std::string("config.json: ") + e.what());
  }
  if (!text) fail_invalid("config.json: cannot read " + path + " (no such file)");
  return parse_bundle_config(*text, bundle_dir);
}

}  // namespace ocinet
