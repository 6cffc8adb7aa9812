// Name discovery through /etc/hosts, as releases before the embedded name server (dns/) did it;
// what is left here serves their records (teardown, connect and disconnect of containers set up
// by them) and each container's own lines. Containers on the same user-defined network found
// each other through /etc/hosts. When an endpoint joins a network, ocinet adds the running peers to its
// hosts file and itself to each peer's; when it leaves, it takes its lines out of the peers'
// files. Every such line ends with a marker naming its owner ("# ocinet-peer:<id>", the record's
// tag: the whole id, or the first 12 characters for records of earlier releases), so an
// update touches only that owner's lines. The container's own addresses are marked with its
// own id, so connect/disconnect can re-render them. The default network `bridge` has no
// discovery (Docker's rule); links still work there.
//
// Locking: the caller holds DiscoveryLocks for the networks concerned (name order); each hosts
// file is rewritten under its own leaf lock (RUN/locks/hosts-<id>.lock), because a container
// on two networks can be updated from either.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netcore/container_files.h"
#include "netcore/endpoint_record.h"
#include "netcore/fsutil.h"
#include "netcore/paths.h"

namespace ocinet {

struct PeerEntry {
  std::string owner;  // container id whose line this is
  HostsEntry entry;
};

std::string peer_marker(const std::string& tag);
// The owners (tags) of the marked lines in a hosts text. Pure (unit-tested).
std::vector<std::string> peer_owners(const std::string& hosts_text);
// Rewrites owners' lines in `target`'s hosts file under its leaf lock; first drops the lines of
// every owner for which `drop_owner` (given the tag) says so. The caller holds the
// networks' DiscoveryLocks.
void edit_hosts(const Paths& paths, const EndpointRecord& target,
                const std::vector<std::pair<std::string, std::vector<HostsEntry>>>& edits,
                const std::function<bool(const std::string&)>& drop_owner = nullptr);
// Hosts lines for peers, each tagged with its owner's marker.
std::vector<std::string> peer_lines(const std::vector<PeerEntry>& peers);
// Within ocinet's block of a hosts text: drops the lines of `owner` and appends `lines`
// tagged with its marker. Lines outside the block are untouched. Pure (unit-tested).
std::string set_peer_lines(const std::string& hosts_text, const std::string& owner, const std::vector<HostsEntry>& lines);

// Networks of `rec` that have discovery (every one but the default network), sorted.
std::vector<std::string> discovery_networks(const EndpointRecord& rec);
// The container's own entries (name, hostname, aliases) for each of its attachments.
std::vector<HostsEntry> own_entries(const EndpointRecord& rec);

class DiscoveryLocks {
 public:
  DiscoveryLocks(const Paths& paths, const std::vector<std::string>& networks);

 private:
  std::vector<std::unique_ptr<FileLock>> locks_;
};

// Adds `self` to the hosts file of every ready peer on its discovery networks and returns the
// peers' entries for self's own file. A peer whose file cannot be written is skipped: one
// broken container must not stop others from starting.
std::vector<PeerEntry> announce(const Paths& paths, const RecordStore& records, const EndpointRecord& self);
// Removes self's lines from every peer's hosts file.
void withdraw(const Paths& paths, const RecordStore& records, const EndpointRecord& self);
// After self's attachments changed on `network` (connect/disconnect): brings self's own lines
// in line and, with `peers` (a record of a release before the name server, whose peers' files
// carry its lines), self's lines in the peers' files and the peers' lines in self's file.
void sync_network(const Paths& paths, const RecordStore& records, const EndpointRecord& self, const std::string& network,
                  bool peers);
// Whether the record announced itself in peers' hosts files (releases before the name server).
bool announced_in_peers(const EndpointRecord& rec);

}  // namespace ocinet
