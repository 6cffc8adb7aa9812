// Network drivers behind one interface, one file each (bridge.cpp, vlan.cpp, overlay_driver.cpp),
// picked by network_driver() from the Driver parsed once with the network's definition. Setup,
// connect and undo call these and nothing driver-specific; what happens inside the container's
// netns once its interface exists is the same for every driver (container_side.h).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "config/admin_config.h"
#include "netcore/driver_kind.h"
#include "netcore/endpoint_record.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"
#include "netcore/paths.h"

namespace ocinet {

class Etcd;
namespace overlay {
struct HostInfo;
}

// What a driver's steps act on besides the attachment: state paths, the admin config, and the
// host's resources, each opened on first use (most setups need no etcd).
class DriverContext {
 public:
  DriverContext(const Paths& paths, const AdminConfig& cfg, long etcd_timeout_ms = 3000);
  ~DriverContext();
  DriverContext(const DriverContext&) = delete;
  DriverContext& operator=(const DriverContext&) = delete;
  const Paths& paths() const { return paths_; }
  const AdminConfig& config() const { return cfg_; }
  NlSocket& host();
  // Shares an etcd connection opened while looking up the networks.
  void use_etcd(Etcd& etcd) { shared_etcd_ = &etcd; }
  Etcd& etcd();
  // This host as `ocinet agent` registered it; a System error naming the agent when it did not.
  const overlay::HostInfo& this_host();
  // Undo's etcd calls: a failure is logged and left to the agent's resync (which deletes this
  // host's keys of containers it no longer has), and etcd is not tried again by this run.
  void etcd_best_effort(const char* what, const std::function<void(Etcd&)>& fn);

 private:
  const Paths paths_;
  const AdminConfig& cfg_;
  long etcd_timeout_ms_;
  std::optional<NlSocket> host_;
  Etcd* shared_etcd_ = nullptr;
  std::unique_ptr<Etcd> own_etcd_;
  std::unique_ptr<overlay::HostInfo> me_;
  bool etcd_down_ = false;
};

// Addresses a container asks for on a network.
struct AddressRequest {
  std::optional<uint32_t> ip;      // static IPv4 (io.ocinet.ip, connect --ip)
  std::optional<std::string> ip6;  // static IPv6 (io.ocinet.ip6)
  int64_t revision = 0;            // the definition's revision in etcd (overlay), 0 for local ones
};

// What attach made, for the steps after it.
struct Attached {
  int inner_ifindex = 0;  // the container's interface in its netns; 0: found by name
  int host_device = 0;    // overlay: the VXLAN device, for the other hosts' entries
};

class NetworkDriver {
 public:
  virtual ~NetworkDriver() = default;
  // What the host must have before any change is made for this network (overlay: the agent's
  // registration). System error naming the fix.
  virtual void check_host(DriverContext&) const {}
  // The attachment's derived fields (interface names, MTU, gateway, bridge); no kernel change.
  virtual void plan(const NetworkDef& net, const std::string& id, size_t index, Attachment& a) const;
  // Takes the attachment's addresses; the caller holds the allocation lock.
  virtual void reserve(DriverContext& ctx, const NetworkDef& net, const std::string& id, const AddressRequest& want,
                       Attachment& a) const;
  // Releases them; an address never recorded (a crash in between) is found by its owner.
  virtual void release(DriverContext& ctx, const std::string& id, const Attachment& a) const;
  // Creates the container's interface in `ns` and what the host side needs for it.
  virtual Attached attach(DriverContext& ctx, const NetworkDef& net, const Netns& ns, const Attachment& a) const = 0;
  // Removes them; already gone is success.
  virtual void detach(DriverContext& ctx, const EndpointRecord& rec, const Attachment& a) const = 0;
  // Whether the network's NAT and the endpoint's published ports are firewall rules.
  virtual bool has_firewall() const { return false; }
  // Whether endpoints are announced to other hosts (announce/withdraw do something).
  virtual bool has_peers() const { return false; }
  virtual void announce(DriverContext&, const NetworkDef&, const EndpointRecord&, const Attachment&,
                        const Attached&) const {}
  virtual void withdraw(DriverContext&, const EndpointRecord&, const Attachment&) const {}
};

// The one place a Driver becomes code.
const NetworkDriver& network_driver(Driver kind);

// For tests: network_driver(kind) returns `d` while the override lives, so a toy driver runs
// through the real plan, apply and undo steps.
class DriverOverride {
 public:
  DriverOverride(Driver kind, const NetworkDriver& d);
  ~DriverOverride();
  DriverOverride(const DriverOverride&) = delete;
  DriverOverride& operator=(const DriverOverride&) = delete;

 private:
  Driver kind_;
};

// Drivers' shared pieces.
const NetworkDriver& bridge_driver();
const NetworkDriver& vlan_driver();
const NetworkDriver& overlay_driver();
// Leases on a network defined on this host (IPv4, and IPv6 on dual-stack ones), static when
// asked; fills a.ip/a.ip6 (and a.mac when empty).
void lease_local_addresses(const Paths& paths, const NetworkDef& net, const std::string& id, const AddressRequest& want,
                           Attachment& a);
void release_local_addresses(const Paths& paths, const std::string& id, const Attachment& a);

}  // namespace ocinet
