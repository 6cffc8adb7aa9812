// Name discovery without a daemon: containers on the same user-defined network find each other
// through /etc/hosts. When an endpoint joins, ocinet adds the running peers to its hosts file
// and itself to each peer's; when it leaves, it takes its lines out of the peers' files. Each
// peer line ends with a marker naming its owner, so updates touch only that owner's lines.
// The default network `bridge` has no discovery (Docker's rule); links still work there.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "netcore/container_files.h"
#include "netcore/endpoint_record.h"
#include "netcore/fsutil.h"
#include "netcore/setup.h"

namespace ocinet {

struct PeerEntry {
  std::string owner;  // container id whose line this is
  HostsEntry entry;
};

std::string peer_marker(const std::string& id);
// Hosts lines for peers, each tagged with its owner's marker.
std::vector<std::string> peer_lines(const std::vector<PeerEntry>& peers);
// Within ocinet's block of a hosts text: drops the lines of `owner` and appends `lines`
// tagged with its marker. Lines outside the block are untouched. Pure (unit-tested).
std::string set_peer_lines(const std::string& hosts_text, const std::string& owner, const std::vector<HostsEntry>& lines);

// Networks of `rec` that have discovery (every one but the default network), sorted.
std::vector<std::string> discovery_networks(const EndpointRecord& rec);

// Holds the discovery locks of a set of networks, taken in name order (the global lock order).
class DiscoveryLocks {
 public:
  DiscoveryLocks(const Paths& paths, const std::vector<std::string>& networks);

 private:
  std::vector<std::unique_ptr<FileLock>> locks_;
};

// Caller holds the DiscoveryLocks of discovery_networks(self). Adds `self` to the hosts file
// of every ready peer and returns the peers' entries for self's own file. A peer whose file
// cannot be written is skipped: one broken container must not stop others from starting.
std::vector<PeerEntry> announce(const Paths& paths, const RecordStore& records, const EndpointRecord& self);
// Caller holds the locks. Removes self's lines from every member's hosts file.
void withdraw(const Paths& paths, const RecordStore& records, const EndpointRecord& self);

}  // namespace ocinet
