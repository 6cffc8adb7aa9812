#include "cli/network_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "config/admin_config.h"
#include "netcore/endpoint_record.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/network_store.h"
#include "netcore/overlay/overlay.h"
#include "netcore/restore.h"
#include "netcore/setup.h"

namespace ocinet {
namespace {

using nlohmann::json;

std::vector<Ipv4Net> host_routes() {
  NlSocket nl;
  return ipv4_routes(nl);
}

// The routes the default network's subnet rule sees: less those of its own bridge, as the hook's.
std::vector<Ipv4Net> default_network_routes() {
  NlSocket nl;
  return ipv4_routes(nl, kDefaultBridgeDevice);
}

// Every network, with the default one defined on first sight (Docker always lists it), and the
// overlay networks from etcd when it is configured.
std::vector<NetworkDef> all_networks(const GlobalOptions& o, const AdminConfig& cfg) {
  NetworkStore store(o.lib_dir);
  store.resolve(kDefaultBridgeNetwork, cfg, default_network_routes);
  auto nets = store.list();
  if (!cfg.etcd_endpoints.empty()) {
    auto etcd = overlay::connect(cfg);
    for (auto& n : overlay::list_networks(etcd)) {
      n.bridge = overlay::bridge_name(n);
      nets.push_back(n);
    }
  }
  std::sort(nets.begin(), nets.end(), [](const NetworkDef& a, const NetworkDef& b) { return a.name < b.name; });
  return nets;
}

NetworkDef find_network(const GlobalOptions& o, const AdminConfig& cfg, const std::string& name) {
  NetworkStore store(o.lib_dir);
  if (name == kDefaultBridgeNetwork) return store.resolve(name, cfg, default_network_routes);
  auto n = store.load(name);
  if (!n && !cfg.etcd_endpoints.empty()) {
    auto etcd = overlay::connect(cfg);
    if (auto s = overlay::get_network(etcd, name)) {
      s->def.bridge = overlay::bridge_name(s->def);
      return s->def;
    }
  }
  if (!n) fail_invalid("network \"" + name + "\" not found");
  return *n;
}

std::vector<std::pair<uint32_t, std::string>> members(const GlobalOptions& o, const std::string& network) {
  return LeaseStore::list_at(Paths{o.run_dir, o.lib_dir}.lease_dir(network));
}

// Docker's scope: overlay definitions live in etcd, shared by every host.
const char* scope(const NetworkDef& n) { return n.driver == Driver::overlay ? "global" : "local"; }

json inspect_json(const GlobalOptions& o, const AdminConfig& cfg, const NetworkDef& n) {
  json ipam_cfg{{"Subnet", n.subnet.str()}, {"Gateway", ipv4_str(n.gateway)}};
  if (n.ip_range) ipam_cfg["IPRange"] = n.ip_range->str();
  json ipam_configs = json::array({ipam_cfg});
  if (n.subnet6) ipam_configs.push_back({{"Subnet", n.subnet6->str()}, {"Gateway", n.gateway6}});
  json options = n.options;
  if (n.driver != Driver::overlay) options["com.docker.network.bridge.name"] = n.bridge;
  if (n.mtu) options["com.docker.network.driver.mtu"] = std::to_string(n.mtu);
  json containers = json::object();
  RecordStore records(o.run_dir);
  json peers = json::array();
  if (n.driver == Driver::overlay) {
    // Docker lists the local containers under Containers and the other hosts under Peers.
    auto etcd = overlay::connect(cfg);
    auto me = overlay::load_host(Paths{o.run_dir, o.lib_dir});
    std::map<std::string, json> by_host;
    for (const auto& e : overlay::endpoints_on(etcd, n.name))
      if (!me || e.host != me->host) by_host[e.vtep] = json{{"Name", e.host}, {"IP", e.vtep}};
    for (auto& [vtep, p] : by_host) peers.push_back(p);
  }
  for (const auto& [ip, id] : members(o, n.name)) {
    json c{{"Name", ""}, {"IPv4Address", ipv4_str(ip) + "/" + std::to_string(n.subnet.prefix)}, {"MacAddress", ""},
           {"IPv6Address", ""}};
    if (is_valid_name(id, kMaxLegacyIdLen))
      if (auto r = records.load(id)) {
        c["Name"] = r->name;
        for (const auto& a : r->attachments)
          if (a.network == n.name) {
            c["MacAddress"] = a.mac;
            if (!a.ip6.empty()) c["IPv6Address"] = a.ip6 + "/" + std::to_string(a.prefix6);
          }
      }
    containers[id] = c;
  }
  json out{{"Name", n.name},
              {"Id", n.id},
              {"Created", n.created},
              {"Scope", scope(n)},
              {"Driver", to_string(n.driver)},
              {"EnableIPv6", n.ipv6},
              {"IPAM", {{"Driver", "default"}, {"Options", json::object()}, {"Config", ipam_configs}}},
              {"Internal", n.internal},
              {"DNSEnabled", has_embedded_dns(n)},
              {"NetworkDNSServers", n.dns_servers},
              {"Attachable", false},
              {"Containers", containers},
              {"Options", options},
              {"Labels", json::object()}};
  if (n.driver == Driver::overlay) out["Peers"] = peers;
  return out;
}

// Removes a network with no endpoints: its bridge, its firewall rules, its leases dir, its file.
void remove_network(const GlobalOptions& o, const AdminConfig& cfg, const NetworkDef& n) {
  if (n.name == kDefaultBridgeNetwork) fail_invalid("network \"bridge\" is the default network and cannot be removed");
  if (n.driver == Driver::overlay) {  // every host's agent removes its devices when it sees this
    auto etcd = overlay::connect(cfg);
    overlay::remove_network(etcd, n.name);
    return;
  }
  Paths paths{o.run_dir, o.lib_dir};
  NetworkStore store(o.lib_dir);
  FileLock store_lock(store.lock_path());
  FileLock alloc_lock(paths.alloc_lock());
  auto m = members(o, n.name);
  if (!m.empty())
    fail_invalid("network \"" + n.name + "\" has " + std::to_string(m.size()) + " active endpoint(s) (e.g. container " +
                 display_id(m[0].second) + "); disconnect them first");
  // Under the allocation lock: a setup in progress has its lease before it touches the firewall.
  bool tables_in_use = false;
  for (const auto& other : store.list())
    tables_in_use = tables_in_use || (other.name != n.name && !members(o, other.name).empty());
  make_firewall(cfg.firewall_backend)->remove_network(n.name, tables_in_use);
  NlSocket nl;
  delete_link(nl, n.bridge);
  for (const auto& dir : {paths.lease_dir(n.name) + "/v6", paths.lease_dir(n.name)}) {
    remove_file(dir + "/next");
    ::rmdir(dir.c_str());
  }
  store.remove(n.name);
}

// `network reload`: the rules of running endpoints written again from their records (Podman's
// command; the packages run it when nftables.service or firewalld restarts or reloads).
void cmd_reload(const GlobalOptions& o, bool all, const std::vector<std::string>& refs) {
  if (all == !refs.empty()) fail_invalid("network reload: give --all or container names/ids (not both)");
  auto cfg = load_admin_config(o.config);
  auto fw = make_firewall(cfg.firewall_backend);
  std::vector<std::string> ids;
  for (const auto& r : refs) ids.push_back(resolve_container(o, r));
  const RestoreResult r = restore_firewall(Paths{o.run_dir, o.lib_dir}, *fw, ids);
  std::string nets;
  for (const auto& n : r.networks) nets += (nets.empty() ? " on " : ", ") + n;
  std::printf("restored the %s rules of %zu endpoint(s)%s\n", fw->name(), r.endpoints, nets.c_str());
  for (const auto& id : r.busy)
    std::printf("skipped %s: a setup or teardown is at work on it and writes its rules itself\n", display_id(id).c_str());
}

}  // namespace

void add_network_commands(CLI::App& app, GlobalOptions& opts, int& exit_code) {
  auto* net = app.add_subcommand("network", "manage networks");
  net->require_subcommand(1);

  auto* create = net->add_subcommand("create", "create a network");
  auto req = std::make_shared<NetworkCreateRequest>();
  auto opt_list = std::make_shared<std::vector<std::string>>();
  create->add_option("-d,--driver", req->driver, "driver: bridge, macvlan, ipvlan, overlay");
  create->add_option("--subnet", req->subnets, "subnet in CIDR form");
  create->add_option("--gateway", req->gateways, "gateway address");
  create->add_option("--ip-range", req->ip_range, "allocate addresses from this sub-range");
  create->add_flag("--internal", req->internal, "no NAT, no route off the bridge");
  create->add_flag("--ipv6", req->ipv6, "enable IPv6");
  create->add_option("--mtu", req->mtu, "MTU of the bridge and the containers' interfaces");
  create->add_option("-o,--opt", *opt_list, "driver option KEY=VALUE");
  create->add_flag("--disable-dns", req->disable_dns, "no embedded name server for the network's containers");
  create->add_option("--dns", req->dns, "upstream name server of the network's containers (repeatable)");
  create->add_option("name", req->name, "network name")->required();
  create->callback([&opts, req, opt_list] {
    for (const auto& kv : *opt_list) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) fail_invalid("-o \"" + kv + "\": want KEY=VALUE");
      req->options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto cfg = load_admin_config(opts.config);
    if (parse_driver(req->driver) == Driver::overlay) {
      NetworkStore store(opts.lib_dir);
      if (store.load(req->name)) fail_invalid("network \"" + req->name + "\" already exists on this host");
      std::vector<Ipv4Net> taken;
      for (const auto& l : store.list()) taken.push_back(l.subnet);
      auto etcd = overlay::connect(cfg);
      std::printf("%s\n", overlay::create_network(etcd, cfg, *req, taken).id.c_str());
      return;
    }
    auto n = create_network(NetworkStore(opts.lib_dir), cfg, *req, host_routes(), default_network_routes());
    std::printf("%s\n", n.id.c_str());
  });

  auto* ls = net->add_subcommand("ls", "list networks");
  auto format = std::make_shared<std::string>("table");
  ls->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  ls->callback([&opts, format] {
    auto nets = all_networks(opts, load_admin_config(opts.config));
    if (*format == "json") {
      json out = json::array();
      for (const auto& n : nets)
        out.push_back({{"Name", n.name}, {"Id", n.id}, {"Driver", to_string(n.driver)}, {"Scope", scope(n)}, {"Subnet", n.subnet.str()},
                       {"Internal", n.internal}});
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    std::printf("%-12s  %-20s  %-8s  %-6s  %s\n", "NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET");
    for (const auto& n : nets)
      std::printf("%-12s  %-20s  %-8s  %-6s  %s\n", n.id.substr(0, 12).c_str(), n.name.c_str(), to_string(n.driver).c_str(),
                  scope(n),
                  n.subnet.str().c_str());
  });

  auto* inspect = net->add_subcommand("inspect", "show networks as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  inspect->add_option("names", *names, "network names")->required();
  inspect->callback([&opts, names] {
    auto cfg = load_admin_config(opts.config);
    json out = json::array();
    for (const auto& name : *names) out.push_back(inspect_json(opts, cfg, find_network(opts, cfg, name)));
    std::printf("%s\n", out.dump(4).c_str());
  });

  auto* rm = net->add_subcommand("rm", "remove networks (refused while endpoints are attached)");
  auto rm_names = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *rm_names, "network names")->required();
  rm->callback([&opts, rm_names, &exit_code] {
    auto cfg = load_admin_config(opts.config);
    for (const auto& name : *rm_names) {
      // Docker goes on with the other names and fails at the end; so does ocinet.
      try {
        remove_network(opts, cfg, find_network(opts, cfg, name));
        std::printf("%s\n", name.c_str());
      } catch (const Error& e) {
        std::fprintf(stderr, "ocinet: %s\n", e.what());
        exit_code = std::max(exit_code, e.exit_code());
      }
    }
  });

  auto* connect = net->add_subcommand("connect", "connect a running container to a network");
  auto conn = std::make_shared<std::array<std::string, 3>>();  // network, container, ip
  auto conn_aliases = std::make_shared<std::vector<std::string>>();
  connect->add_option("--ip", (*conn)[2], "static IPv4 address");
  connect->add_option("--alias", *conn_aliases, "network-scoped alias");
  connect->add_option("network", (*conn)[0], "network name")->required();
  connect->add_option("container", (*conn)[1], "container name or id")->required();
  connect->callback([&opts, conn, conn_aliases] {
    connect_endpoint(opts, load_admin_config(opts.config), (*conn)[0], (*conn)[1], (*conn)[2], *conn_aliases);
  });

  auto* disconnect = net->add_subcommand("disconnect", "disconnect a running container from a network");
  auto disc = std::make_shared<std::array<std::string, 2>>();
  disconnect->add_option("network", (*disc)[0], "network name")->required();
  disconnect->add_option("container", (*disc)[1], "container name or id")->required();
  disconnect->callback([&opts, disc] { disconnect_endpoint(opts, load_admin_config(opts.config), (*disc)[0], (*disc)[1]); });

  auto* reload = net->add_subcommand("reload", "rebuild the firewall state of running containers (after a flush)");
  auto reload_all = std::make_shared<bool>(false);
  auto reload_refs = std::make_shared<std::vector<std::string>>();
  reload->add_flag("--all,-a", *reload_all, "every running container");
  reload->add_option("container", *reload_refs, "container names or ids");
  reload->callback([&opts, reload_all, reload_refs] { cmd_reload(opts, *reload_all, *reload_refs); });

  auto* prune = net->add_subcommand("prune", "remove every network without endpoints");
  prune->callback([&opts] {
    auto cfg = load_admin_config(opts.config);
    for (const auto& n : NetworkStore(opts.lib_dir).list()) {
      if (n.name == kDefaultBridgeNetwork || !members(opts, n.name).empty()) continue;
      remove_network(opts, cfg, n);
      std::printf("Deleted Network: %s\n", n.name.c_str());
    }
  });
}

}  // namespace ocinet
