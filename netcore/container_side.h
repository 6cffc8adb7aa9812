// Inside the container's netns, once a driver made its interface: the same for every driver.
#pragma once
#include "netcore/endpoint_record.h"
#include "netcore/firewall/firewall.h"
#include "netcore/netlink.h"

namespace ocinet {

// Addresses on the interface (`ifindex`, or looked up by name when 0), up, default route (when
// `default_route`), and lo up (when `lo_up`), in one round trip. `inner` is in the container netns.
void configure_container_side(NlSocket& inner, const Attachment& a, int ifindex, bool default_route, bool lo_up = false);
// The default route(s) through `a`'s gateway(s), for an attachment that takes over the default
// route (the one that held it was disconnected).
void add_default_routes(NlSocket& inner, const Attachment& a);
// IPv6 off on the attachment's interface when its network has no IPv6 (Docker's behaviour:
// then no router advertisement from a neighbour configures it), unless the firewall already
// drops IPv6 from such containers on the bridge (FirewallBackend::filters_ipv6_of_v4only_ports),
// which spares the /proc/sys write: the first one in a netns costs O(number of namespaces).
// Called from inside the container's netns.
void ipv6_off_unless_filtered(const Attachment& a, const FirewallBackend* fw);

}  // namespace ocinet
