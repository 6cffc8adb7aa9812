#include "config/admin_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/validate.h"
#include "base/error.h"

namespace ocinet {

using nlohmann::json;

AdminConfig default_admin_config() {
  AdminConfig c;
  // Docker's default pools: 172.17-31.0.0/16, then /20s out of 192.168.0.0/16.
  for (int b = 17; b <= 31; b++)
    c.address_pools.push_back({*parse_ipv4_net("172." + std::to_string(b) + ".0.0/16"), 16});
  c.address_pools.push_back({*parse_ipv4_net("192.168.0.0/16"), 20});
  return c;
}

namespace {

// The readers of parse_admin_config's sections. A value of the wrong JSON type throws json's
// exception, which parse_admin_config reports naming its `key`: the caller sets it before each
// section, and read_policy before each of its settings.

void read_address_pools(const json& pools, std::vector<AddressPool>& out) {
  out.clear();
  for (auto& p : pools) {
    auto base = parse_ipv4_net(p.at("base").get<std::string>());
    int size = p.at("size").get<int>();
    if (!base || size < base->prefix || size > 30) fail_invalid("admin config: address_pools: invalid pool");
    out.push_back({*base, size});
  }
}

void read_firewall_backend(const json& v, std::string& out) {
  out = v.get<std::string>();
  if (out != "auto" && out != "iptables" && out != "nftables" && out != "none")
    fail_invalid("admin config: firewall_backend: want auto, iptables, nftables or none");
}

void read_etcd_endpoints(const json& v, std::vector<std::string>& out) {
  out = v.get<std::vector<std::string>>();
  if (out.size() > 16) fail_invalid("admin config: etcd.endpoints: at most 16");
  for (auto& e : out) {
    // Base URLs of the etcd client port; requests append "/v3/...".
    bool scheme = e.rfind("http://", 0) == 0 || e.rfind("https://", 0) == 0;
    if (!scheme || e.size() > 256 || has_control_chars(e) || e.find_first_of(" ?#") != std::string::npos)
      fail_invalid("admin config: etcd.endpoints: \"" + (has_control_chars(e) ? std::string("(control characters)") : e) +
                   "\" is not an http:// or https:// URL");
    while (!e.empty() && e.back() == '/') e.pop_back();
  }
}

void read_policy(const json& p, std::string& key, Policy& policy) {
  if (p.contains(key = "allowed_modes")) policy.allowed_modes = p[key].get<std::vector<std::string>>();
  if (p.contains(key = "allowed_networks")) policy.allowed_networks = p[key].get<std::vector<std::string>>();
  if (p.contains(key = "min_host_port")) policy.min_host_port = p[key].get<int>();
  if (p.contains(key = "allowed_host_ips")) {
    policy.allowed_host_ips = p[key].get<std::vector<std::string>>();
    // Port specs carry IPv6 addresses in one spelling (config/ports): compare like with like.
    for (auto& ip : policy.allowed_host_ips)
      if (auto v6 = canonical_ipv6(ip)) ip = *v6;
  }
  if (p.contains(key = "allow_static_ip")) policy.allow_static_ip = p[key].get<bool>();
  if (p.contains(key = "max_published_ports")) {
    // get<int> would take 1.5 as 1 and wrap a huge number: an integer, as written, or nothing.
    const json& v = p[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxPublishedPortsLimit)
      fail_invalid("admin config: policy.max_published_ports: want an integer from 0 to " +
                   std::to_string(kMaxPublishedPortsLimit));
    policy.max_published_ports = int(v.get<int64_t>());
  }
}

}  // namespace

AdminConfig parse_admin_config(const std::string& text) {
  AdminConfig c = default_admin_config();
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    fail_invalid("admin config: malformed JSON");
  }
  std::string key;
  try {
    if (!j.is_object()) fail_invalid("admin config: not a JSON object");
    if (j.contains(key = "default_network")) {
      c.default_network = j[key].get<std::string>();
      if (!is_valid_name(c.default_network)) fail_invalid("admin config: default_network: invalid name");
    }
    if (j.contains(key = "address_pools")) read_address_pools(j[key], c.address_pools);
    if (j.contains(key = "firewall_backend")) read_firewall_backend(j[key], c.firewall_backend);
    if (j.contains(key = "etcd") && j["etcd"].is_object() && j["etcd"].contains("endpoints")) {
      key = "etcd.endpoints";
      read_etcd_endpoints(j["etcd"]["endpoints"], c.etcd_endpoints);
    }
    if (j.contains("policy")) read_policy(j["policy"], key, c.policy);
  } catch (const json::exception&) {
    fail_invalid("admin config: " + key + ": ill-typed value");
  }
  return c;
}

AdminConfig load_admin_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return default_admin_config();
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_admin_config(ss.str());
}

}  // namespace ocinet
