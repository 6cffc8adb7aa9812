// Network definitions: LIB/networks/<name>.json, one file each, written atomically and durably.
// The default network `bridge` is defined on first use with a subnet from the address pools
// that overlaps no other network and no route of the host. Until then user networks leave that
// subnet free for it, so it keeps its place (Docker's 172.17.0.0/16 with the default pools)
// whichever is defined first.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "config/validate.h"
#include "netcore/driver_kind.h"

namespace ocinet {

inline constexpr const char* kDefaultBridgeNetwork = "bridge";
inline constexpr const char* kDefaultBridgeDevice = "ocinet0";

struct NetworkDef {
  std::string name;
  std::string id;  // 64 hex chars
  Driver driver = Driver::bridge;
  std::string bridge;  // device name
  Ipv4Net subnet;
  uint32_t gateway = 0;
  std::optional<Ipv4Net> ip_range;
  std::optional<Ipv6Net> subnet6;  // dual stack (--ipv6)
  std::string gateway6;
  bool internal = false;
  bool ipv6 = false;
  int mtu = 0;  // 0 = kernel default (1500)
  std::map<std::string, std::string> options;
  std::string created;  // RFC 3339
  // The embedded name server (127.0.0.11 in its containers): on for user networks unless
  // created with --disable-dns; the default network `bridge` has none, as Docker's.
  bool dns_enabled = true;
  std::vector<std::string> dns_servers;  // --dns: the network's upstreams (IP addresses)
};

// Whether containers on the network get the embedded name server.
bool has_embedded_dns(const NetworkDef& n);

std::string network_to_json(const NetworkDef& n);
// Whether the network's bridge snoops IGMP/MLD (-o mcast_snooping=true; off by default).
bool mcast_snooping(const NetworkDef& n);
NetworkDef network_from_json(const std::string& text);  // Invalid/System on a corrupt file

// First subnet of the pools that overlaps none of `taken`; Invalid when the pools are exhausted.
Ipv4Net pick_subnet(const std::vector<AddressPool>& pools, const std::vector<Ipv4Net>& taken);

// The one rule for the default network's subnet, used to define it and, while it is not yet
// defined, to keep that subnet free in user networks' picks: the first subnet of the pools
// that overlaps none of `networks` and none of `routes` (the host's, less those of the default
// network's own bridge).
Ipv4Net default_network_subnet(const AdminConfig& cfg, const std::vector<NetworkDef>& networks,
                               const std::vector<Ipv4Net>& routes);

class NetworkStore {
 public:
  explicit NetworkStore(std::string lib_dir);
  std::optional<NetworkDef> load(const std::string& name) const;
  std::vector<NetworkDef> list() const;
  void save(const NetworkDef& n) const;
  void remove(const std::string& name) const;
  // Cheap existence check (no parsing): used under the allocation lock to catch a network
  // removed between reading its definition and taking a lease on it.
  bool exists(const std::string& name) const;
  std::string lock_path() const { return dir_ + "/.lock"; }
  // Loads `name`; for the default network, defines it first if needed. `host_routes` is called
  // only then (it dumps the routing table); callers leave out the routes of the default
  // network's own bridge, which may have outlived ocinet's state (a wiped /var/lib/ocinet), so
  // that the default network is defined again as it was. Invalid for an unknown user network.
  NetworkDef resolve(const std::string& name, const AdminConfig& cfg,
                     const std::function<std::vector<Ipv4Net>()>& host_routes) const;

 private:
  std::string dir_;
};

std::string random_hex_id();

// `ocinet network create`, validated. Only the bridge driver and IPv4 in this build.
struct NetworkCreateRequest {
  std::string name;
  std::string driver = "bridge";  // as typed: parsed by create_network
  std::vector<std::string> subnets;
  std::vector<std::string> gateways;
  std::string ip_range;
  bool internal = false;
  bool ipv6 = false;
  int mtu = 0;
  std::map<std::string, std::string> options;
  bool disable_dns = false;
  std::vector<std::string> dns;  // --dns: upstreams of the network's name server
};
// --disable-dns and --dns into `n` (Invalid naming the option): shared by every driver.
void apply_dns_options(const NetworkCreateRequest& req, NetworkDef& n);

// Checks shared by every driver's `network create` (Invalid naming the option):
void check_new_network_name(const std::string& name);
Ipv4Net parse_subnet_option(const std::string& text, int max_prefix);
// The gateway asked for (must be a host address of `subnet`), or the subnet's first host ("").
uint32_t gateway_option(const std::string& text, const Ipv4Net& subnet);
std::string now_rfc3339();

// Driver options (-o): mtu everywhere; parent and macvlan_mode / ipvlan_mode for sub-interface
// drivers. Invalid naming the option.
void validate_driver_options(Driver driver, const std::map<std::string, std::string>& options);

// Validates the request against the existing networks and the host's routes and saves the
// definition under the store's lock. Invalid (exit 1) naming the conflict. `default_routes` are
// the routes as the default network's rule sees them (less its own bridge's, as for resolve);
// a subnet from the pools skips the one that rule picks while the default network is undefined.
NetworkDef create_network(const NetworkStore& store, const AdminConfig& cfg, const NetworkCreateRequest& req,
                          const std::vector<Ipv4Net>& host_routes, const std::vector<Ipv4Net>& default_routes);

}  // namespace ocinet
