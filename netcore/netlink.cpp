#include "netcore/netlink.h"

#include <arpa/inet.h>

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>

#include "base/error.h"
#include "netcore/fault.h"
#include "netcore/fsutil.h"
#include "netcore/nl_util.h"

namespace ocinet {
namespace {

NlAddrPtr v4addr(uint32_t ip, int prefix) {
  uint32_t be = htonl(ip);
  nl_addr* a = nl_addr_build(AF_INET, &be, sizeof be);
  if (!a) fail_system("netlink: out of memory", ENOMEM);
  nl_addr_set_prefixlen(a, prefix);
  return NlAddrPtr(a);
}

NlAddrPtr parse_addr(const std::string& text) {
  nl_addr* raw = nullptr;
  if (int err = nl_addr_parse(text.c_str(), AF_INET6, &raw); err < 0) nl_fail("parsing " + text, err);
  return NlAddrPtr(raw);
}

struct MsgDel {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgDel>;

// An RTM_NEWLINK for an existing link, named by ifindex, or by `name` when the ifindex is 0 (a
// link made earlier in the same batch). `ok` turns false when the message cannot hold it.
MsgPtr link_request(int ifindex, const std::string& name, unsigned flags, bool& ok) {
  MsgPtr msg(nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST));
  if (!msg) fail_system("netlink: out of memory", ENOMEM);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = flags;
  ifi.ifi_change = flags;
  ok = nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) == 0;
  if (ifindex == 0) ok = ok && nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) == 0;
  return msg;
}

nl_msg* default_route_request(int family, nl_addr* gateway, int ifindex, const std::string& what) {
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), uint8_t(family));
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  if (family == AF_INET) rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  auto dst = family == AF_INET ? v4addr(0, 0) : parse_addr("::/0");
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();  // owned by route once added
  rtnl_route_nh_set_gateway(nh, gateway);
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);
  nl_msg* msg = nullptr;
  if (int err = rtnl_route_build_add_request(route.get(), NLM_F_CREATE, &msg); err < 0) nl_fail(what, err);
  return msg;
}

}  // namespace

// Every request goes through here, alone or with others in one sendmsg: libnl builds each
// message, the batch numbers them, sends them together and matches each acknowledgement to its
// request (libnl's nl_send_sync would take one round trip, and a recvmsg or two, per request).
struct NlBatch::Request {
  std::string what;           // for the error line
  std::vector<int> tolerated;  // errnos that mean "already so" or "nothing to do here"
};

NlBatch::NlBatch(NlSocket& nl) : nl_(nl) {}
NlBatch::~NlBatch() = default;

size_t NlBatch::size() const { return requests_.size(); }

void NlBatch::add(nl_msg* raw, std::string what, std::vector<int> tolerated) {
  MsgPtr msg(raw);
  nlmsghdr* h = nlmsg_hdr(msg.get());
  h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  // Numbers of our own, not libnl's counter: libnl checks the answers to its own requests
  // against the numbers it handed out, and every answer to a batch is read here.
  static uint32_t next_seq = 1;
  h->nlmsg_seq = next_seq++;
  if (requests_.empty()) first_seq_ = h->nlmsg_seq;
  bytes_.append(reinterpret_cast<const char*>(h), NLMSG_ALIGN(h->nlmsg_len));
  requests_.push_back({std::move(what), std::move(tolerated)});
}

std::vector<int> NlBatch::commit(const std::function<void(const nlmsghdr*)>& on_reply) {
  if (requests_.empty()) return {};
  const int fd = nl_socket_get_fd(nl_.get());
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, bytes_.data(), bytes_.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
      ssize_t(bytes_.size()))
    fail_system("netlink: sending " + requests_.front().what, errno);
  // rtnetlink handles a request while it is being sent, in order, going on after a failed one;
  // every acknowledgement is queued by the time sendto returns.
  std::vector<int> result(requests_.size(), -1);
  size_t pending = requests_.size();
  alignas(nlmsghdr) char buf[32768];
  while (pending) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_system("netlink: reading the answer to " + requests_.front().what, n < 0 ? errno : EPROTO);
    int len = int(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      const uint32_t at = h->nlmsg_seq - first_seq_;
      if (at >= requests_.size()) continue;  // not one of ours
      if (h->nlmsg_type != NLMSG_ERROR) {
        if (on_reply) on_reply(h);
        continue;
      }
      if (result[at] == -1) --pending;
      result[at] = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
  bytes_.clear();
  auto requests = std::move(requests_);
  requests_.clear();
  for (size_t i = 0; i < requests.size(); i++) {
    const int e = result[i];
    if (e == 0) continue;
    const auto& t = requests[i].tolerated;
    if (std::find(t.begin(), t.end(), e) == t.end()) fail_system(requests[i].what, e);
  }
  return result;
}

void NlBatch::set_link_up(int ifindex, const std::string& name) {
  fault_point("set link up");
  bool ok = false;
  MsgPtr msg = link_request(ifindex, name, IFF_UP, ok);
  const std::string what = "setting " + (name.empty() ? "link " + std::to_string(ifindex) : name) + " up";
  if (!ok) fail_system("netlink: " + what, ENOMEM);
  add(msg.release(), what);
}

void NlBatch::no_ipv6_addresses(int ifindex, const std::string& name) {
  // Over netlink, not /proc/sys/.../disable_ipv6: the first /proc/sys/net lookup in a network
  // namespace costs O(number of namespaces) in the kernel (1.5 ms with 1000 containers, vs
  // 60 us with 10; measured), which alone broke the flat setup curve.
  LinkPtr orig(rtnl_link_alloc()), change(rtnl_link_alloc());
  if (!orig || !change) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link_set_ifindex(orig.get(), ifindex);
  if (int err = rtnl_link_inet6_set_addr_gen_mode(change.get(), IN6_ADDR_GEN_MODE_NONE); err < 0)
    nl_fail("IPv6 address generation off on " + name, err);
  nl_msg* msg = nullptr;
  if (int err = rtnl_link_build_change_request(orig.get(), change.get(), 0, &msg); err < 0)
    nl_fail("IPv6 address generation off on " + name, err);
  // No IPv6 in this kernel (or on this link): nothing to silence.
  add(msg, "IPv6 address generation off on " + name, {EOPNOTSUPP, EAFNOSUPPORT});
}

void NlBatch::add_address(int ifindex, uint32_t ip, int prefix, const std::string& name) {
  fault_point("add address");
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  auto local = v4addr(ip, prefix);
  rtnl_addr_set_local(addr.get(), local.get());
  Ipv4Net net{ip & Ipv4Net{0, prefix}.mask(), prefix};
  NlAddrPtr brd;
  if (prefix < 31) {
    brd = v4addr(net.last(), 32);
    rtnl_addr_set_broadcast(addr.get(), brd.get());
  }
  nl_msg* msg = nullptr;
  const std::string what = "adding " + ipv4_str(ip) + "/" + std::to_string(prefix) + " to " + name;
  if (int err = rtnl_addr_build_add_request(addr.get(), 0, &msg); err < 0) nl_fail(what, err);
  add(msg, what, {EEXIST});
}

void NlBatch::add_address6(int ifindex, const std::string& ip, int prefix) {
  fault_point("add IPv6 address");
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  auto local = parse_addr(ip + "/" + std::to_string(prefix));
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  nl_msg* msg = nullptr;
  if (int err = rtnl_addr_build_add_request(addr.get(), 0, &msg); err < 0) nl_fail("adding address " + ip, err);
  add(msg, "adding address " + ip, {EEXIST});
}

void NlBatch::add_default_route(uint32_t gateway, int ifindex) {
  fault_point("add default route");
  const std::string what = "adding default route via " + ipv4_str(gateway);
  add(default_route_request(AF_INET, v4addr(gateway, 32).get(), ifindex, what), what, {EEXIST});
}

void NlBatch::add_default_route6(const std::string& gateway, int ifindex) {
  fault_point("add IPv6 default route");
  const std::string what = "adding IPv6 default route via " + gateway;
  add(default_route_request(AF_INET6, parse_addr(gateway).get(), ifindex, what), what, {EEXIST});
}

void NlBatch::bridge_port_options(int ifindex, const std::string& name, bool hairpin, bool ipv6_off) {
  // One RTM_NEWLINK for an existing link: bridge-port options go in IFLA_INFO_SLAVE_DATA (the
  // bridge applies them), the IPv6 switch in IFLA_AF_SPEC. libnl has no setter for the former.
  bool ok = false;
  MsgPtr msg = link_request(ifindex, name, 0, ok);
  if (hairpin) {
    nlattr* info = nla_nest_start(msg.get(), IFLA_LINKINFO);
    nlattr* slave = nla_nest_start(msg.get(), IFLA_INFO_SLAVE_DATA);
    ok = ok && info && slave && nla_put_u8(msg.get(), IFLA_BRPORT_MODE, 1) == 0;
    ok = ok && nla_nest_end(msg.get(), slave) == 0 && nla_nest_end(msg.get(), info) == 0;
  }
  if (ipv6_off) {
    nlattr* af = nla_nest_start(msg.get(), IFLA_AF_SPEC);
    nlattr* v6 = nla_nest_start(msg.get(), AF_INET6);
    ok = ok && af && v6 && nla_put_u8(msg.get(), IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE) == 0;
    ok = ok && nla_nest_end(msg.get(), v6) == 0 && nla_nest_end(msg.get(), af) == 0;
  }
  if (!ok) fail_system("netlink: building the port options of " + name, ENOMEM);
  const std::string what = std::string(hairpin ? "hairpin mode" : "") + (hairpin && ipv6_off ? " and " : "") +
                           (ipv6_off ? "IPv6 address generation off" : "") + " on " + name;
  add(msg.release(), what, ipv6_off ? std::vector<int>{EAFNOSUPPORT, EOPNOTSUPP} : std::vector<int>{});
}

void NlBatch::bridge_mcast_snooping(int ifindex, const std::string& name, bool on) {
  // libnl has no setters for a bridge's IFLA_INFO_DATA; the kernel finds the bridge's
  // changelink through IFLA_INFO_KIND.
  bool ok = false;
  MsgPtr msg = link_request(ifindex, name, 0, ok);
  nlattr* info = nla_nest_start(msg.get(), IFLA_LINKINFO);
  ok = ok && info && nla_put_string(msg.get(), IFLA_INFO_KIND, "bridge") == 0;
  nlattr* data = nla_nest_start(msg.get(), IFLA_INFO_DATA);
  ok = ok && data && nla_put_u8(msg.get(), IFLA_BR_MCAST_SNOOPING, on ? 1 : 0) == 0;
  ok = ok && nla_nest_end(msg.get(), data) == 0 && nla_nest_end(msg.get(), info) == 0;
  if (!ok) fail_system("netlink: building the options of bridge " + name, ENOMEM);
  add(msg.release(), std::string("multicast snooping ") + (on ? "on" : "off") + " on " + name);
}

NlSocket::NlSocket() {
  sk_ = nl_socket_alloc();
  if (!sk_) fail_system("netlink: allocating socket", ENOMEM);
  if (int err = nl_connect(sk_, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sk_);
    sk_ = nullptr;
    nl_fail("netlink: connecting", err);
  }
}

NlSocket::~NlSocket() {
  if (sk_) nl_socket_free(sk_);
}

std::pair<int, bool> link_state(NlSocket& nl, const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(nl.get(), 0, name.c_str(), &raw);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return {0, false};
  if (err < 0) nl_fail("looking up " + name, err);
  LinkPtr link(raw);
  return {rtnl_link_get_ifindex(link.get()), (rtnl_link_get_flags(link.get()) & IFF_UP) != 0};
}

int link_index(NlSocket& nl, const std::string& name) { return link_state(nl, name).first; }

int ensure_bridge(NlSocket& nl, const std::string& name, const Ipv4Net& subnet, uint32_t gateway, int mtu,
                  bool mcast_snooping) {
  // The bridge is brought up last, after its address: an up bridge is a finished one. One
  // that exists but is down was left half-made (a hook killed mid-way) and is finished here.
  auto [existing, up] = link_state(nl, name);
  if (existing && up) return existing;
  if (!existing) fault_point("create bridge");
  LinkPtr br(rtnl_link_bridge_alloc());
  if (!br) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link_set_name(br.get(), name.c_str());
  if (mtu > 0) rtnl_link_set_mtu(br.get(), unsigned(mtu));
  // A MAC of its own: otherwise the bridge takes the lowest MAC of its ports and changes it as
  // containers come and go, and containers' ARP entries for the gateway go stale (frames to
  // the old MAC get bridged to a port instead of routed).
  NlAddrPtr mac;
  if (!existing) {
    unsigned char bytes[6];
    if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) fail_system("getrandom", errno);
    bytes[0] = (bytes[0] & 0xfe) | 0x02;  // unicast, locally administered
    mac.reset(nl_addr_build(AF_LLC, bytes, sizeof bytes));
    if (mac) rtnl_link_set_addr(br.get(), mac.get());
  }
  int err = existing ? 0 : rtnl_link_add(nl.get(), br.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0 && err != -NLE_EXIST) nl_fail("creating bridge " + name, err);
  int idx = existing ? existing : link_index(nl, name);
  if (!idx) fail_system("creating bridge " + name + ": vanished after creation", 0);
  // Multicast snooping off unless the network asks for it. With it on, every port that joins
  // re-arms the snooping timers of every other port (br_port_state_selection enables multicast
  // on each forwarding port): the kernel's cost of one more container grew by ~0.5 ms per
  // thousand ports (measured, README Performance). Off, multicast is flooded within the
  // network, as on a switch without IGMP snooping (and as with snooping on but no querier,
  // once the memberships it learnt expire).
  {
    NlBatch b(nl);
    b.bridge_mcast_snooping(idx, name, mcast_snooping);
    b.commit();
  }
  // A spoofed router advertisement must not configure the host through the bridge.
  write_sysctl("/proc/sys/net/ipv6/conf/" + name + "/accept_ra", "0");
  if (gateway == 0) {  // a pure L2 bridge (overlay): no address, nothing routed through it
    set_link_up(nl, idx);
    return idx;
  }
  // route_localnet: only for a container publishing on 127/8, after the firewall's guard (setup).
  add_address(nl, idx, gateway, subnet.prefix, name);  // before up, not in one batch: see above
  set_link_up(nl, idx);
  return idx;
}

namespace {

// The veth pair create_veth asks for: `host_name` enslaved to `master_ifindex`, its peer in the
// netns `peer_ns_fd`, both with the MTU (if any) and one queue each way, the peer with its MAC.
LinkPtr veth_request(const std::string& host_name, int master_ifindex, int mtu, const std::string& peer_name,
                     int peer_ns_fd, const std::string& peer_mac) {
  LinkPtr veth(rtnl_link_veth_alloc());
  if (!veth) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link* peer = rtnl_link_veth_get_peer(veth.get());  // owned by veth
  rtnl_link_set_name(veth.get(), host_name.c_str());
  rtnl_link_set_master(veth.get(), master_ifindex);
  rtnl_link_set_name(peer, peer_name.c_str());
  rtnl_link_set_ns_fd(peer, peer_ns_fd);
  // No IFF_UP on the peer here: the kernel applies it before the two ends are paired and
  // veth_open then fails with ENOTCONN. The container side is brought up from inside.
  if (mtu > 0) {
    rtnl_link_set_mtu(veth.get(), unsigned(mtu));
    rtnl_link_set_mtu(peer, unsigned(mtu));
  }
  // One queue each way on both ends, asked for at creation. Without the attributes the kernel
  // makes one queue per possible CPU and then cuts the active count down to 1 on each
  // registered end (veth_init_queues), and each cut waits for an expedited RCU grace period
  // (synchronize_net: IPIs to every CPU, costly in a VM). The active count is 1 either way.
  // Measured (README Performance): 300 enslaved pairs with `ip -batch` 0.24-0.39 s -> 0.17-0.20 s;
  // no difference in a whole setup on the 2-CPU reference VM; hosts with many CPUs gain most.
  // The cost: `ethtool -L` cannot raise a container's veth to more channels later.
  for (rtnl_link* end : {veth.get(), peer}) {
    rtnl_link_set_num_tx_queues(end, 1);
    rtnl_link_set_num_rx_queues(end, 1);
  }
  NlAddrPtr mac;
  if (!peer_mac.empty()) {
    nl_addr* raw = nullptr;
    if (int err = nl_addr_parse(peer_mac.c_str(), AF_LLC, &raw); err < 0) nl_fail("parsing MAC " + peer_mac, err);
    mac.reset(raw);
    rtnl_link_set_addr(peer, mac.get());
  }
  rtnl_link_put(peer);  // rtnl_link_veth_get_peer took a reference
  return veth;
}

}  // namespace

VethEnds create_veth(NlSocket& nl, const std::string& host_name, int master_ifindex, int mtu, const std::string& peer_name,
                     int peer_ns_fd, const std::string& peer_mac, bool hairpin,
                     const std::function<void(NlBatch&)>& first) {
  fault_point("create veth");
  LinkPtr veth = veth_request(host_name, master_ifindex, mtu, peer_name, peer_ns_fd, peer_mac);
  // One round trip: the pair is created enslaved and down, its bridge-port options are set, and
  // the host end is brought up, in that order. The last two name the link, whose ifindex is not
  // known before the kernel's answer.
  // - NLM_F_ECHO: a kernel that honours it for RTM_NEWLINK (recent ones do) sends the new link
  //   back, with its ifindex and the peer's (IFLA_LINK): no lookup on either side afterwards.
  // - The host end is a bridge port: frames are bridged before any IPv6 stack sees them, so it
  //   needs no IPv6 address of its own. Left on, each port's link-local address, DAD, router
  //   solicitations and MLD reports are flooded to every other port: with 1000 containers on a
  //   bridge that chatter made one more setup ~30x slower (measured; README, Performance).
  //   Set before the link has a carrier (its peer is down), so no address was ever made.
  // - The options go to the link while it is down: on an up link the kernel would announce a
  //   state change, on which IPv6 walks its whole routing table, one route per container.
  // If the creation fails (a leftover link of this name), the kernel still applies the other two
  // to that link, which can only be a port ocinet made for this container; the error reported
  // is the creation's.
  nl_msg* msg = nullptr;
  if (int err = rtnl_link_build_add_request(veth.get(), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, &msg); err < 0)
    nl_fail("creating veth " + host_name, err);
  VethEnds ends;
  NlBatch batch(nl);
  if (first) first(batch);
  const size_t options_at = batch.size() + 1;
  batch.add(msg, "creating veth " + host_name);
  batch.bridge_port_options(0, host_name, hairpin);
  batch.set_link_up(0, host_name);
  const auto result = batch.commit([&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
    nlattr* tb[IFLA_MAX + 1];
    if (nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return;
    ends.host = static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_index;
    if (tb[IFLA_LINK]) ends.peer = int(nla_get_u32(tb[IFLA_LINK]));
  });
  if (result[options_at] != 0 && hairpin) {  // no IPv6 on this link: nothing to silence, hairpin alone
    NlBatch only(nl);
    only.bridge_port_options(0, host_name, hairpin, /*ipv6_off=*/false);
    only.commit();
  }
  if (!ends.host || !ends.peer) {  // a kernel that does not echo: one lookup gives both
    rtnl_link* raw = nullptr;
    if (int err = rtnl_link_get_kernel(nl.get(), 0, host_name.c_str(), &raw); err < 0)
      nl_fail("looking up the new veth " + host_name, err);
    LinkPtr link(raw);
    ends.host = rtnl_link_get_ifindex(link.get());
    ends.peer = int(rtnl_link_get_link(link.get()));
  }
  return ends;
}

Error veth_error(const Error& e, const std::string& network, const std::string& bridge) {
  if (e.sys_errno() != EXFULL) return e;
  return Error(ErrorKind::Invalid, "network \"" + network + "\": bridge " + bridge +
                                       " is full (a Linux bridge holds at most 1023 ports, one per container); "
                                       "start this container on another network");
}

bool delete_link(NlSocket& nl, const std::string& name) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(nl.get(), link.get());
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return false;
  if (err < 0) nl_fail("deleting " + name, err);
  return true;
}

void add_address(NlSocket& nl, int ifindex, uint32_t ip, int prefix, const std::string& name) {
  NlBatch b(nl);
  b.add_address(ifindex, ip, prefix, name);
  b.commit();
}

void add_address6(NlSocket& nl, int ifindex, const std::string& ip, int prefix) {
  NlBatch b(nl);
  b.add_address6(ifindex, ip, prefix);
  b.commit();
}

void set_link_up(NlSocket& nl, int ifindex) {
  NlBatch b(nl);
  b.set_link_up(ifindex);
  b.commit();
}

std::vector<Ipv4Net> ipv4_routes(NlSocket& nl, const std::string& except) {
  const int skip = except.empty() ? 0 : link_index(nl, except);
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(nl.get(), AF_INET, 0, &raw); err < 0) nl_fail("dumping routes", err);
  CachePtr cache(raw);
  std::vector<Ipv4Net> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN) continue;
    if (skip && rtnl_route_get_nnexthops(r) == 1 && rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)) == skip) continue;
    nl_addr* dst = rtnl_route_get_dst(r);
    if (!dst || nl_addr_get_prefixlen(dst) == 0 || nl_addr_get_len(dst) != 4) continue;
    uint32_t be;
    std::memcpy(&be, nl_addr_get_binary_addr(dst), 4);
    int prefix = int(nl_addr_get_prefixlen(dst));
    Ipv4Net n{0, prefix};
    n.addr = ntohl(be) & n.mask();
    out.push_back(n);
  }
  return out;
}

static bool has_local_address(NlSocket& nl, int family, const void* bytes, unsigned len) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(nl.get(), &raw); err < 0) nl_fail("dumping addresses", err);
  CachePtr cache(raw);
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    nl_addr* local = rtnl_addr_get_local(reinterpret_cast<rtnl_addr*>(o));
    if (local && nl_addr_get_family(local) == family && nl_addr_get_len(local) == len &&
        std::memcmp(nl_addr_get_binary_addr(local), bytes, len) == 0)
      return true;
  }
  return false;
}

bool is_local_address(NlSocket& nl, uint32_t ip) {
  uint32_t be = htonl(ip);
  return has_local_address(nl, AF_INET, &be, 4);
}

bool is_local_address6(NlSocket& nl, const std::string& ip) {
  in6_addr a{};
  if (inet_pton(AF_INET6, ip.c_str(), &a) != 1) return false;
  return has_local_address(nl, AF_INET6, &a, 16);
}

std::string mac_for_ip(uint32_t ip) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}

namespace {

// Reads `rel` under `dir` and writes `value` unless it is there already, with one open for both.
// `shown` is the path for messages.
void write_sysctl_at(int dir, const std::string& rel, const std::string& shown, const std::string& value) {
  int fd = ::openat(dir, rel.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return;  // e.g. IPv6 disabled: nothing to harden
    // A read-only /proc/sys: fine when the value is already what is asked.
    if (err == EACCES || err == EROFS || err == EPERM) fd = ::openat(dir, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) fail_system("writing " + shown, err);
  }
  UniqueFd guard(fd);
  char cur[64];
  ssize_t n = ::pread(fd, cur, sizeof cur - 1, 0);
  if (n < 0) fail_system("reading " + shown, errno);
  std::string_view now(cur, size_t(n));
  if (now.substr(0, now.find('\n')) == value) return;  // writing is slower and may be denied
  if (::pwrite(fd, value.data(), value.size(), 0) != ssize_t(value.size())) fail_system("writing " + shown, errno);
}

// A procfs instance of this process's own (fsopen/fsmount: a detached mount nobody else sees,
// gone when the hook exits), or -1 where the kernel cannot make one. Why: the kernel's dentry
// cache keeps each procfs instance's /proc/sys/net entries of every netns under one parent, so
// the first lookup in a netns compares (under a lock) against every other netns that ever looked
// through the same instance. Through the host's /proc, a container's first sysctl write cost
// ~1 ms with 1000 such namespaces (0.04 ms with none), every later lookup of the host's own
// entries slowed down too, for every tool on the host. Through a fresh instance it is ~0.13 ms
// at any count (measured on the reference VM).
int private_procfs() {
  static int fd = [] {
    int ctx = ::fsopen("proc", FSOPEN_CLOEXEC);
    if (ctx < 0) return -1;  // ENOSYS before Linux 5.2, or refused by a seccomp policy
    UniqueFd guard(ctx);
    if (::fsconfig(ctx, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return -1;
    return ::fsmount(ctx, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  }();
  return fd;
}

}  // namespace

void write_sysctl(const std::string& path, const std::string& value) { write_sysctl_at(AT_FDCWD, path, path, value); }

void enable_route_localnet(const std::string& bridge) {
  write_sysctl("/proc/sys/net/ipv4/conf/" + bridge + "/route_localnet", "1");
}

bool bridged_ipv6_to_netfilter() {
  const int fd = ::open("/proc/sys/net/bridge/bridge-nf-call-ip6tables", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no br_netfilter
  char c = '0';
  const bool on = ::read(fd, &c, 1) == 1 && c != '0';
  ::close(fd);
  return on;
}

void add_loopback_route6(NlSocket& nl, int ifindex, const std::string& name) {
  fault_point("add ::1 route");
  const std::string what = "adding a local route for ::1 through " + name;
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET6);
  rtnl_route_set_table(route.get(), RT_TABLE_LOCAL);
  rtnl_route_set_type(route.get(), RTN_LOCAL);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_scope(route.get(), RT_SCOPE_HOST);
  auto dst = parse_addr("::1/128");
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();  // owned by route once added
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);
  nl_msg* msg = nullptr;
  if (int err = rtnl_route_build_add_request(route.get(), NLM_F_CREATE, &msg); err < 0) nl_fail(what, err);
  NlBatch b(nl);
  b.add(msg, what, {EEXIST});
  b.commit();
}

void write_netns_sysctl(const std::string& rel, const std::string& value) {
  int proc = private_procfs();
  if (proc < 0)
    write_sysctl("/proc/sys/" + rel, value);
  else
    write_sysctl_at(proc, "sys/" + rel, "/proc/sys/" + rel, value);
}

}  // namespace ocinet
