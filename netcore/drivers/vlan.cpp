#include "netcore/drivers/vlan.h"

#include "netcore/drivers/driver.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/ipvlan.h>
#include <netlink/route/link/macvlan.h>

#include <memory>

#include "base/error.h"
#include "netcore/fault.h"

namespace ocinet {
namespace {

struct LinkDel {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDel>;

LinkPtr make_sublink(Driver driver, int parent_ifindex, const std::string& mode, const std::string& name,
                     int ns_fd, int mtu, const std::string& mac) {
  LinkPtr link;
  if (driver == Driver::macvlan) {
    link.reset(rtnl_link_macvlan_alloc());
    int m = rtnl_link_macvlan_str2mode(mode.empty() ? "bridge" : mode.c_str());
    if (m < 0) fail_invalid("macvlan_mode " + mode + " is not a macvlan mode");
    rtnl_link_macvlan_set_mode(link.get(), uint32_t(m));
  } else if (driver == Driver::ipvlan) {
    link.reset(rtnl_link_ipvlan_alloc());
    // libnl 3.7's rtnl_link_ipvlan_str2mode knows l2 and l3 only; l3s is the kernel's too.
    int m = mode.empty() || mode == "l2" ? IPVLAN_MODE_L2 : mode == "l3" ? IPVLAN_MODE_L3 : mode == "l3s" ? IPVLAN_MODE_L3S : -1;
    if (m < 0) fail_invalid("ipvlan_mode " + mode + " is not an ipvlan mode");
    rtnl_link_ipvlan_set_mode(link.get(), uint16_t(m));
  } else {
    fail_invalid("driver " + to_string(driver) + " has no sub-interfaces");
  }
  if (!link) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link_set_link(link.get(), parent_ifindex);
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_ns_fd(link.get(), ns_fd);
  if (mtu > 0) rtnl_link_set_mtu(link.get(), unsigned(mtu));
  // ipvlan shares the parent's MAC; only macvlan takes one of its own.
  if (!mac.empty() && driver == Driver::macvlan) {
    nl_addr* addr = nullptr;
    if (nl_addr_parse(mac.c_str(), AF_LLC, &addr) < 0) fail_invalid("invalid MAC " + mac);
    rtnl_link_set_addr(link.get(), addr);
    nl_addr_put(addr);
  }
  return link;
}

std::string option(const NetworkDef& net, const std::string& key) {
  auto it = net.options.find(key);
  return it == net.options.end() ? "" : it->second;
}

}  // namespace

nl_msg* build_sublink_request(Driver driver, int parent_ifindex, const std::string& mode,
                              const std::string& name, int ns_fd, int mtu, const std::string& mac) {
  auto link = make_sublink(driver, parent_ifindex, mode, name, ns_fd, mtu, mac);
  nl_msg* msg = nullptr;
  if (int err = rtnl_link_build_add_request(link.get(), NLM_F_CREATE | NLM_F_EXCL, &msg); err < 0)
    fail_system("building " + to_string(driver) + " request: " + nl_geterror(err), 0);
  return msg;
}

void attach_sublink(NlSocket& host, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  fault_point("create sub-interface");
  std::string parent = option(net, "parent");
  int parent_idx = link_index(host, parent);
  const std::string kind = to_string(net.driver);
  if (!parent_idx) fail_system(kind + " network " + net.name + ": parent interface " + parent + " does not exist", 0);
  std::string mode = option(net, kind + "_mode");
  auto link = make_sublink(net.driver, parent_idx, mode, a.ifname, ns.fd(), a.mtu, a.mac);
  int err = rtnl_link_add(host.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err == -NLE_OPNOTSUPP) {
    // "Unknown device type" from the kernel: the driver is not built in and cannot be loaded.
    fail_system("creating " + kind + " interface: this kernel has no " + kind + " driver (" +
                    nl_geterror(err) + ")",
                0);
  }
  if (err < 0) fail_system("creating " + kind + " interface on " + parent + ": " + nl_geterror(err), 0);
}

void detach_sublink(const std::string& netns_path, const std::string& netns_id, const Attachment& a) {
  std::optional<Netns> ns;
  try {
    ns.emplace(Netns::open(netns_path));
  } catch (const Error&) {
    return;  // the netns is gone, and the sub-interface with it
  }
  // /proc/<pid>/ns/net of a dead container may now be another process's netns: only act on
  // the very namespace that was configured.
  if (netns_id.empty() || ns->identity() != netns_id) return;
  ScopedNetns inside(*ns);
  NlSocket inner;
  delete_link(inner, a.ifname);
}

namespace {

class VlanDriver final : public NetworkDriver {
 public:
  Attached attach(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a) const override {
    attach_sublink(ctx.host(), net, ns, a);
    return {};
  }
  void detach(DriverContext&, const EndpointRecord& rec, const Attachment& a) const override {
    detach_sublink(rec.netns, rec.netns_id, a);
  }
};

}  // namespace

const NetworkDriver& vlan_driver() {
  static const VlanDriver d;
  return d;
}

}  // namespace ocinet
