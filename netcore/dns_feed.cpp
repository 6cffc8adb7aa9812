#include "netcore/dns_feed.h"

#include <dirent.h>

#include <set>

#include <nlohmann/json.hpp>

#include "config/validate.h"
#include "dns/control.h"
#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

namespace {

constexpr size_t kMaxDefinition = 64 * 1024;

// Writes `text` at dir/name unless it holds exactly that already; true when written.
bool write_if_changed(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  try {
    if (read_regular_file(path, text.size() + 1) == text) return false;
  } catch (const Error&) {
    // larger or not a regular file: replaced below
  }
  make_dirs(dir, 0700);
  write_file_atomic(path, text);
  return true;
}

}  // namespace

std::string dns_networks_dir(const std::string& run_dir) { return dns::control_dir(run_dir) + "/networks"; }
std::string dns_remote_dir(const std::string& run_dir) { return dns::control_dir(run_dir) + "/remote"; }

void cache_network_for_dns(const std::string& run_dir, const NetworkDef& n) {
  write_if_changed(dns_networks_dir(run_dir), n.name + ".json", network_to_json(n));
}

void uncache_network_for_dns(const std::string& run_dir, const std::string& name) {
  remove_file(dns_networks_dir(run_dir) + "/" + name + ".json");
}

std::optional<NetworkDef> load_cached_network(const std::string& run_dir, const std::string& name) {
  if (!is_valid_name(name)) return std::nullopt;
  try {
    auto text = read_regular_file(dns_networks_dir(run_dir) + "/" + name + ".json", kMaxDefinition);
    if (!text) return std::nullopt;
    NetworkDef n = network_from_json(*text);
    if (n.driver != Driver::overlay || n.name != name) return std::nullopt;
    return n;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> fed_networks(const std::string& run_dir) {
  std::set<std::string> names;
  for (const auto& dir : {dns_networks_dir(run_dir), dns_remote_dir(run_dir)}) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0 && is_valid_name(n.substr(0, n.size() - 5)))
        names.insert(n.substr(0, n.size() - 5));
    }
    ::closedir(d);
  }
  return {names.begin(), names.end()};
}

std::string remote_endpoints_json(const std::string& network, const std::vector<RemoteEndpoint>& eps) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : eps)
    list.push_back({{"id", e.id}, {"name", e.name}, {"hostname", e.hostname}, {"aliases", e.aliases}, {"ip", e.ip}});
  return nlohmann::json{{"network", network}, {"endpoints", list}}.dump() + "\n";
}

bool write_remote_endpoints(const std::string& run_dir, const std::string& network, const std::vector<RemoteEndpoint>& eps) {
  return write_if_changed(dns_remote_dir(run_dir), network + ".json", remote_endpoints_json(network, eps));
}

bool remove_remote_endpoints(const std::string& run_dir, const std::string& network) {
  const std::string path = dns_remote_dir(run_dir) + "/" + network + ".json";
  if (!read_file(path)) return false;
  remove_file(path);
  return true;
}

std::optional<std::vector<RemoteEndpoint>> parse_remote_endpoints(const std::string& text, const std::string& network,
                                                                  size_t* skipped) {
  *skipped = 0;
  if (text.size() > kMaxRemoteFile) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto net = j.find("network");
  auto list = j.find("endpoints");
  if (net == j.end() || !net->is_string() || *net != network || list == j.end() || !list->is_array() ||
      list->size() > kMaxRemoteEndpoints)
    return std::nullopt;
  auto str = [](const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<RemoteEndpoint> out;
  for (const auto& o : *list) {
    if (!o.is_object()) {
      ++*skipped;
      continue;
    }
    RemoteEndpoint e{str(o, "id"), str(o, "name"), str(o, "hostname"), str(o, "ip"), {}};
    if (!is_valid_name(e.id, kMaxLegacyIdLen) || !parse_ipv4(e.ip)) {
      ++*skipped;
      continue;
    }
    if (!is_valid_hostname(e.name)) e.name.clear();
    if (!is_valid_hostname(e.hostname)) e.hostname.clear();
    if (auto a = o.find("aliases"); a != o.end() && a->is_array())
      for (const auto& alias : *a)
        if (alias.is_string() && is_valid_hostname(alias.get<std::string>()) && e.aliases.size() < kMaxRemoteAliases)
          e.aliases.push_back(alias.get<std::string>());
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ocinet
