#include "netcore/container_side.h"

#include "base/error.h"
#include "netcore/drivers/driver.h"

namespace ocinet {

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
  if (network_driver(a.driver).has_firewall() && fw && fw->filters_ipv6_of_v4only_ports()) return;
  write_netns_sysctl("net/ipv6/conf/" + a.ifname + "/disable_ipv6", "1");  // absent without IPv6: skipped
}

}  // namespace ocinet
