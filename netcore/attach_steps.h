// The apply steps for one attachment: setup runs them for each of its networks, `network
// connect` for the one it adds. Each step's undo is the driver's (undo.h).
#pragma once
#include <vector>

#include "netcore/drivers/driver.h"
#include "netcore/firewall/firewall.h"
#include "netcore/setup_plan.h"

namespace ocinet {

// Takes attachment i's addresses; the caller holds the allocation lock.
void take_address(DriverContext& ctx, const ResolvedNetwork& net, AddressRequest want, EndpointRecord& rec, size_t i);
// The container's interface on the network, with the host side it needs.
Attached attach_link(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a);
// Inside the container's netns (`inner` is a socket there): addresses, routes, and IPv6 off
// where the network has none.
void configure_attachment(NlSocket& inner, const Attachment& a, const Attached& made, bool lo_up,
                          const FirewallBackend* fw);
// The network's rules and the attachment's (its published ports), for drivers with firewall
// rules (the caller has turned on IPv4 forwarding: enable_forwarding). When ocinet's tables were not there (the first endpoint ever, or a flush that took the
// other endpoints' rules too) theirs are written again, once per run: `restored` says whether
// that happened already and is updated.
// The host forwards for bridged containers; written once per setup or connect.
inline void enable_forwarding() { write_sysctl("/proc/sys/net/ipv4/ip_forward", "1"); }
void install_rules(DriverContext& ctx, FirewallBackend& fw, const NetworkDef& net, const EndpointRecord& rec, size_t i,
                   bool& restored);

}  // namespace ocinet
