#include "netcore/drivers/bridge.h"

#include <cstdio>

#include "base/error.h"
#include "netcore/drivers/driver.h"

namespace ocinet {

std::string host_veth_name(const std::string& id, size_t index) {
  // FNV-1a 64: stable, no dependency, and 48 bits of it make collisions negligible.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char buf[16];
  std::snprintf(buf, sizeof buf, "oc%012llx%zu", (unsigned long long)(h & 0xffffffffffffull), index % 10);
  return buf;
}

NetworkRules network_rules(const NetworkDef& net) {
  NetworkRules r{net.name, net.bridge, net.subnet, net.internal};
  if (net.subnet6) r.subnet6 = *net.subnet6;
  return r;
}

EndpointRules endpoint_rules(const std::string& tag, const Attachment& a, std::vector<PortMapping> ports) {
  return {tag, a.ip, a.bridge, PublishedPorts(ports), a.ip6, has_nat(a.driver) ? a.host_ifname : ""};
}

namespace {

class BridgeDriver final : public NetworkDriver {
 public:
  Attached attach(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a) const override {
    NlSocket& host = ctx.host();
    int br = ensure_bridge(host, net.bridge, net.subnet, net.gateway, net.mtu, mcast_snooping(net));
    if (net.subnet6) write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
    // Hairpin, as Docker: with br_netfilter loaded (Kubernetes hosts load it), a request to the
    // container's own published port is DNAT'd back out of the port it arrived on.
    // The gateway addresses go along in the same round trip (already there: EEXIST, tolerated):
    // a bridge that outlived ocinet's state (a reinstall, a wiped /var/lib/ocinet) may carry
    // another network's address, and its containers would have no gateway.
    try {
      auto made = create_veth(host, a.host_ifname, br, a.mtu, a.ifname, ns.fd(), a.mac, /*hairpin=*/true,
                              [&](NlBatch& b) {
                                b.add_address(br, net.gateway, net.subnet.prefix, net.bridge);
                                if (net.subnet6) b.add_address6(br, net.gateway6, net.subnet6->prefix);
                              });
      return {made.peer, 0};
    } catch (const Error& e) {
      throw veth_error(e, net.name, net.bridge);
    }
  }

  // The host end goes, and the container end with it. Missing link = success.
  void detach(DriverContext& ctx, const EndpointRecord&, const Attachment& a) const override {
    delete_link(ctx.host(), a.host_ifname);
  }

  bool has_firewall() const override { return true; }
};

}  // namespace

const NetworkDriver& bridge_driver() {
  static const BridgeDriver d;
  return d;
}

}  // namespace ocinet
