// One entry point per kernel step, dispatching on the network's driver.
#pragma once
#include "netcore/drivers/bridge.h"
#include "netcore/drivers/vlan.h"

namespace ocinet {

// Returns the container-side ifindex when the driver knows it, else 0 (looked up by name).
inline int attach_network(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  if (net.driver == Driver::bridge) return attach_bridge(host, net, ns, a);
  attach_sublink(host, net, ns, a);  // macvlan, ipvlan (overlay needs the host's VTEP: overlay::attach)
  return 0;
}

}  // namespace ocinet
