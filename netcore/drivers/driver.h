// One entry point per kernel step, dispatching on the network's driver.
#pragma once
#include "netcore/drivers/bridge.h"
#include "netcore/drivers/vlan.h"

namespace ocinet {

inline void attach_network(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  if (net.driver == "bridge")
    attach_bridge(host, net, ns, a);
  else  // macvlan, ipvlan (overlay needs the host's VTEP: overlay::attach)
    attach_sublink(host, net, ns, a);
}

}  // namespace ocinet
