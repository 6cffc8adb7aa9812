// The admin config (/etc/ocinet/ocinet.json): trusted, written by the host's administrator.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "config/validate.h"

namespace ocinet {

struct AddressPool {
  Ipv4Net base;
  int size = 16;  // prefix length of each subnet carved from base
};

// Above every port of every protocol (3 x 65,535) on several addresses: an admin who wants no
// limit writes this.
constexpr int kMaxPublishedPortsLimit = 1 << 20;

struct Policy {
  std::vector<std::string> allowed_modes;     // empty = all
  std::vector<std::string> allowed_networks;  // empty = all
  int min_host_port = 1;
  std::vector<std::string> allowed_host_ips;  // empty = all
  bool allow_static_ip = true;
  // Host ports one container may publish, all its specs together, a range counting each of its
  // ports (Docker has no such limit; a 65,535-port range is cheap now, but still every port of
  // the host). 0 = none.
  int max_published_ports = 1024;
};

struct AdminConfig {
  std::string default_network = "bridge";
  std::vector<AddressPool> address_pools;  // Docker's defaults when absent
  std::string firewall_backend = "auto";   // auto, iptables, nftables, none
  std::vector<std::string> etcd_endpoints;
  Policy policy;
};

AdminConfig default_admin_config();
// Parses the file; an absent file yields the defaults. Throws ocinet::Error (Invalid) naming the
// key for a malformed file.
AdminConfig load_admin_config(const std::string& path);
AdminConfig parse_admin_config(const std::string& json_text);

}  // namespace ocinet
