#include "netcore/discovery.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "base/error.h"
#include "netcore/fault.h"
#include "netcore/ipam.h"
#include "netcore/network_store.h"

namespace ocinet {
namespace {

ContainerFileTarget hosts_target(const EndpointRecord& r) {
  ContainerFileTarget t{r.rootfs, "etc/hosts", std::nullopt};
  if (!r.hosts_source.empty()) t.bind_source = r.hosts_source;
  return t;
}

// The entries naming `r` on attachment `a`: one per address family it has there.
std::vector<HostsEntry> entries_on(const EndpointRecord& r, const Attachment& a) {
  HostsEntry e{a.ip, {r.name}};
  if (!r.hostname.empty()) e.names.push_back(r.hostname);
  e.names.insert(e.names.end(), a.aliases.begin(), a.aliases.end());
  std::vector<HostsEntry> out{e};
  if (!a.ip6.empty()) {
    e.ip = a.ip6;
    out.push_back(e);
  }
  return out;
}

const Attachment* attachment_on(const EndpointRecord& r, const std::string& network) {
  for (const auto& a : r.attachments)
    if (a.network == network && !a.ip.empty()) return &a;
  return nullptr;
}

// What `peer` should list for `of`: its address on every discovery network both are on.
std::vector<HostsEntry> shared_entries(const EndpointRecord& of, const EndpointRecord& peer) {
  std::vector<HostsEntry> out;
  for (const auto& net : discovery_networks(of))
    if (attachment_on(peer, net))
      for (auto& e : entries_on(of, *attachment_on(of, net))) out.push_back(e);
  return out;
}

// Other ready endpoints on `network`, from its leases (the membership list ocinet keeps).
std::vector<EndpointRecord> peers_on(const Paths& paths, const RecordStore& records, const std::string& network,
                                     const std::string& self) {
  std::vector<EndpointRecord> out;
  for (const auto& [ip, id] : LeaseStore::list_at(paths.lease_dir(network))) {
    if (id == self || !is_valid_name(id, kMaxLegacyIdLen)) continue;
    if (auto r = records.load(id); r && r->ready() && !r->rootfs.empty()) out.push_back(std::move(*r));
  }
  return out;
}


void edit_peer(const Paths& paths, const EndpointRecord& peer, const std::string& owner,
               const std::vector<HostsEntry>& lines) {
  try {
    edit_hosts(paths, peer, {{owner, lines}});
  } catch (const Error&) {
    // The peer's rootfs is gone or refuses the write (e.g. a hostile symlink): its problem.
  }
}

}  // namespace

void edit_hosts(const Paths& paths, const EndpointRecord& target,
                const std::vector<std::pair<std::string, std::vector<HostsEntry>>>& edits,
                const std::function<bool(const std::string&)>& drop_owner) {
  FileLock lock(paths.run_dir + "/locks/hosts-" + target.id + ".lock");
  auto t = hosts_target(target);
  ContainerFiles files;
  const std::string before = files.read(t);
  std::string text = before;
  if (drop_owner)
    for (const auto& owner : peer_owners(text))
      if (drop_owner(owner)) text = set_peer_lines(text, owner, {});
  for (const auto& [owner, lines] : edits) text = set_peer_lines(text, owner, lines);
  if (text != before) files.write(t, text);  // the agent's resyncs mostly find nothing to change
}

std::vector<std::string> peer_owners(const std::string& text) {
  std::set<std::string> owners;
  const std::string tag = "# ocinet-peer:";
  for (size_t at = text.find(tag); at != std::string::npos; at = text.find(tag, at + 1)) {
    size_t start = at + tag.size(), end = start;
    while (end < text.size() && (std::isalnum(uint8_t(text[end])) || std::strchr("_.-", text[end]))) end++;
    if (end > start) owners.insert(text.substr(start, end - start));
  }
  return {owners.begin(), owners.end()};
}

std::string peer_marker(const std::string& tag) { return "# ocinet-peer:" + tag; }

std::vector<std::string> peer_lines(const std::vector<PeerEntry>& peers) {
  std::vector<std::string> out;
  for (const auto& p : peers) {
    auto rendered = hosts_lines({p.entry});
    // hosts_lines starts with the two localhost lines; the entry's own line (if valid) follows.
    for (size_t i = 2; i < rendered.size(); i++) out.push_back(rendered[i] + "\t" + peer_marker(p.owner));
  }
  return out;
}

std::string set_peer_lines(const std::string& text, const std::string& owner, const std::vector<HostsEntry>& lines) {
  std::string marker = peer_marker(owner);
  auto ends_with_marker = [&](const std::string& l) {
    return l.size() >= marker.size() && l.compare(l.size() - marker.size(), marker.size(), marker) == 0;
  };
  // Take the current block's lines, edit them, and merge the block back in.
  std::vector<std::string> block;
  bool in_block = false, found = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string l = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    if (!found && l == kBlockBegin) {
      in_block = found = true;
      continue;
    }
    if (in_block && l == kBlockEnd) {
      in_block = false;
      continue;
    }
    if (in_block && !ends_with_marker(l)) block.push_back(l);
  }
  if (!found) block = hosts_lines({});
  std::vector<PeerEntry> entries;
  for (const auto& e : lines) entries.push_back({owner, e});
  for (const auto& l : peer_lines(entries)) block.push_back(l);
  return merge_block(text, block);
}

std::vector<std::string> discovery_networks(const EndpointRecord& rec) {
  std::set<std::string> nets;
  for (const auto& a : rec.attachments)
    if (a.network != kDefaultBridgeNetwork && !a.ip.empty()) nets.insert(a.network);
  return {nets.begin(), nets.end()};
}

std::vector<HostsEntry> own_entries(const EndpointRecord& rec) {
  std::vector<HostsEntry> out;
  for (const auto& a : rec.attachments)
    if (!a.ip.empty())
      for (auto& e : entries_on(rec, a)) out.push_back(e);
  return out;
}

DiscoveryLocks::DiscoveryLocks(const Paths& paths, const std::vector<std::string>& networks) {
  std::set<std::string> sorted(networks.begin(), networks.end());
  for (const auto& n : sorted) locks_.push_back(std::make_unique<FileLock>(paths.run_dir + "/locks/net-" + n + ".lock"));
}

std::vector<PeerEntry> announce(const Paths& paths, const RecordStore& records, const EndpointRecord& self) {
  std::vector<PeerEntry> mine;
  std::set<std::string> done;
  for (const auto& net : discovery_networks(self))
    for (const auto& peer : peers_on(paths, records, net, self.id)) {
      if (!done.insert(peer.id).second) continue;  // shares several networks: once is enough
      for (auto& e : shared_entries(peer, self)) mine.push_back({peer.tag, e});
      fault_point("announce to a peer");
      edit_peer(paths, peer, self.tag, shared_entries(self, peer));
    }
  return mine;
}

void withdraw(const Paths& paths, const RecordStore& records, const EndpointRecord& self) {
  std::set<std::string> done;
  for (const auto& net : discovery_networks(self))
    for (const auto& peer : peers_on(paths, records, net, self.id))
      if (done.insert(peer.id).second) edit_peer(paths, peer, self.tag, {});
}

void sync_network(const Paths& paths, const RecordStore& records, const EndpointRecord& self, const std::string& network,
                  bool peers) {
  std::vector<std::pair<std::string, std::vector<HostsEntry>>> own_edits = {{self.tag, own_entries(self)}};
  if (peers && network != kDefaultBridgeNetwork)
    for (const auto& peer : peers_on(paths, records, network, self.id)) {
      edit_peer(paths, peer, self.tag, shared_entries(self, peer));
      own_edits.push_back({peer.tag, shared_entries(peer, self)});
    }
  edit_hosts(paths, self, own_edits);
}

bool announced_in_peers(const EndpointRecord& rec) {
  return has_step(rec.steps, {StepKind::peers});
}

}  // namespace ocinet
