// What each served container may resolve: the names of the containers it shares a network with
// embedded DNS (names, name.network, aliases, hostnames, short ids), its own links, and PTR
// names of their addresses. Built from endpoint records and network definitions.
//
// Indexed by "network/lowercase-name" so that a query costs one hash lookup per network of the
// asking container, never a scan of all containers; adding or removing a container touches only
// its own names (each holder remembers its position, removal swaps with the last holder).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netcore/dns_feed.h"
#include "netcore/endpoint_record.h"
#include "netcore/network_store.h"

namespace ocinet::dns {

// Clients must follow containers that come and go (a restarted container usually gets another
// address); Docker's 600 s would keep a dead address in caches for ten minutes.
inline constexpr uint32_t kAnswerTtl = 5;

// A served container's place on one network with embedded DNS.
struct NetPresence {
  std::string network;
  bool has4 = false, has6 = false;
  std::array<uint8_t, 4> v4{};
  std::array<uint8_t, 16> v6{};
  std::vector<std::string> names;  // lowercase names it holds on this network
  std::string ptr_name;            // "name.network." as PTR answers it
  bool internal = false;
};

struct LinkName {
  std::string alias;   // lowercase, "" when none
  std::string target;  // lowercase container name or id
};

struct Member {
  std::string id, name, netns, netns_id;
  // A container of another host on an overlay network (netcore/dns_feed.h): answered to the
  // containers of this host on that network, never served, never a link target.
  bool remote = false;
  std::vector<NetPresence> nets;  // networks with embedded DNS only, record order
  std::vector<LinkName> links;
  std::vector<std::string> dns;  // the container's own upstreams (io.ocinet.dns)

 private:
  friend class View;
  struct Slot {
    std::string key;
    uint32_t pos;
  };
  std::vector<Slot> slots_;  // where this member sits in the name index
};

// The network definitions a view is built against; nullptr for an unknown network.
using NetworkLookup = std::function<const NetworkDef*(const std::string&)>;

// The member of a record, or nullopt when the record is not served: not ready, or without an
// address on any network with embedded DNS.
std::optional<Member> member_from_record(const EndpointRecord& r, const NetworkLookup& networks);

// A container of another host on overlay network `network`, as the view holds it: its id in the
// view is remote_key(network, e.id), so it never meets a local container's.
std::string remote_key(const std::string& network, const std::string& id);
Member member_from_remote(const RemoteEndpoint& e, const std::string& network);

class View {
 public:
  View();
  // Adds `m`, replacing any member with its id.
  const Member& put(Member m);
  void remove(const std::string& id);
  const Member* find(const std::string& id) const;
  size_t size() const { return members_.size(); }
  size_t name_count() const { return names_.size(); }
  template <class F> void for_each(F f) const {
    for (const auto& [id, m] : members_) f(*m);
  }

  // Addresses (4 or 16 bytes each) of `name` (lowercase, no trailing dot) as `asker` sees it,
  // family AF_INET or AF_INET6, at most `max`, starting at a random holder so that a name with
  // several holders answers in an order that changes. False when the name is not local to the
  // asker (then it is forwarded); true with `out` empty is NODATA.
  bool lookup(const Member& asker, std::string_view name, int family, std::vector<const uint8_t*>& out,
              size_t max) const;
  // PTR name ("name.network.") of an address a container sharing a network with `asker` has.
  const std::string* reverse(const Member& asker, int family, const uint8_t* addr) const;

 private:
  struct Holder {
    Member* m;
    uint32_t net;   // index in m->nets
    uint32_t slot;  // index in m->slots_
  };
  void index(Member& m);
  void unindex(Member& m);
  bool lookup_link(const Member& asker, std::string_view name, int family, std::vector<const uint8_t*>& out,
                   size_t max) const;
  const Member* by_name_or_id(const std::string& target) const;
  const std::string& key(std::string_view network, std::string_view name) const;
  uint64_t next_random() const;

  std::unordered_map<std::string, std::unique_ptr<Member>> members_;  // by id
  std::unordered_map<std::string, std::vector<Holder>> names_;      // "network/name"
  std::unordered_map<std::string, Holder> addrs_;                   // "network/" + address bytes
  std::unordered_map<std::string, Member*> by_name_;                // lowercase container name
  mutable std::string key_;                                         // reused: no allocation per query
  mutable std::vector<const std::vector<Holder>*> spans_;
  mutable uint64_t rng_;
};

std::string lowercase(std::string_view s);

}  // namespace ocinet::dns
