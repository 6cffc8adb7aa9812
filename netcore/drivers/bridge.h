// The bridge driver: the network's Linux bridge on the host, a veth pair per attachment with
// the container end created directly in the container netns; NAT and published ports in the
// host's firewall.
#pragma once
#include <string>
#include <vector>

#include "netcore/endpoint_record.h"
#include "netcore/firewall/firewall.h"
#include "netcore/network_store.h"

namespace ocinet {

// Host-side name of the veth for attachment `index` of container `id`: derived from the id so
// teardown finds it even without a record. "oc" + 12 hex + index digit = 15 chars (IFNAMSIZ-1).
std::string host_veth_name(const std::string& id, size_t index);
// The firewall's view of a bridge network: its bridge, subnets and whether it is internal.
NetworkRules network_rules(const NetworkDef& net);
// The firewall's view of an attachment: its address(es) and, on a bridge, its port.
EndpointRules endpoint_rules(const std::string& tag, const Attachment& a, std::vector<PortMapping> ports);

}  // namespace ocinet
