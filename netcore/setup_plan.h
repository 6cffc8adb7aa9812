// Setup's first half: everything validated and decided, no change anywhere. Reads the host
// through HostView, so unit tests run it against a fake host (tests/unit/setup_plan_test.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "config/annotations.h"
#include "config/oci_state.h"
#include "netcore/container_files.h"
#include "netcore/endpoint_record.h"
#include "netcore/host_ports.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"
#include "netcore/networks.h"

namespace ocinet {

struct NetnsView {
  std::string identity;         // "dev:ino"
  bool is_current = false;      // the hook's own netns
  std::shared_ptr<Netns> open;  // kept for apply; null on a fake host
};

// What planning reads of the host.
class HostView {
 public:
  virtual ~HostView() = default;
  virtual BundleConfig bundle(const std::string& dir) = 0;
  virtual NetnsView netns(const std::string& path) = 0;
  // A local definition, else one in etcd; the default network is defined on first use.
  virtual ResolvedNetwork network(const std::string& name) = 0;
  virtual std::optional<NetworkDef> local_network(const std::string& name) = 0;  // defined on this host
  virtual bool is_local_address(const std::string& ip) = 0;  // IPv4 or IPv6
  virtual bool bridged_ipv6_to_netfilter() = 0;
  virtual std::vector<HostSocket> sockets_for(const std::vector<PortSpec>& specs) = 0;
  virtual std::optional<EndpointRecord> record(const std::string& id) = 0;
  virtual std::optional<std::string> name_holder(const std::string& name) = 0;
  // A running container with a netns of its own (mode container:<ref>); Invalid otherwise.
  virtual EndpointRecord running_container(const std::string& ref) = 0;
};

struct SetupPlan {
  Annotations ann;
  BundleConfig bundle;
  std::vector<ResolvedNetwork> networks;
  std::shared_ptr<Netns> ns;
  std::vector<HostsEntry> link_entries;  // io.ocinet.links, for /etc/hosts
  std::vector<HostsEntry> joined;        // mode container: the owner's addresses
  std::vector<HostSocket> host_sockets;  // host sockets on the published ports' numbers
  bool ports_over_ip6 = false;           // ports on every address are published over IPv6 too
  bool dns = false;                      // answered by the embedded name server (127.0.0.11)
  bool firewall = false;                 // some network has firewall rules
  bool configures_inside = false;        // a netns of its own (not host's, not another container's)
  EndpointRecord rec;                    // the record to be: attachments planned, no address yet
};

// Invalid (exit 1) naming what to fix, or System when the host cannot be read.
SetupPlan plan_setup(HostView& host, const AdminConfig& cfg, const OciState& state);

// Invalid (exit 1, naming the policy key) when the annotations ask for what the admin's policy
// does not allow: a mode, a network, static addresses, host ports or addresses, or more
// published ports than max_published_ports.
void check_policy(const Policy& p, const Annotations& a, const std::vector<std::string>& networks);

// The name a container answers to when it is given none: its short id, cut to a name's length.
std::string default_name(const std::string& id);

}  // namespace ocinet
