// The bridge driver: the network's Linux bridge on the host, a veth pair per attachment with
// the container end created directly in the container netns.
#pragma once
#include "netcore/endpoint_record.h"
#include "netcore/firewall/firewall.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"

namespace ocinet {

// Host-side name of the veth for attachment `index` of container `id`: derived from the id so
// teardown finds it even without a record. "oc" + 12 hex + index digit = 15 chars (IFNAMSIZ-1).
std::string host_veth_name(const std::string& id, size_t index);

// Fills the attachment's derived fields (bridge, names, MAC, MTU) for `net`; no kernel change.
void plan_bridge_attachment(const NetworkDef& net, const std::string& id, size_t index, int mtu_override,
                            const std::string& static_mac, Attachment& a);
// Bridge up (created on first use), veth created and enslaved. `a.ip` must be set. Returns
// the container end's ifindex in its netns.
int attach_bridge(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a);
// Inside the container netns: addresses on the interface (`ifindex`, or looked up by name when
// 0), up, default route (when `default_route`), and lo up (when `lo_up`), in one round trip.
void configure_container_side(NlSocket& inner, const Attachment& a, int ifindex, bool default_route, bool lo_up = false);
// The default route(s) through `a`'s gateway(s), for an attachment that takes over the default
// route (the one that held it was disconnected). `inner` is a socket in the container netns.
void add_default_routes(NlSocket& inner, const Attachment& a);
// Inside the container's netns: IPv6 off on the attachment's interface when its network has no
// IPv6 (Docker's behaviour: then no router advertisement from a neighbour configures it),
// unless the firewall already drops IPv6 from such containers on the bridge
// (FirewallBackend::filters_ipv6_of_v4only_ports), which spares the /proc/sys write: the first
// one in a netns costs O(number of namespaces) in the kernel.
void ipv6_off_unless_filtered(const Attachment& a, const FirewallBackend* fw);
// The firewall's view of a bridge network: its bridge, subnets and whether it is internal.
NetworkRules network_rules(const NetworkDef& net);
// The firewall's view of an attachment: its address(es) and, on a bridge, its port.
EndpointRules endpoint_rules(const std::string& tag, const Attachment& a, std::vector<PortMapping> ports);
// Removes the host end (the peer goes with it). Missing link = success.
void detach_bridge(NlSocket& host, const Attachment& a);

}  // namespace ocinet
