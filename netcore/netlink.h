// In-process rtnetlink through libnl-3 (never `ip`). A NlSocket talks to the network namespace
// the calling thread was in when it was created; every call is one request and its ACK, and
// nothing dumps the whole link table on the hot path.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/validate.h"
#include "base/error.h"

struct nl_sock;
struct nl_msg;
struct nl_addr;
struct nlmsghdr;

namespace ocinet {

class NlBatch;

class NlSocket {
 public:
  NlSocket();  // connects NETLINK_ROUTE in the current netns
  ~NlSocket();
  NlSocket(const NlSocket&) = delete;
  NlSocket& operator=(const NlSocket&) = delete;
  nl_sock* get() const { return sk_; }

 private:
  nl_sock* sk_ = nullptr;
};

// ifindex of `name`, 0 when there is no such link.
int link_index(NlSocket& nl, const std::string& name);
// ifindex (0 when absent) and whether the link is administratively up: one lookup.
std::pair<int, bool> link_state(NlSocket& nl, const std::string& name);
// Creates the bridge with `gateway/prefix` on it, up, if it does not exist (a concurrent
// creator is fine). Gateway 0: a bridge without an address (overlay). `mcast_snooping` is
// applied when the bridge is made (an existing one is left as it is). Returns its ifindex.
int ensure_bridge(NlSocket& nl, const std::string& name, const Ipv4Net& subnet, uint32_t gateway, int mtu,
                  bool mcast_snooping = false);
// The two ends of a new veth pair: ifindex on the host, and of the peer in its netns.
struct VethEnds {
  int host = 0;
  int peer = 0;
};
// veth pair: `host_name` enslaved to `master_ifindex` and up in this netns, with no IPv6
// address generation (and hairpin mode when asked: with br_netfilter loaded, a container's
// request to its own published port is DNAT'd at bridge level and must leave through the port
// it came in by); the peer created directly in the netns `peer_ns_fd` as `peer_name`, with
// `peer_mac` (may be ""), still down. `first` may add requests that go in the same round trip,
// ahead of the veth's own.
VethEnds create_veth(NlSocket& nl, const std::string& host_name, int master_ifindex, int mtu, const std::string& peer_name,
                     int peer_ns_fd, const std::string& peer_mac, bool hairpin,
                     const std::function<void(NlBatch&)>& first = nullptr);
// What a failed create_veth means for `network`, whose bridge is `bridge`. A Linux bridge
// numbers its ports 1-1023 (BR_MAX_PORTS 1024, port 0 reserved) and refuses one more with
// EXFULL, "Exchange full", which tells the user nothing: that becomes the limit and the
// network, exit 1 as an exhausted subnet (the network cannot take another container, whatever
// the host's state). Any other error is returned as it is.
Error veth_error(const Error& e, const std::string& network, const std::string& bridge);
// Deletes a link by name. Returns false when it did not exist.
bool delete_link(NlSocket& nl, const std::string& name);
// IPv4 address with its broadcast; `name` (the link's) is for the error line. An existing
// address is fine.
void add_address(NlSocket& nl, int ifindex, uint32_t ip, int prefix, const std::string& name);
// IPv6 address "addr/prefix" without duplicate address detection (the address is ours by
// lease; DAD would only delay it by a second). An existing address is fine.
void add_address6(NlSocket& nl, int ifindex, const std::string& addr, int prefix);
void set_link_up(NlSocket& nl, int ifindex);

// Requests sent together in one sendmsg, acknowledged together: the container side of an
// attachment (links up, addresses, routes) is one round trip. The kernel handles them in order
// and goes on after a failed one; commit() throws the first failure, and the caller's undo
// removes what the others did along with the link. An existing address or route counts as done.
class NlBatch {
 public:
  explicit NlBatch(NlSocket& nl);
  ~NlBatch();
  NlBatch(const NlBatch&) = delete;
  NlBatch& operator=(const NlBatch&) = delete;

  // Links are named by ifindex, or by `name` when the ifindex is 0 (a link created earlier in
  // the same batch, whose ifindex is not known yet).
  void set_link_up(int ifindex, const std::string& name = "");
  // No IPv6 address generation on a link (IN6_ADDR_GEN_MODE_NONE): no link-local address, so
  // no DAD, router solicitation or MLD report from it.
  void no_ipv6_addresses(int ifindex, const std::string& name);
  void add_address(int ifindex, uint32_t ip, int prefix, const std::string& name);
  void add_address6(int ifindex, const std::string& addr, int prefix);
  void add_default_route(uint32_t gateway, int ifindex);
  void add_default_route6(const std::string& gateway, int ifindex);
  // A bridge port's options in one message: no IPv6 address generation (when `ipv6_off`),
  // hairpin mode (when `hairpin`). A link without IPv6 (no IPv6 in the kernel, or an MTU under
  // 1280) refuses the whole message with EAFNOSUPPORT, which counts as done here: see create_veth.
  // Sent to a link that is down, it changes nothing else; to one that is up, the kernel also
  // announces a state change, on which IPv6 walks its whole routing table (O(containers)).
  void bridge_port_options(int ifindex, const std::string& name, bool hairpin, bool ipv6_off = true);
  // A bridge's own option: IGMP/MLD snooping on or off (IFLA_BR_MCAST_SNOOPING).
  void bridge_mcast_snooping(int ifindex, const std::string& name, bool on);
  size_t size() const;  // requests added and not yet committed
  // Takes a message built by libnl (freed here); `tolerated` errnos count as success.
  void add(nl_msg* msg, std::string what, std::vector<int> tolerated = {});
  // Sends everything and reads every acknowledgement; other answers (echoes) go to on_reply.
  // Returns each request's errno in order: 0, or one it tolerates.
  std::vector<int> commit(const std::function<void(const nlmsghdr*)>& on_reply = nullptr);

 private:
  struct Request;
  NlSocket& nl_;
  std::string bytes_;
  std::vector<Request> requests_;
  uint32_t first_seq_ = 0;
};

// Destinations of the IPv4 routes of the main table (default route excluded), but for those
// through the link named `except` when there is one.
std::vector<Ipv4Net> ipv4_routes(NlSocket& nl, const std::string& except = "");
// Whether `ip` (IPv4) is an address of an interface of this netns (one address dump).
bool is_local_address(NlSocket& nl, uint32_t ip);
// The same for an IPv6 address (text, any spelling inet_pton takes).
bool is_local_address6(NlSocket& nl, const std::string& ip);
// A local route for ::1 through `ifindex` (a bridge) in the local table, for ports published on
// [::1]: the answers to the host's connections come back on the bridge, turned back to ::1, and
// a loopback destination is looked up strictly by the interface it came in on. Only conntrack
// can make such a packet: one from the wire addressed to ::1 is dropped before routing (RFC
// 4291 2.5.3). Already there is fine; it goes with the bridge.
void add_loopback_route6(NlSocket& nl, int ifindex, const std::string& name);
// Ports published on 127.0.0.1 are DNAT'd from the host's loopback to the bridge; the kernel
// routes such packets only where route_localnet is on: this bridge, never "all". It also lets
// the kernel accept packets from the bridge addressed to (or from) 127/8, so setup turns it on
// only for a container publishing on 127/8, once the firewall's guard against those is in
// place, and never without a firewall.
void enable_route_localnet(const std::string& bridge);
// Whether br_netfilter passes bridged IPv6 through this netns's netfilter hooks
// (net.bridge.bridge-nf-call-ip6tables=1; false when br_netfilter is not loaded). The hooks
// then turn a [::1] publication's answers back to ::1 before the IPv6 input check, which drops them.
bool bridged_ipv6_to_netfilter();

// Docker-style MAC derived from the IPv4 address: 02:42:a:b:c:d.
std::string mac_for_ip(uint32_t ip);
// Writes a /proc/sys value if it differs (reads first: writing is slower and may be denied;
// a read-only /proc/sys is fine when the value is already right). Absent paths are skipped.
void write_sysctl(const std::string& path, const std::string& value);
// The same for `rel` under /proc/sys ("net/ipv6/conf/eth0/disable_ipv6") of the calling
// thread's netns, looked up through a procfs instance private to this process: for sysctls of a
// container's netns, whose lookups through the host's /proc grow slower with every netns that
// made one (netlink.cpp says why). Falls back to /proc where the kernel has no fsopen.
void write_netns_sysctl(const std::string& rel, const std::string& value);

}  // namespace ocinet
