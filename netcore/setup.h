// The two verbs of the hook. Setup: validate everything, then apply steps under a write-ahead
// endpoint record, rolling back on any failure. Teardown: replay the record backwards.
#pragma once
#include <functional>
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
// id. Best effort: keeps going after an error and throws the first one at the end.
void teardown_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& id);

struct GcResult {
  std::string id, name, why;
};
// Releases every endpoint whose network namespace is gone (the runtime never ran poststop) or
// whose setup died half-way (record not ready, nobody holding its lock).
std::vector<GcResult> gc_endpoints(const GlobalOptions& opts, const AdminConfig& cfg);

}  // namespace ocinet

namespace ocinet {
struct Annotations;
// Invalid (exit 1, naming the policy key) when the annotations ask for what the admin's policy
// does not allow: a mode, a network, static addresses, host ports or addresses, or more
// published ports than max_published_ports.
void check_policy(const Policy& p, const Annotations& a, const std::vector<std::string>& networks);

struct NetworkDef;
struct Attachment;
// Takes the attachment's leases on `net` (IPv4, and IPv6 on dual-stack networks), static when
// asked; fills a.ip/a.ip6 (and a.mac when empty). Caller holds the allocation lock.
void lease_addresses(const Paths& paths, const NetworkDef& net, const std::string& id, std::optional<uint32_t> ip,
                     const std::optional<std::string>& ip6, Attachment& a);
// Releases them; an empty address (crash before it was recorded) is found by owner.
void release_addresses(const Paths& paths, const std::string& id, const Attachment& a);

// Called by undo_record with the steps still to undo, before it releases the first address,
// port or name; it stores them as the record's steps, so a run killed later resumes there.
using Checkpoint = std::function<void(const std::vector<std::string>& steps_left)>;
// A checkpoint that saves `rec` (which must outlive it) with those steps.
Checkpoint save_steps(const RecordStore& records, const EndpointRecord& rec);

// Undoes the record's steps in reverse order (shared by rollback, teardown and gc).
// Best effort: every step is tried; the first error is rethrown at the end.
void undo_record(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec,
                 const Checkpoint& checkpoint = nullptr);
}  // namespace ocinet

namespace ocinet {
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
