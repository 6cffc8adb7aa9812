#include "netcore/network_store.h"

#include <dirent.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

using nlohmann::json;

std::string random_hex_id() {
  unsigned char buf[32];
  if (::getrandom(buf, sizeof buf, 0) != sizeof buf) fail_system("getrandom", errno);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string now_rfc3339() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string network_to_json(const NetworkDef& n) {
  json j{{"name", n.name},          {"id", n.id},           {"driver", to_string(n.driver)},
         {"bridge", n.bridge},      {"subnet", n.subnet.str()}, {"gateway", ipv4_str(n.gateway)},
         {"internal", n.internal},  {"ipv6", n.ipv6},       {"mtu", n.mtu},
         {"options", n.options},    {"created", n.created},  {"dns_enabled", n.dns_enabled}};
  if (!n.dns_servers.empty()) j["dns_servers"] = n.dns_servers;
  if (n.ip_range) j["ip_range"] = n.ip_range->str();
  if (n.subnet6) {
    j["subnet6"] = n.subnet6->str();
    j["gateway6"] = n.gateway6;
  }
  return j.dump(2) + "\n";
}

NetworkDef network_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    NetworkDef n;
    n.name = j.at("name").get<std::string>();
    n.id = j.at("id").get<std::string>();
    n.driver = driver_from_string(j.at("driver").get<std::string>());
    n.bridge = j.at("bridge").get<std::string>();
    auto subnet = parse_ipv4_net(j.at("subnet").get<std::string>());
    auto gw = parse_ipv4(j.at("gateway").get<std::string>());
    if (!subnet || !gw || !is_valid_name(n.name)) throw std::runtime_error("bad");
    if (n.driver == Driver::bridge && !is_valid_name(n.bridge, 15)) throw std::runtime_error("bad");
    n.subnet = *subnet;
    n.gateway = *gw;
    if (j.contains("ip_range")) n.ip_range = parse_ipv4_net(j["ip_range"].get<std::string>());
    if (j.contains("subnet6")) {
      n.subnet6 = parse_ipv6_net(j["subnet6"].get<std::string>());
      n.gateway6 = j.at("gateway6").get<std::string>();
      if (!n.subnet6 || !n.subnet6->index_of(n.gateway6)) throw std::runtime_error("bad");
    }
    n.internal = j.value("internal", false);
    n.ipv6 = j.value("ipv6", false);
    n.mtu = j.value("mtu", 0);
    n.dns_enabled = j.value("dns_enabled", true);  // networks of earlier releases: on
    n.dns_servers = j.value("dns_servers", std::vector<std::string>{});
    for (const auto& s : n.dns_servers)
      if (!parse_ipv4(s) && !is_valid_ipv6(s)) throw std::runtime_error("bad");
    n.options = j.value("options", std::map<std::string, std::string>{});
    n.created = j.value("created", "");
    return n;
  } catch (const std::exception&) {
    fail_system("network definition is corrupt", 0);
  }
}

Ipv4Net pick_subnet(const std::vector<AddressPool>& pools, const std::vector<Ipv4Net>& taken) {
  for (const auto& pool : pools) {
    uint64_t step = uint64_t(1) << (32 - pool.size);
    for (uint64_t a = pool.base.first(); a <= pool.base.last(); a += step) {
      Ipv4Net cand{uint32_t(a), pool.size};
      bool clash = false;
      for (const auto& t : taken) clash = clash || cand.overlaps(t);
      if (!clash) return cand;
    }
  }
  fail_invalid("address pools exhausted: every subnet overlaps a network or a host route");
}

Ipv4Net default_network_subnet(const AdminConfig& cfg, const std::vector<NetworkDef>& networks,
                               const std::vector<Ipv4Net>& routes) {
  std::vector<Ipv4Net> taken = routes;
  for (const auto& n : networks) taken.push_back(n.subnet);
  return pick_subnet(cfg.address_pools, taken);
}

NetworkStore::NetworkStore(std::string lib_dir) : dir_(std::move(lib_dir) + "/networks") {}

std::optional<NetworkDef> NetworkStore::load(const std::string& name) const {
  if (!is_valid_name(name)) fail_invalid("invalid network name \"" + name + "\"");
  auto text = read_file(dir_ + "/" + name + ".json");
  if (!text) return std::nullopt;
  return network_from_json(*text);
}

std::vector<NetworkDef> NetworkStore::list() const {
  std::vector<NetworkDef> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0)
      if (auto text = read_file(dir_ + "/" + n)) out.push_back(network_from_json(*text));
  }
  ::closedir(d);
  return out;
}

void NetworkStore::save(const NetworkDef& n) const {
  write_file_atomic(dir_ + "/" + n.name + ".json", network_to_json(n), /*durable=*/true);
}

bool NetworkStore::exists(const std::string& name) const {
  return ::access((dir_ + "/" + name + ".json").c_str(), F_OK) == 0;
}

void NetworkStore::remove(const std::string& name) const {
  if (!is_valid_name(name)) fail_invalid("invalid network name \"" + name + "\"");
  remove_file(dir_ + "/" + name + ".json");
}

void validate_driver_options(Driver driver, const std::map<std::string, std::string>& options) {
  auto one_of = [](const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
      if (v == a) return true;
    return false;
  };
  for (const auto& [k, v] : options) {
    if (k == "com.docker.network.driver.mtu" || k == "mtu") continue;
    if (driver == Driver::macvlan && k == "macvlan_mode") {
      if (!one_of(v, {"bridge", "private", "vepa", "passthru"}))
        fail_invalid("-o macvlan_mode=" + v + ": want bridge, private, vepa or passthru");
      continue;
    }
    if (driver == Driver::ipvlan && k == "ipvlan_mode") {
      if (!one_of(v, {"l2", "l3", "l3s"})) fail_invalid("-o ipvlan_mode=" + v + ": want l2, l3 or l3s");
      continue;
    }
    if (driver == Driver::bridge && k == "mcast_snooping") {
      if (!one_of(v, {"true", "false"})) fail_invalid("-o mcast_snooping=" + v + ": want true or false");
      continue;
    }
    if (is_subinterface(driver) && k == "parent") {
      if (!is_valid_name(v, 15)) fail_invalid("-o parent=" + v + ": not an interface name");
      continue;
    }
    fail_invalid("-o " + k + ": unknown option for the " + to_string(driver) + " driver");
  }
  if (is_subinterface(driver) && !options.count("parent"))
    fail_invalid("-o parent=IFACE is required for the " + to_string(driver) + " driver");
}

bool mcast_snooping(const NetworkDef& n) {
  auto it = n.options.find("mcast_snooping");
  return it != n.options.end() && it->second == "true";
}

void check_new_network_name(const std::string& name) {
  if (!is_valid_name(name)) fail_invalid("invalid network name \"" + name + "\" (want [A-Za-z0-9][A-Za-z0-9_.-]*)");
  if (name == "host" || name == "none" || name == kDefaultBridgeNetwork) fail_invalid("network name \"" + name + "\" is reserved");
}

Ipv4Net parse_subnet_option(const std::string& text, int max_prefix) {
  auto subnet = parse_ipv4_net(text);
  if (!subnet) fail_invalid("--subnet \"" + text + "\": not an IPv4 CIDR with its host bits clear");
  if (subnet->prefix > max_prefix)
    fail_invalid("--subnet " + subnet->str() + ": too small (at most /" + std::to_string(max_prefix) + ")");
  return *subnet;
}

uint32_t gateway_option(const std::string& text, const Ipv4Net& subnet) {
  if (text.empty()) return subnet.first() + 1;
  auto gw = parse_ipv4(text);
  if (!gw || !subnet.contains(*gw) || *gw == subnet.first() || *gw == subnet.last())
    fail_invalid("--gateway \"" + text + "\": not a host address of " + subnet.str());
  return *gw;
}

namespace {
// The drivers of a local definition: overlay ones live in etcd (overlay::create_network).
Driver local_driver(const std::string& name) {
  auto d = parse_driver(name);
  if (!d || *d == Driver::overlay) fail_invalid("driver \"" + name + "\" is not supported by this build (bridge, macvlan, ipvlan)");
  return *d;
}
}  // namespace

NetworkDef create_network(const NetworkStore& store, const AdminConfig& cfg, const NetworkCreateRequest& req,
                          const std::vector<Ipv4Net>& host_routes, const std::vector<Ipv4Net>& default_routes) {
  check_new_network_name(req.name);
  const Driver driver = local_driver(req.driver);
  // Each family gets at most one subnet (and gateway), matched by the address form.
  std::vector<std::string> v4_subnets, v6_subnets, v4_gateways, v6_gateways;
  for (const auto& sn : req.subnets) (sn.find(':') == std::string::npos ? v4_subnets : v6_subnets).push_back(sn);
  for (const auto& gw : req.gateways) (gw.find(':') == std::string::npos ? v4_gateways : v6_gateways).push_back(gw);
  if (v4_subnets.size() > 1 || v6_subnets.size() > 1) fail_invalid("--subnet: at most one IPv4 and one IPv6 subnet");
  if (!v6_subnets.empty() && !req.ipv6) fail_invalid("--subnet " + v6_subnets[0] + ": an IPv6 subnet needs --ipv6");
  if (v4_gateways.size() > v4_subnets.size() || v6_gateways.size() > v6_subnets.size())
    fail_invalid("--gateway: needs a --subnet of its family to belong to");
  if (req.mtu != 0 && (req.mtu < 68 || req.mtu > 65535)) fail_invalid("--mtu: out of range 68-65535");
  validate_driver_options(driver, req.options);

  NetworkDef n;
  n.name = req.name;
  n.driver = driver;
  n.internal = req.internal;
  n.mtu = req.mtu;
  n.options = req.options;
  apply_dns_options(req, n);
  for (const char* k : {"com.docker.network.driver.mtu", "mtu"})
    if (auto it = req.options.find(k); it != req.options.end()) {
      if (it->second.empty() || it->second.size() > 5 || it->second.find_first_not_of("0123456789") != std::string::npos)
        fail_invalid(std::string("-o ") + k + ": not a number");
      n.mtu = std::stoi(it->second);
      if (n.mtu < 68 || n.mtu > 65535) fail_invalid(std::string("-o ") + k + ": out of range 68-65535");
    }

  FileLock lock(store.lock_path());
  if (store.load(req.name)) fail_invalid("network \"" + req.name + "\" already exists");
  auto others = store.list();
  if (!v4_subnets.empty()) {
    const Ipv4Net subnet = parse_subnet_option(v4_subnets[0], 30);
    for (const auto& o : others)
      if (o.subnet.overlaps(subnet))
        fail_invalid("--subnet " + subnet.str() + " overlaps network \"" + o.name + "\" (" + o.subnet.str() + ")");
    // A macvlan/ipvlan network usually *is* the parent's LAN: only bridges must stay clear of
    // the host's routes.
    for (const auto& r : host_routes)
      if (driver == Driver::bridge && r.overlaps(subnet))
        fail_invalid("--subnet " + subnet.str() + " overlaps the host route " + r.str());
    n.subnet = subnet;
  } else {
    std::vector<Ipv4Net> taken = host_routes;
    for (const auto& o : others) taken.push_back(o.subnet);
    // Docker's default bridge exists before any user network: the subnet it will take stays free.
    std::optional<Ipv4Net> kept;
    if (std::none_of(others.begin(), others.end(), [](const NetworkDef& o) { return o.name == kDefaultBridgeNetwork; })) {
      kept = default_network_subnet(cfg, others, default_routes);
      taken.push_back(*kept);
    }
    try {
      n.subnet = pick_subnet(cfg.address_pools, taken);
    } catch (const Error&) {
      if (!kept) throw;
      fail_invalid("address pools exhausted: every subnet overlaps a network or a host route, or is kept for the default network \"" +
                   std::string(kDefaultBridgeNetwork) + "\" (" + kept->str() + ")");
    }
  }
  n.gateway = gateway_option(v4_gateways.empty() ? "" : v4_gateways[0], n.subnet);
  if (req.ipv6) {
    if (!v6_subnets.empty()) {
      n.subnet6 = parse_ipv6_net(v6_subnets[0]);
      if (!n.subnet6) fail_invalid("--subnet \"" + v6_subnets[0] + "\": not an IPv6 CIDR with its host bits clear");
      if (n.subnet6->prefix > 120) fail_invalid("--subnet " + n.subnet6->str() + ": too small (at most /120)");
      for (const auto& o : others)
        if (o.subnet6 && o.subnet6->overlaps(*n.subnet6))
          fail_invalid("--subnet " + n.subnet6->str() + " overlaps network \"" + o.name + "\" (" + o.subnet6->str() + ")");
    } else {
      // Like Docker without a configured pool: a random unique local /64 (RFC 4193).
      unsigned char rnd[5];
      if (::getrandom(rnd, sizeof rnd, 0) != sizeof rnd) fail_system("getrandom", errno);
      Ipv6Net ula;
      ula.addr[0] = 0xfd;
      std::memcpy(ula.addr + 1, rnd, 5);
      ula.prefix = 64;
      n.subnet6 = ula;
    }
    n.gateway6 = n.subnet6->at(1);
    if (!v6_gateways.empty()) {
      auto idx = n.subnet6->index_of(v6_gateways[0]);
      if (!idx || *idx == 0) fail_invalid("--gateway \"" + v6_gateways[0] + "\": not a host address of " + n.subnet6->str());
      n.gateway6 = n.subnet6->at(*idx);
    }
  }
  n.ipv6 = req.ipv6;
  if (!req.ip_range.empty()) {
    auto range = parse_ipv4_net(req.ip_range);
    if (!range || !n.subnet.contains(range->first()) || !n.subnet.contains(range->last()))
      fail_invalid("--ip-range \"" + req.ip_range + "\": not a CIDR inside " + n.subnet.str());
    n.ip_range = range;
  }
  n.id = random_hex_id();
  // Docker names it br-<id12>; "ocbr-" + 10 hex keeps within IFNAMSIZ and says whose it is.
  // macvlan/ipvlan networks have no bridge: their endpoints hang off the parent link.
  if (n.driver == Driver::bridge) n.bridge = "ocbr-" + n.id.substr(0, 10);
  n.created = now_rfc3339();
  store.save(n);
  return n;
}

NetworkDef NetworkStore::resolve(const std::string& name, const AdminConfig& cfg,
                                 const std::function<std::vector<Ipv4Net>()>& host_routes) const {
  if (auto n = load(name)) return *n;
  if (name != kDefaultBridgeNetwork) fail_invalid("network \"" + name + "\" not found (create it with `ocinet network create`)");
  FileLock lock(dir_ + "/.lock");
  if (auto n = load(name)) return *n;  // defined by a concurrent invocation
  NetworkDef n;
  n.name = name;
  n.id = random_hex_id();
  n.bridge = kDefaultBridgeDevice;
  n.subnet = default_network_subnet(cfg, list(), host_routes());
  n.gateway = n.subnet.first() + 1;
  n.created = now_rfc3339();
  save(n);
  return n;
}

}  // namespace ocinet

namespace ocinet {
bool has_embedded_dns(const NetworkDef& n) { return n.dns_enabled && n.name != kDefaultBridgeNetwork; }
}  // namespace ocinet

namespace ocinet {
void apply_dns_options(const NetworkCreateRequest& req, NetworkDef& n) {
  if (req.disable_dns && !req.dns.empty()) fail_invalid("--dns: the network has no name server (--disable-dns)");
  if (req.dns.size() > 3) fail_invalid("--dns: at most 3 servers");
  for (const auto& s : req.dns)
    if (!parse_ipv4(s) && !is_valid_ipv6(s)) fail_invalid("--dns \"" + s + "\": not an IP address");
  n.dns_enabled = !req.disable_dns;
  n.dns_servers = req.dns;
}
}  // namespace ocinet
