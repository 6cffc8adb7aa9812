// The overlay driver: an adapter over overlay/ (VXLAN between hosts, state in etcd). Addresses
// come from etcd, conflict-free across hosts; the container's veth hangs on the network's
// bridge, which the VXLAN device joins; endpoints are announced to the other hosts.
#include "base/error.h"
#include "netcore/dns_feed.h"
#include "netcore/drivers/driver.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/overlay/overlay.h"

namespace ocinet {
namespace {

class OverlayDriver final : public NetworkDriver {
 public:
  void check_host(DriverContext& ctx) const override { ctx.this_host(); }

  void plan(const NetworkDef& net, const std::string& id, size_t index, Attachment& a) const override {
    NetworkDriver::plan(net, id, index, a);
    a.bridge = overlay::bridge_name(net);
    a.gateway.clear();  // nothing routes off the overlay: a later network gives the default route
  }

  void reserve(DriverContext& ctx, const NetworkDef& net, const std::string& id, const AddressRequest& want,
               Attachment& a) const override {
    if (want.ip6) fail_invalid("io.ocinet.ip6: overlay network " + net.name + " has no IPv6 subnet");
    uint32_t v4 = overlay::allocate(ctx.etcd(), net, want.revision, id, ctx.this_host().host, want.ip);
    a.ip = ipv4_str(v4);
    if (a.mac.empty()) a.mac = mac_for_ip(v4);
    // A local mark as well: this host's members of the network, for name discovery.
    const std::string mark = ctx.paths().lease_dir(net.name) + "/" + a.ip;
    make_dirs(ctx.paths().lease_dir(net.name));
    if (!create_owner_mark(mark, id)) replace_owner_mark(mark, id);  // etcd is authoritative
  }

  void release(DriverContext& ctx, const std::string& id, const Attachment& a) const override {
    if (auto me = overlay::load_host(ctx.paths()))
      ctx.etcd_best_effort("releasing the overlay address",
                           [&](Etcd& e) { overlay::release(e, a.network, a.ip, id, me->host); });
    release_local_addresses(ctx.paths(), id, a);  // the local membership mark
  }

  Attached attach(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a) const override {
    return {0, overlay::attach(ctx.host(), net, ctx.this_host().vtep, ns.fd(), a)};
  }

  void detach(DriverContext& ctx, const EndpointRecord&, const Attachment& a) const override {
    delete_link(ctx.host(), a.host_ifname);
  }

  bool has_peers() const override { return true; }

  // Registers the endpoint for the other hosts, and seeds this host's VXLAN device with theirs
  // (the agent keeps it in step from here on). Their names come from the name server, fed by
  // the agent; it learns the definition here, before this container's "add" reaches it.
  void announce(DriverContext& ctx, const NetworkDef& net, const EndpointRecord& rec, const Attachment& a,
                const Attached& made) const override {
    const auto& me = ctx.this_host();
    overlay::register_endpoint(ctx.etcd(), me, rec, a);
    if (has_embedded_dns(net)) cache_network_for_dns(ctx.paths().run_dir, net);
    for (const auto& e : overlay::endpoints_on(ctx.etcd(), net.name))
      if (e.host != me.host) overlay::add_remote(ctx.host(), made.host_device, e);  // this host's are on the bridge
  }

  void withdraw(DriverContext& ctx, const EndpointRecord& rec, const Attachment& a) const override {
    ctx.etcd_best_effort("unregistering the overlay endpoint",
                         [&](Etcd& e) { e.remove(overlay::ep_key(a.network, rec.id)); });
  }
};

}  // namespace

const NetworkDriver& overlay_driver() {
  static const OverlayDriver d;
  return d;
}

}  // namespace ocinet
