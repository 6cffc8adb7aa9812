// One entry point per kernel step, dispatching on the network's driver.
#pragma once
#include "netcore/drivers/bridge.h"
#include "netcore/drivers/vlan.h"

namespace ocinet {

inline void attach_network(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  if (net.driver == "bridge")
    attach_bridge(host, net, ns, a);
  else if (net.driver == "overlay")  // the caller made the bridge and VXLAN device (overlay.h)
    create_veth(host, a.host_ifname, link_index(host, a.bridge), a.mtu, a.ifname, ns.fd(), a.mac);
  else
    attach_sublink(host, net, ns, a);
}

}  // namespace ocinet
