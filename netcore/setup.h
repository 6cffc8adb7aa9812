// The verbs on endpoints. Setup: plan (validate and decide everything), then apply steps under a
// write-ahead endpoint record, rolling back on any failure. Teardown: undo the record's steps.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "config/oci_state.h"
#include "config/options.h"
#include "netcore/endpoint_record.h"
#include "netcore/paths.h"

namespace ocinet {

// Returns the endpoint (also when it already existed: setup is idempotent per container id).
EndpointRecord setup_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const OciState& state);
// Releases everything the record says exists; without a record, everything derivable from the
// id. Best effort: keeps going after an error and throws them all at the end.
void teardown_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& id);

struct GcResult {
  std::string id, name, why;
};
// Releases every endpoint whose network namespace is gone (the runtime never ran poststop) or
// whose setup died half-way (record not ready, nobody holding its lock).
std::vector<GcResult> gc_endpoints(const GlobalOptions& opts, const AdminConfig& cfg);

// `ocinet network connect/disconnect` on a running container (given by name or id): adds or
// removes an ethN live, with its lease, firewall rules and name discovery. All or nothing.
void connect_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network,
                      const std::string& container, const std::string& static_ip, const std::vector<std::string>& aliases);
void disconnect_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network,
                         const std::string& container);
// Container id for a name or an id known to ocinet; Invalid when unknown.
std::string resolve_container(const GlobalOptions& opts, const std::string& name_or_id);
// A running container with a netns of its own (for mode container:<ref>); Invalid when it is
// unknown, stopped, or itself shares another container's or the host's netns.
EndpointRecord running_container(const GlobalOptions& opts, const std::string& name_or_id);
std::string netns_of_container(const GlobalOptions& opts, const std::string& name_or_id);
// config.json prepared for the mode its annotations ask for (precreate / bundle inject):
// validates the annotations, then rewrites the network namespace entry for host/container.
void prepare_config_for_mode(const GlobalOptions& opts, nlohmann::json& config);
}  // namespace ocinet
