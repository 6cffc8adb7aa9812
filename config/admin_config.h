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

struct Policy {
  std::vector<std::string> allowed_modes;     // empty = all
  std::vector<std::string> allowed_networks;  // empty = all
  int min_host_port = 1;
  std::vector<std::string> allowed_host_ips;  // empty = all
  bool allow_static_ip = true;
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
