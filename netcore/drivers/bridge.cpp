#include "netcore/drivers/bridge.h"

#include <cstdio>

#include "base/error.h"

namespace ocinet {

std::string host_veth_name(const std::string& id, size_t index) {
  // FNV-1a 64: stable, no dependency, and 48 bits of it make collisions negligible.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char buf[16];
  std::snprintf(buf, sizeof buf, "oc%012llx%zu", (unsigned long long)(h & 0xffffffffffffull), index % 10);
  return buf;
}

void plan_bridge_attachment(const NetworkDef& net, const std::string& id, size_t index, int mtu_override,
                            const std::string& static_mac, Attachment& a) {
  a.network = net.name;
  a.bridge = net.bridge;
  a.host_ifname = host_veth_name(id, index);
  a.ifname = "eth" + std::to_string(index);
  a.prefix = net.subnet.prefix;
  a.gateway = ipv4_str(net.gateway);
  a.mtu = mtu_override > 0 ? mtu_override : net.mtu;
  a.mac = static_mac;
  if (net.subnet6) {
    a.prefix6 = net.subnet6->prefix;
    a.gateway6 = net.gateway6;
  }
}

int attach_bridge(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  int br = ensure_bridge(host, net.bridge, net.subnet, net.gateway, net.mtu, mcast_snooping(net));
  if (net.subnet6) write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
  // Hairpin, as Docker: with br_netfilter loaded (Kubernetes hosts load it), a request to the
  // container's own published port is DNAT'd back out of the port it arrived on.
  // The gateway addresses go along in the same round trip (already there: EEXIST, tolerated):
  // a bridge that outlived ocinet's state (a reinstall, a wiped /var/lib/ocinet) may carry
  // another network's address, and its containers would have no gateway.
  try {
    return create_veth(host, a.host_ifname, br, a.mtu, a.ifname, ns.fd(), a.mac, /*hairpin=*/true,
                       [&](NlBatch& b) {
                         b.add_address(br, net.gateway, net.subnet.prefix, net.bridge);
                         if (net.subnet6) b.add_address6(br, net.gateway6, net.subnet6->prefix);
                       })
        .peer;
  } catch (const Error& e) {
    throw veth_error(e, net.name, net.bridge);
  }
}

void configure_container_side(NlSocket& inner, const Attachment& a, int ifindex, bool default_route, bool lo_up) {
  int idx = ifindex ? ifindex : link_index(inner, a.ifname);
  if (!idx) fail_system(a.ifname + " did not appear in the container's network namespace", 0);
  NlBatch b(inner);  // one round trip for all of it
  if (lo_up) b.set_link_up(1);  // lo is ifindex 1 in every netns
  b.add_address(idx, *parse_ipv4(a.ip), a.prefix, a.ifname);
  if (!a.ip6.empty())
    b.add_address6(idx, a.ip6, a.prefix6);
  else  // no IPv6 address on an interface whose network has none (no link-local chatter)
    b.no_ipv6_addresses(idx, a.ifname);
  b.set_link_up(idx);
  if (default_route) b.add_default_route(*parse_ipv4(a.gateway), idx);
  if (default_route && !a.ip6.empty()) b.add_default_route6(a.gateway6, idx);
  b.commit();
}

void add_default_routes(NlSocket& inner, const Attachment& a) {
  int idx = link_index(inner, a.ifname);
  if (!idx) fail_system(a.ifname + " is not in the container's network namespace", 0);
  NlBatch b(inner);
  b.add_default_route(*parse_ipv4(a.gateway), idx);
  if (!a.ip6.empty()) b.add_default_route6(a.gateway6, idx);
  b.commit();
}

void ipv6_off_unless_filtered(const Attachment& a, const FirewallBackend* fw) {
  if (!a.ip6.empty()) return;
  if (has_nat(a.driver) && fw && fw->filters_ipv6_of_v4only_ports()) return;
  write_netns_sysctl("net/ipv6/conf/" + a.ifname + "/disable_ipv6", "1");  // absent without IPv6: skipped
}

NetworkRules network_rules(const NetworkDef& net) {
  NetworkRules r{net.name, net.bridge, net.subnet, net.internal};
  if (net.subnet6) r.subnet6 = *net.subnet6;
  return r;
}

EndpointRules endpoint_rules(const std::string& tag, const Attachment& a, std::vector<PortMapping> ports) {
  return {tag, a.ip, a.bridge, PublishedPorts(ports), a.ip6, has_nat(a.driver) ? a.host_ifname : ""};
}

void detach_bridge(NlSocket& host, const Attachment& a) { delete_link(host, a.host_ifname); }

}  // namespace ocinet
