#include "netcore/drivers/driver.h"

#include <map>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "netcore/drivers/bridge.h"
#include "netcore/fault.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/overlay/overlay.h"

namespace ocinet {

DriverContext::DriverContext(const Paths& paths, const AdminConfig& cfg, long etcd_timeout_ms)
    : paths_(paths), cfg_(cfg), etcd_timeout_ms_(etcd_timeout_ms) {}

DriverContext::~DriverContext() = default;

NlSocket& DriverContext::host() {
  if (!host_) host_.emplace();
  return *host_;
}

Etcd& DriverContext::etcd() {
  if (shared_etcd_) return *shared_etcd_;
  if (!own_etcd_) own_etcd_ = std::make_unique<Etcd>(overlay::connect(cfg_, etcd_timeout_ms_));
  return *own_etcd_;
}

const overlay::HostInfo& DriverContext::this_host() {
  if (!me_) {
    auto me = overlay::load_host(paths_);
    if (!me)
      fail_system("overlay: this host is not registered in etcd: start `ocinet agent` (it writes " +
                      overlay::host_file(paths_) + ")",
                  0);
    me_ = std::make_unique<overlay::HostInfo>(*me);
  }
  return *me_;
}

void DriverContext::etcd_best_effort(const char* what, const std::function<void(Etcd&)>& fn) {
  if (etcd_down_ || cfg_.etcd_endpoints.empty()) return;
  try {
    fn(etcd());
  } catch (const Error& e) {
    etcd_down_ = true;
    spdlog::warn("{}: {} (left for the agent's resync)", what, e.what());
  }
}

void NetworkDriver::plan(const NetworkDef& net, const std::string& id, size_t index, Attachment& a) const {
  a.network = net.name;
  a.driver = net.driver;
  a.bridge = net.bridge;
  a.host_ifname = host_veth_name(id, index);  // every driver: teardown without a record looks for it
  a.ifname = "eth" + std::to_string(index);
  a.prefix = net.subnet.prefix;
  a.gateway = ipv4_str(net.gateway);
  a.mtu = net.mtu;
  a.internal = net.internal;
  if (net.subnet6) {
    a.prefix6 = net.subnet6->prefix;
    a.gateway6 = net.gateway6;
  }
}

void NetworkDriver::reserve(DriverContext& ctx, const NetworkDef& net, const std::string& id, const AddressRequest& want,
                            Attachment& a) const {
  if (!NetworkStore(ctx.paths().lib_dir).exists(net.name))
    fail_invalid("network " + net.name + " was removed while this container started");
  lease_local_addresses(ctx.paths(), net, id, want, a);
}

void NetworkDriver::release(DriverContext& ctx, const std::string& id, const Attachment& a) const {
  release_local_addresses(ctx.paths(), id, a);
}

namespace {
// Leases of a dual-stack network's IPv6 subnet: host indexes in an IPv4-shaped index space, so
// the same O(1), O_EXCL-based LeaseStore serves both families (see Ipv6Net).
LeaseStore v6_leases(const Paths& paths, const NetworkDef& net) {
  int host_bits = std::min(32, 128 - net.subnet6->prefix);
  return LeaseStore(paths.lease_dir(net.name) + "/v6", Ipv4Net{0, 32 - host_bits}, *net.subnet6->index_of(net.gateway6));
}
}  // namespace

void lease_local_addresses(const Paths& paths, const NetworkDef& net, const std::string& id, const AddressRequest& want,
                           Attachment& a) {
  fault_point("take lease");
  LeaseStore leases(paths.lease_dir(net.name), net.subnet, net.gateway, net.ip_range);
  uint32_t v4 = want.ip ? leases.allocate_static(id, *want.ip) : leases.allocate(id);
  a.ip = ipv4_str(v4);
  if (a.mac.empty()) a.mac = mac_for_ip(v4);
  if (!net.subnet6) {
    if (want.ip6) fail_invalid("io.ocinet.ip6: network " + net.name + " has no IPv6 subnet");
    return;
  }
  auto store = v6_leases(paths, net);
  uint32_t idx;
  if (want.ip6) {
    auto at = net.subnet6->index_of(*want.ip6);
    if (!at) fail_invalid("io.ocinet.ip6: " + *want.ip6 + " is outside " + net.subnet6->str());
    idx = store.allocate_static(id, *at);
  } else {
    idx = store.allocate(id);
  }
  a.ip6 = net.subnet6->at(idx);
}

void release_local_addresses(const Paths& paths, const std::string& id, const Attachment& a) {
  // No network: a record derived from the id alone (see derived_record), any network's.
  std::string dir = a.network.empty() ? paths.run_dir + "/ipam" : paths.lease_dir(a.network);
  if (a.ip.empty()) {  // crashed between logging the step and recording the address
    remove_owned_files(dir, id);
    return;
  }
  if (auto ip = parse_ipv4(a.ip)) LeaseStore::release_at(dir, id, *ip);
  if (a.ip6.empty()) return;
  // IPv6 leases are named by host index within the subnet (see lease_local_addresses).
  auto subnet6 = parse_ipv6_net(a.ip6 + "/" + std::to_string(a.prefix6), /*strict=*/false);
  if (auto idx = subnet6 ? subnet6->index_of(a.ip6) : std::nullopt) LeaseStore::release_at(dir + "/v6", id, *idx);
}

namespace {
std::map<Driver, const NetworkDriver*>& overrides() {
  static std::map<Driver, const NetworkDriver*> m;
  return m;
}
}  // namespace

DriverOverride::DriverOverride(Driver kind, const NetworkDriver& d) : kind_(kind) { overrides()[kind] = &d; }
DriverOverride::~DriverOverride() { overrides().erase(kind_); }

const NetworkDriver& network_driver(Driver kind) {
  if (!overrides().empty())
    if (auto it = overrides().find(kind); it != overrides().end()) return *it->second;
  switch (kind) {
    case Driver::bridge:
      return bridge_driver();
    case Driver::macvlan:
    case Driver::ipvlan:
      return vlan_driver();
    case Driver::overlay:
      return overlay_driver();
  }
  fail_system("no driver for network kind " + std::to_string(int(kind)), 0);
}

}  // namespace ocinet
