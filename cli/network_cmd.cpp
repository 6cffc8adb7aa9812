#include "cli/network_cmd.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "config/admin_config.h"
#include "netcore/endpoint_record.h"
#include "netcore/firewall/firewall.h"
#include "netcore/ipam.h"
#include "netcore/network_store.h"
#include "netcore/networks.h"
#include "netcore/overlay/overlay.h"
#include "netcore/restore.h"
#include "netcore/setup.h"

namespace ocinet {
namespace {

using nlohmann::json;

Paths paths_of(const GlobalOptions& o) { return Paths{o.run_dir, o.lib_dir}; }

Networks networks_of(const GlobalOptions& o) { return Networks(paths_of(o), load_admin_config(o.config)); }

std::vector<std::pair<uint32_t, std::string>> members(const GlobalOptions& o, const std::string& network) {
  return LeaseStore::list_at(paths_of(o).lease_dir(network));
}

// Docker's scope: overlay definitions live in etcd, shared by every host.
const char* scope(const NetworkDef& n) { return n.driver == Driver::overlay ? "global" : "local"; }

json inspect_json(const GlobalOptions& o, Networks& nets, const NetworkDef& n) {
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
    auto me = overlay::load_host(paths_of(o));
    std::map<std::string, json> by_host;
    for (const auto& e : overlay::endpoints_on(nets.etcd(), n.name))
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

// `network reload`: the rules of running endpoints written again from their records (Podman's
// command; the packages run it when nftables.service or firewalld restarts or reloads).
void cmd_reload(const GlobalOptions& o, bool all, const std::vector<std::string>& refs) {
  if (all == !refs.empty()) fail_invalid("network reload: give --all or container names/ids (not both)");
  auto cfg = load_admin_config(o.config);
  auto fw = make_firewall(cfg.firewall_backend);
  std::vector<std::string> ids;
  for (const auto& r : refs) ids.push_back(resolve_container(o, r));
  const RestoreResult r = restore_firewall(paths_of(o), *fw, ids);
  std::string nets;
  for (const auto& n : r.networks) nets += (nets.empty() ? " on " : ", ") + n;
  std::printf("restored the %s rules of %zu endpoint(s)%s\n", fw->name(), r.endpoints, nets.c_str());
  for (const auto& id : r.busy)
    std::printf("skipped %s: a setup or teardown is at work on it and writes its rules itself\n", display_id(id).c_str());
}


// -o KEY=VALUE pairs into `options`.
void parse_driver_options(const std::vector<std::string>& pairs, std::map<std::string, std::string>& options) {
  for (const auto& kv : pairs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) fail_invalid("-o \"" + kv + "\": want KEY=VALUE");
    options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

void add_create_command(CLI::App& net, GlobalOptions& opts) {
  auto* create = net.add_subcommand("create", "create a network");
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
    parse_driver_options(*opt_list, req->options);
    std::printf("%s\n", networks_of(opts).create(*req).id.c_str());
  });
}

void print_networks(const std::vector<NetworkDef>& nets, const std::string& format) {
  if (format == "json") {
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
                scope(n), n.subnet.str().c_str());
}

void add_ls_command(CLI::App& net, GlobalOptions& opts) {
  auto* ls = net.add_subcommand("ls", "list networks");
  auto format = std::make_shared<std::string>("table");
  ls->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  ls->callback([&opts, format] { print_networks(networks_of(opts).list(), *format); });
}

void add_inspect_command(CLI::App& net, GlobalOptions& opts) {
  auto* inspect = net.add_subcommand("inspect", "show networks as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  inspect->add_option("names", *names, "network names")->required();
  inspect->callback([&opts, names] {
    auto nets = networks_of(opts);
    json out = json::array();
    for (const auto& name : *names) out.push_back(inspect_json(opts, nets, nets.resolve(name).def));
    std::printf("%s\n", out.dump(4).c_str());
  });
}

void add_rm_command(CLI::App& net, GlobalOptions& opts, int& exit_code) {
  auto* rm = net.add_subcommand("rm", "remove networks (refused while endpoints are attached)");
  auto names = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *names, "network names")->required();
  rm->callback([&opts, names, &exit_code] {
    auto nets = networks_of(opts);
    for (const auto& name : *names) {
      // Docker goes on with the other names and fails at the end; so does ocinet.
      try {
        nets.remove(name);
        std::printf("%s\n", name.c_str());
      } catch (const Error& e) {
        std::fprintf(stderr, "ocinet: %s\n", e.what());
        exit_code = std::max(exit_code, e.exit_code());
      }
    }
  });
}

void add_prune_command(CLI::App& net, GlobalOptions& opts) {
  auto* prune = net.add_subcommand("prune", "remove every network without endpoints");
  prune->callback([&opts] {
    auto nets = networks_of(opts);
    // Local definitions only: an overlay network is shared with the other hosts, whose
    // endpoints this host's leases do not show.
    for (const auto& n : NetworkStore(opts.lib_dir).list()) {
      if (n.name == kDefaultBridgeNetwork || !members(opts, n.name).empty()) continue;
      nets.remove(n.name);
      std::printf("Deleted Network: %s\n", n.name.c_str());
    }
  });
}

void add_connect_commands(CLI::App& net, GlobalOptions& opts) {
  auto* connect = net.add_subcommand("connect", "connect a running container to a network");
  auto conn = std::make_shared<std::array<std::string, 3>>();  // network, container, ip
  auto conn_aliases = std::make_shared<std::vector<std::string>>();
  connect->add_option("--ip", (*conn)[2], "static IPv4 address");
  connect->add_option("--alias", *conn_aliases, "network-scoped alias");
  connect->add_option("network", (*conn)[0], "network name")->required();
  connect->add_option("container", (*conn)[1], "container name or id")->required();
  connect->callback([&opts, conn, conn_aliases] {
    connect_endpoint(opts, load_admin_config(opts.config), (*conn)[0], (*conn)[1], (*conn)[2], *conn_aliases);
  });

  auto* disconnect = net.add_subcommand("disconnect", "disconnect a running container from a network");
  auto disc = std::make_shared<std::array<std::string, 2>>();
  disconnect->add_option("network", (*disc)[0], "network name")->required();
  disconnect->add_option("container", (*disc)[1], "container name or id")->required();
  disconnect->callback([&opts, disc] { disconnect_endpoint(opts, load_admin_config(opts.config), (*disc)[0], (*disc)[1]); });
}

void add_reload_command(CLI::App& net, GlobalOptions& opts) {
  auto* reload = net.add_subcommand("reload", "rebuild the firewall state of running containers (after a flush)");
  auto all = std::make_shared<bool>(false);
  auto refs = std::make_shared<std::vector<std::string>>();
  reload->add_flag("--all,-a", *all, "every running container");
  reload->add_option("container", *refs, "container names or ids");
  reload->callback([&opts, all, refs] { cmd_reload(opts, *all, *refs); });
}

}  // namespace

void add_network_commands(CLI::App& app, GlobalOptions& opts, int& exit_code) {
  auto* net = app.add_subcommand("network", "manage networks");
  net->require_subcommand(1);
  add_create_command(*net, opts);
  add_ls_command(*net, opts);
  add_inspect_command(*net, opts);
  add_rm_command(*net, opts, exit_code);
  add_connect_commands(*net, opts);
  add_reload_command(*net, opts);
  add_prune_command(*net, opts);
}

}  // namespace ocinet
