#include "netcore/netlink.h"

#include <arpa/inet.h>

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "netcore/error.h"
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

}  // namespace

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

int ensure_bridge(NlSocket& nl, const std::string& name, const Ipv4Net& subnet, uint32_t gateway, int mtu) {
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
  // A spoofed router advertisement must not configure the host through the bridge.
  write_sysctl("/proc/sys/net/ipv6/conf/" + name + "/accept_ra", "0");
  if (gateway == 0) {  // a pure L2 bridge (overlay): no address, nothing routed through it
    set_link_up(nl, idx);
    return idx;
  }
  // Ports published on 127.0.0.1 are DNAT'd from the host's loopback to the bridge; the kernel
  // routes such packets only where route_localnet is on: this bridge, never "all".
  write_sysctl("/proc/sys/net/ipv4/conf/" + name + "/route_localnet", "1");
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), idx);
  auto local = v4addr(gateway, subnet.prefix);
  rtnl_addr_set_local(addr.get(), local.get());
  auto brd = v4addr(subnet.last(), 32);
  rtnl_addr_set_broadcast(addr.get(), brd.get());
  err = rtnl_addr_add(nl.get(), addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) nl_fail("adding " + ipv4_str(gateway) + " to " + name, err);
  set_link_up(nl, idx);
  return idx;
}

void create_veth(NlSocket& nl, const std::string& host_name, int master_ifindex, int mtu, const std::string& peer_name,
                 int peer_ns_fd, const std::string& peer_mac) {
  fault_point("create veth");
  LinkPtr veth(rtnl_link_veth_alloc());
  if (!veth) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link* peer = rtnl_link_veth_get_peer(veth.get());  // owned by veth
  rtnl_link_set_name(veth.get(), host_name.c_str());
  rtnl_link_set_master(veth.get(), master_ifindex);
  rtnl_link_set_flags(veth.get(), IFF_UP);
  rtnl_link_set_name(peer, peer_name.c_str());
  rtnl_link_set_ns_fd(peer, peer_ns_fd);
  // No IFF_UP on the peer here: the kernel applies it before the two ends are paired and
  // veth_open then fails with ENOTCONN. The container side is brought up from inside.
  if (mtu > 0) {
    rtnl_link_set_mtu(veth.get(), unsigned(mtu));
    rtnl_link_set_mtu(peer, unsigned(mtu));
  }
  NlAddrPtr mac;
  if (!peer_mac.empty()) {
    nl_addr* raw = nullptr;
    if (int err = nl_addr_parse(peer_mac.c_str(), AF_LLC, &raw); err < 0) nl_fail("parsing MAC " + peer_mac, err);
    mac.reset(raw);
    rtnl_link_set_addr(peer, mac.get());
  }
  rtnl_link_put(peer);  // rtnl_link_veth_get_peer took a reference
  int err = rtnl_link_add(nl.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) nl_fail("creating veth " + host_name, err);
  // The host end is a bridge port: frames are bridged before any IPv6 stack sees them, so it
  // needs no IPv6 address of its own. Left on, each port's link-local address, DAD, router
  // solicitations and MLD reports are flooded to every other port: with 1000 containers on a
  // bridge that chatter made one more setup ~30x slower (measured; README, Performance).
  // Done before the peer is up: the port has no carrier yet, so no address was made.
  no_ipv6_addresses(nl, 0, host_name);
}

void no_ipv6_addresses(NlSocket& nl, int ifindex, const std::string& name) {
  // Over netlink, not /proc/sys/.../disable_ipv6: the first /proc/sys/net lookup in a network
  // namespace costs O(number of namespaces) in the kernel (1.5 ms with 1000 containers, vs
  // 60 us with 10; measured), which alone broke the flat setup curve.
  LinkPtr change(rtnl_link_alloc());
  if (!change) fail_system("netlink: out of memory", ENOMEM);
  if (ifindex)
    rtnl_link_set_ifindex(change.get(), ifindex);
  else
    rtnl_link_set_name(change.get(), name.c_str());
  if (int err = rtnl_link_inet6_set_addr_gen_mode(change.get(), IN6_ADDR_GEN_MODE_NONE); err < 0)
    nl_fail("IPv6 address generation off on " + name, err);
  int err = rtnl_link_change(nl.get(), change.get(), change.get(), 0);
  if (err == -NLE_OPNOTSUPP || err == -NLE_AF_NOSUPPORT) return;  // no IPv6 in this kernel: nothing to silence
  if (err < 0) nl_fail("IPv6 address generation off on " + name, err);
}

void set_hairpin(NlSocket& nl, int port_ifindex) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_ifindex(link.get(), port_ifindex);
  rtnl_link_set_family(link.get(), AF_BRIDGE);
  if (int err = rtnl_link_bridge_set_flags(link.get(), RTNL_BRIDGE_HAIRPIN_MODE); err < 0) nl_fail("hairpin flag", err);
  int err = rtnl_link_change(nl.get(), link.get(), link.get(), 0);
  if (err < 0) nl_fail("setting hairpin mode on bridge port " + std::to_string(port_ifindex), err);
}

bool delete_link(NlSocket& nl, const std::string& name) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(nl.get(), link.get());
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return false;
  if (err < 0) nl_fail("deleting " + name, err);
  return true;
}

void add_address(NlSocket& nl, int ifindex, uint32_t ip, int prefix) {
  fault_point("add address");
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  auto local = v4addr(ip, prefix);
  rtnl_addr_set_local(addr.get(), local.get());
  Ipv4Net net{ip & Ipv4Net{0, prefix}.mask(), prefix};
  if (prefix < 31) {
    auto brd = v4addr(net.last(), 32);
    rtnl_addr_set_broadcast(addr.get(), brd.get());
  }
  int err = rtnl_addr_add(nl.get(), addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) nl_fail("adding address " + ipv4_str(ip), err);
}

static NlAddrPtr parse_addr(const std::string& text) {
  nl_addr* raw = nullptr;
  if (int err = nl_addr_parse(text.c_str(), AF_INET6, &raw); err < 0) nl_fail("parsing " + text, err);
  return NlAddrPtr(raw);
}

void add_address6(NlSocket& nl, int ifindex, const std::string& ip, int prefix) {
  fault_point("add IPv6 address");
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  auto local = parse_addr(ip + "/" + std::to_string(prefix));
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  int err = rtnl_addr_add(nl.get(), addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) nl_fail("adding address " + ip, err);
}

void add_default_route6(NlSocket& nl, const std::string& gateway, int ifindex) {
  fault_point("add IPv6 default route");
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET6);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  auto dst = parse_addr("::/0");
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  auto gw = parse_addr(gateway);
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);
  int err = rtnl_route_add(nl.get(), route.get(), NLM_F_CREATE);
  if (err < 0 && err != -NLE_EXIST) nl_fail("adding IPv6 default route via " + gateway, err);
}

void set_link_up(NlSocket& nl, int ifindex) {
  fault_point("set link up");
  LinkPtr orig(rtnl_link_alloc()), change(rtnl_link_alloc());
  rtnl_link_set_ifindex(orig.get(), ifindex);
  rtnl_link_set_flags(change.get(), IFF_UP);
  int err = rtnl_link_change(nl.get(), orig.get(), change.get(), 0);
  if (err < 0) nl_fail("setting link " + std::to_string(ifindex) + " up", err);
}

void add_default_route(NlSocket& nl, uint32_t gateway, int ifindex) {
  fault_point("add default route");
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  auto dst = v4addr(0, 0);
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();  // owned by route once added
  auto gw = v4addr(gateway, 32);
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);
  int err = rtnl_route_add(nl.get(), route.get(), NLM_F_CREATE);
  if (err < 0 && err != -NLE_EXIST) nl_fail("adding default route via " + ipv4_str(gateway), err);
}

std::vector<Ipv4Net> ipv4_routes(NlSocket& nl) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(nl.get(), AF_INET, 0, &raw); err < 0) nl_fail("dumping routes", err);
  CachePtr cache(raw);
  std::vector<Ipv4Net> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN) continue;
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

void write_sysctl(const std::string& path, const std::string& value) {
  auto cur = read_file(path);
  if (!cur) return;  // e.g. IPv6 disabled: nothing to harden
  if (cur->substr(0, cur->find('\n')) == value) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail_system("writing " + path, errno);
  UniqueFd guard(fd);
  if (::write(fd, value.data(), value.size()) != ssize_t(value.size())) fail_system("writing " + path, errno);
}

}  // namespace ocinet
