// macvlan and ipvlan: a sub-interface of the network's parent link, created directly in the
// container netns (IFLA_NET_NS_FD, so its name never meets the host's) with an address from the
// network's IPAM and a default route via the network's gateway. No bridge, no NAT: traffic
// leaves through the parent as if the container sat on the parent's LAN.
#pragma once
#include <string>

#include "netcore/endpoint_record.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"

struct nl_msg;

namespace ocinet {

// The RTM_NEWLINK request for the sub-interface (exposed for unit tests: the message is
// checked without root or a kernel that has the driver). Caller frees it with nlmsg_free.
nl_msg* build_sublink_request(Driver driver, int parent_ifindex, const std::string& mode,
                              const std::string& name, int ns_fd, int mtu, const std::string& mac);
// Creates the sub-interface `a.ifname` of the network's parent in `ns`. System error (exit 2)
// naming the cause when the parent is missing or the kernel lacks the driver.
void attach_sublink(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a);
// Deletes it from inside the netns, when that very netns (identity "dev:ino") still exists;
// otherwise it went with it.
void detach_sublink(const std::string& netns_path, const std::string& netns_id, const Attachment& a);

}  // namespace ocinet
