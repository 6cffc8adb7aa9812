// Prepares an OCI config.json for a mode: what `ocinet bundle inject` does to a bundle and what
// the hook's precreate stage (Podman) does to the config on its way to the runtime. Pure JSON
// transformations: unit-tested without root.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ocinet {

// host: the network namespace entry is removed (the container shares the host's).
// container:<ref>: the entry's path is set to `joined_netns` (the owner's netns path).
// Other modes: unchanged. Invalid when config.json has no linux.namespaces to edit.
void rewrite_netns_for_mode(nlohmann::json& config, const std::string& mode, const std::string& joined_netns);

// Adds annotations (validated by the caller) over existing ones.
void add_annotations(nlohmann::json& config, const std::map<std::string, std::string>& annotations);

// Adds ocinet's hook entries: createRuntime and prestart (setup; a runtime that has
// createRuntime runs both and the second is a no-op, one that lacks it runs prestart) and
// poststop. Entries already pointing at `hook_path` are replaced, so injecting twice is the
// same as once. `env` is passed to the hook (the OCINET_* variables of the caller).
void add_hooks(nlohmann::json& config, const std::string& hook_path, const std::vector<std::string>& env);

}  // namespace ocinet
