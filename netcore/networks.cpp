#include "netcore/networks.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include "base/error.h"
#include "netcore/dns_feed.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/overlay/etcd.h"
#include "netcore/overlay/overlay.h"

namespace ocinet {
namespace {

// The routes the default network's subnet rule sees: less those of its own bridge, which may
// have outlived ocinet's state (a wiped LIB), so that it is defined again as it was.
std::vector<Ipv4Net> default_network_routes() {
  NlSocket nl;
  return ipv4_routes(nl, kDefaultBridgeDevice);
}

std::vector<std::pair<uint32_t, std::string>> members(const Paths& paths, const std::string& network) {
  return LeaseStore::list_at(paths.lease_dir(network));
}

// Whether `dir` holds a definition file other than the default network's.
bool has_user_definition(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  const std::string default_file = std::string(kDefaultBridgeNetwork) + ".json";
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0 && n != default_file) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

Networks::Networks(const Paths& paths, const AdminConfig& cfg) : paths_(paths), cfg_(cfg), store_(paths.lib_dir) {}

Networks::~Networks() = default;

Etcd& Networks::etcd() {
  if (!etcd_) etcd_ = std::make_unique<Etcd>(overlay::connect(cfg_));
  return *etcd_;
}

std::optional<ResolvedNetwork> Networks::from_etcd(const std::string& name) {
  // "bridge" is reserved for the default network, and the admin's default network is local.
  if (cfg_.etcd_endpoints.empty() || name == kDefaultBridgeNetwork || name == cfg_.default_network ||
      store_.exists(name))
    return std::nullopt;
  auto s = overlay::get_network(etcd(), name);
  if (!s) return std::nullopt;
  s->def.bridge = overlay::bridge_name(s->def);
  return ResolvedNetwork{s->def, s->mod_revision};
}

ResolvedNetwork Networks::resolve(const std::string& name) {
  if (auto r = from_etcd(name)) return *r;
  return {store_.resolve(name, cfg_, default_network_routes), 0};
}

bool Networks::exists_locally(const std::string& name) const { return store_.exists(name); }

std::vector<NetworkDef> Networks::list() {
  store_.resolve(kDefaultBridgeNetwork, cfg_, default_network_routes);  // Docker always lists it
  auto nets = store_.list();
  if (!cfg_.etcd_endpoints.empty())
    for (auto& n : overlay::list_networks(etcd())) {
      n.bridge = overlay::bridge_name(n);
      nets.push_back(n);
    }
  std::sort(nets.begin(), nets.end(), [](const NetworkDef& a, const NetworkDef& b) { return a.name < b.name; });
  return nets;
}

NetworkDef Networks::create(const NetworkCreateRequest& req) {
  if (parse_driver(req.driver) == Driver::overlay) {
    if (store_.load(req.name)) fail_invalid("network \"" + req.name + "\" already exists on this host");
    std::vector<Ipv4Net> taken;
    for (const auto& l : store_.list()) taken.push_back(l.subnet);
    NetworkDef n = overlay::create_network(etcd(), cfg_, req, taken);
    n.bridge = overlay::bridge_name(n);
    return n;
  }
  NlSocket nl;
  return create_network(store_, cfg_, req, ipv4_routes(nl), ipv4_routes(nl, kDefaultBridgeDevice));
}

void Networks::remove(const std::string& name) {
  std::optional<NetworkDef> n;
  if (auto r = from_etcd(name))
    n = r->def;
  else if (name == kDefaultBridgeNetwork)
    n = store_.resolve(name, cfg_, default_network_routes);
  else
    n = store_.load(name);  // Invalid for a malformed name
  if (!n) fail_invalid("network \"" + name + "\" not found");
  if (n->name == kDefaultBridgeNetwork) fail_invalid("network \"bridge\" is the default network and cannot be removed");
  if (n->driver == Driver::overlay) {  // every host's agent removes its devices when it sees this
    overlay::remove_network(etcd(), n->name);
    return;
  }
  remove_local(*n);
}

// Removes a network with no endpoints: its bridge, its firewall rules, its leases dir, its file.
void Networks::remove_local(const NetworkDef& n) {
  FileLock store_lock(store_.lock_path());
  FileLock alloc_lock(paths_.alloc_lock());
  auto m = members(paths_, n.name);
  if (!m.empty())
    fail_invalid("network \"" + n.name + "\" has " + std::to_string(m.size()) + " active endpoint(s) (e.g. container " +
                 display_id(m[0].second) + "); disconnect them first");
  // Under the allocation lock: a setup in progress has its lease before it touches the firewall.
  bool tables_in_use = false;
  for (const auto& other : store_.list())
    tables_in_use = tables_in_use || (other.name != n.name && !members(paths_, other.name).empty());
  make_firewall(cfg_.firewall_backend)->remove_network(n.name, tables_in_use);
  NlSocket nl;
  delete_link(nl, n.bridge);
  for (const auto& dir : {paths_.lease_dir(n.name) + "/v6", paths_.lease_dir(n.name)}) {
    remove_file(dir + "/next");
    ::rmdir(dir.c_str());
  }
  store_.remove(n.name);
}

// Only these networks have the name server. Its launcher costs the hook ~1.5 ms (the
// copy-on-write faults of everything it touches while the launcher lives): a host with the
// default network only should not pay it on every setup. Overlay networks show as their copies
// for the server.
bool Networks::user_networks_exist(const Paths& paths) {
  return has_user_definition(paths.lib_dir + "/networks") || has_user_definition(dns_networks_dir(paths.run_dir));
}

}  // namespace ocinet
