#include "netcore/network_store.h"

#include <dirent.h>
#include <sys/random.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "netcore/error.h"
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

static std::string now_rfc3339() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string network_to_json(const NetworkDef& n) {
  json j{{"name", n.name},          {"id", n.id},           {"driver", n.driver},
         {"bridge", n.bridge},      {"subnet", n.subnet.str()}, {"gateway", ipv4_str(n.gateway)},
         {"internal", n.internal},  {"ipv6", n.ipv6},       {"mtu", n.mtu},
         {"options", n.options},    {"created", n.created}};
  if (n.ip_range) j["ip_range"] = n.ip_range->str();
  return j.dump(2) + "\n";
}

NetworkDef network_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    NetworkDef n;
    n.name = j.at("name").get<std::string>();
    n.id = j.at("id").get<std::string>();
    n.driver = j.at("driver").get<std::string>();
    n.bridge = j.at("bridge").get<std::string>();
    auto subnet = parse_ipv4_net(j.at("subnet").get<std::string>());
    auto gw = parse_ipv4(j.at("gateway").get<std::string>());
    if (!subnet || !gw || !is_valid_name(n.name) || !is_valid_name(n.bridge, 15)) throw std::runtime_error("bad");
    n.subnet = *subnet;
    n.gateway = *gw;
    if (j.contains("ip_range")) n.ip_range = parse_ipv4_net(j["ip_range"].get<std::string>());
    n.internal = j.value("internal", false);
    n.ipv6 = j.value("ipv6", false);
    n.mtu = j.value("mtu", 0);
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

NetworkDef NetworkStore::resolve(const std::string& name, const AdminConfig& cfg,
                                 const std::function<std::vector<Ipv4Net>()>& host_routes) const {
  if (auto n = load(name)) return *n;
  if (name != kDefaultBridgeNetwork) fail_invalid("network \"" + name + "\" not found (create it with `ocinet network create`)");
  FileLock lock(dir_ + "/.lock");
  if (auto n = load(name)) return *n;  // defined by a concurrent invocation
  std::vector<Ipv4Net> taken = host_routes();
  for (const auto& other : list()) taken.push_back(other.subnet);
  NetworkDef n;
  n.name = name;
  n.id = random_hex_id();
  n.bridge = kDefaultBridgeDevice;
  n.subnet = pick_subnet(cfg.address_pools, taken);
  n.gateway = n.subnet.first() + 1;
  n.created = now_rfc3339();
  save(n);
  return n;
}

}  // namespace ocinet
