#include "netcore/attach_steps.h"

#include "netcore/container_side.h"
#include "netcore/drivers/bridge.h"
#include "netcore/fault.h"
#include "netcore/restore.h"

namespace ocinet {

void take_address(DriverContext& ctx, const ResolvedNetwork& net, AddressRequest want, EndpointRecord& rec, size_t i) {
  want.revision = net.etcd_revision;
  network_driver(net.def.driver).reserve(ctx, net.def, rec.id, want, rec.attachments[i]);
}

Attached attach_link(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a) {
  return network_driver(net.driver).attach(ctx, net, ns, a);
}

void configure_attachment(NlSocket& inner, const Attachment& a, const Attached& made, bool lo_up,
                          const FirewallBackend* fw) {
  configure_container_side(inner, a, made.inner_ifindex, a.default_route, lo_up);
  ipv6_off_unless_filtered(a, fw);
}

void install_rules(DriverContext& ctx, FirewallBackend& fw, const NetworkDef& net, const EndpointRecord& rec, size_t i,
                   bool& restored) {
  if (!network_driver(net.driver).has_firewall()) return;
  // Only the first attachment publishes ports.
  const EndpointRules er = endpoint_rules(rec.tag, rec.attachments[i], i == 0 ? rec.ports : std::vector<PortMapping>{});
  fault_point("firewall");
  if (fw.add_endpoint(network_rules(net), er) && !restored) {
    restore_firewall(ctx.paths(), fw, {}, rec.id);
    restored = true;
  }
}

}  // namespace ocinet
