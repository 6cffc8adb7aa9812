#include "netcore/setup_plan.h"

#include <algorithm>

#include "base/error.h"
#include "netcore/discovery.h"
#include "netcore/drivers/driver.h"

namespace ocinet {
namespace {

bool allowed(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

bool wired(const std::string& mode) {
  return mode == "bridge" || mode == "macvlan" || mode == "ipvlan" || mode == "overlay";
}

// The networks the annotations name (the default one for a bridge without any), checked
// against the mode and the admin's policy.
std::vector<std::string> network_names(const Annotations& ann, const AdminConfig& cfg) {
  const std::string& mode = ann.mode;
  if (mode == "overlay" && cfg.etcd_endpoints.empty())
    fail_invalid("io.ocinet.mode: overlay networks need etcd: set etcd.endpoints in the admin config");
  std::vector<std::string> names = ann.networks;
  if (!wired(mode) && !names.empty()) fail_invalid("io.ocinet.network: mode " + mode + " takes no network");
  if (wired(mode) && names.empty()) {
    if (mode != "bridge")
      fail_invalid("io.ocinet.network: mode " + mode + " needs a network (ocinet network create -d " + mode + " ...)");
    names.push_back(cfg.default_network);
  }
  if (names.size() > 10) fail_invalid("io.ocinet.network: at most 10 networks");
  check_policy(cfg.policy, ann, names);
  if (!wired(mode) && !ann.ports.empty()) fail_invalid("io.ocinet.ports: mode " + mode + " cannot publish ports");
  if (!wired(mode) && !ann.links.empty()) fail_invalid("io.ocinet.links: mode " + mode + " has no network to link on");
  return names;
}

// The container whose netns a `container:<ref>` endpoint joins: ready, and still running in
// the very netns it was set up in.
EndpointRecord joined_owner(HostView& host, const std::string& ref, const std::string& mine) {
  EndpointRecord owner;
  try {
    owner = host.running_container(ref);
  } catch (const Error& e) {
    throw Error(e.kind(), std::string("io.ocinet.mode: ") + e.what());
  }
  if (mine != owner.netns_id)
    fail_invalid("io.ocinet.mode: this container's network namespace is not " + owner.name +
                 "'s; point config.json at it with `ocinet bundle inject` or Podman's precreate hook");
  return owner;
}

// The container's netns, checked against the mode; for mode container, its owner.
std::optional<EndpointRecord> plan_netns(HostView& host, const OciState& state, SetupPlan& p) {
  const std::string& mode = p.ann.mode;
  std::string path = p.bundle.netns_path.value_or(state.pid > 0 ? "/proc/" + std::to_string(state.pid) + "/ns/net" : "");
  if (path.empty()) fail_invalid("no network namespace: state.pid is 0 and config.json names no namespace path");
  NetnsView ns = host.netns(path);
  p.ns = ns.open;
  p.rec.netns = path;
  p.rec.netns_id = ns.identity;
  p.configures_inside = mode != "host" && mode != "container";  // a shared netns is its owner's to configure
  if (mode == "host") {
    if (!ns.is_current)
      fail_invalid("io.ocinet.mode: mode host, but the container has a network namespace of its own; remove it from "
                   "config.json with `ocinet bundle inject` or Podman's precreate hook");
  } else if (mode == "container") {
    return joined_owner(host, p.ann.mode_container, ns.identity);
  } else if (ns.is_current) {
    fail_invalid("refusing to configure the host's own network namespace (the container needs a network namespace of its own)");
  }
  return std::nullopt;
}

std::vector<ResolvedNetwork> resolve_networks(HostView& host, const Annotations& ann, const std::vector<std::string>& names) {
  std::vector<ResolvedNetwork> out;
  for (const auto& n : names) {
    out.push_back(host.network(n));
    // An explicit mode names the first network's driver; otherwise the network decides.
    const Driver d = out.back().def.driver;
    if (ann.mode_given && out.size() == 1 && to_string(d) != ann.mode)
      fail_invalid("io.ocinet.network: network " + n + " uses driver " + to_string(d) + ", not " + ann.mode);
  }
  return out;
}

void check_host_address(HostView& host, const PortSpec& spec, const NetworkDef& first) {
  auto addr = parse_ipv4(spec.host_ip);
  if (!addr && !first.subnet6)  // IPv6 (parsed and checked in config/ports)
    fail_invalid("io.ocinet.ports: host address " + spec.host_ip + " is IPv6, but network " + first.name +
                 " has no IPv6 subnet (ocinet network create --ipv6)");
  // 0.0.0.0 and :: are Docker's "every address"; anything else must be one of the host's own.
  const bool every = addr ? *addr == 0 : spec.host_ip == "::";
  if (!every && !host.is_local_address(spec.host_ip))
    fail_invalid("io.ocinet.ports: host address " + spec.host_ip + " is not an address of this host");
  if (spec.host_ip == "::1" && host.bridged_ipv6_to_netfilter())
    fail_invalid("io.ocinet.ports: [::1] cannot be published on this host: br_netfilter hands bridged IPv6 to "
                 "the host's netfilter (net.bridge.bridge-nf-call-ip6tables=1), which turns the container's "
                 "answers back to ::1 before the kernel drops them as coming from the bridge; publish on "
                 "127.0.0.1 or on a host IPv6 address, or set net.bridge.bridge-nf-call-ip6tables=0");
}

// Published ports go through the first network's NAT. A host port a host process uses would
// lose its traffic to the DNAT, silently: a given one is refused here (as Docker and Podman
// do), a picked one is skipped by the port table.
void check_published(HostView& host, SetupPlan& p) {
  if (p.ann.ports.empty()) return;
  const NetworkDef& first = p.networks[0].def;
  if (!network_driver(first.driver).has_firewall())
    fail_invalid("io.ocinet.ports: network " + first.name + " (" + to_string(first.driver) +
                 ") has no NAT to publish ports through");
  for (const auto& spec : p.ann.ports)
    if (!spec.host_ip.empty()) check_host_address(host, spec, first);
  // The container has an IPv6 address on a dual-stack first network: ports published on every
  // address are then published over IPv6 too.
  p.ports_over_ip6 = first.subnet6.has_value();
  p.host_sockets = host.sockets_for(p.ann.ports);
  check_host_ports(p.host_sockets, p.ann.ports, p.ports_over_ip6);
}

std::vector<HostsEntry> resolve_links(HostView& host, const Annotations& ann, const std::string& network) {
  std::vector<HostsEntry> out;
  for (const auto& l : ann.links) {
    auto holder = host.name_holder(l.name);
    std::optional<EndpointRecord> peer;
    if (holder && is_valid_name(*holder, kMaxLegacyIdLen)) peer = host.record(*holder);
    const Attachment* on_net = nullptr;
    if (peer && peer->ready())
      for (const auto& a : peer->attachments)
        if (a.network == network) on_net = &a;
    if (!on_net) fail_invalid("io.ocinet.links: no running container named \"" + l.name + "\" on network " + network);
    HostsEntry e{on_net->ip, {}};
    if (!l.alias.empty()) e.names.push_back(l.alias);
    e.names.push_back(l.name);
    out.push_back(e);
  }
  return out;
}

// The name server answers on the container's own lo, so every driver can reach it; a joined
// container shares its owner's lo, and so its server.
bool answered_by_name_server(HostView& host, const SetupPlan& p, const std::optional<EndpointRecord>& owner) {
  for (const auto& n : p.networks)
    if (has_embedded_dns(n.def)) return true;
  if (owner)
    for (const auto& a : owner->attachments)
      if (auto n = host.local_network(a.network); n && has_embedded_dns(*n)) return true;
  return false;
}

void plan_attachments(const std::string& id, SetupPlan& p) {
  for (size_t i = 0; i < p.networks.size(); i++) {
    const NetworkDef& net = p.networks[i].def;
    Attachment a;
    network_driver(net.driver).plan(net, id, i, a);
    if (p.ann.mtu.value_or(0) > 0) a.mtu = *p.ann.mtu;
    if (i == 0) a.mac = p.ann.mac.value_or("");
    if (net.name != kDefaultBridgeNetwork) a.aliases = p.ann.aliases;
    p.rec.attachments.push_back(a);
  }
  if (int r = default_route_candidate(p.rec.attachments); r >= 0) p.rec.attachments[r].default_route = true;
}

void plan_record(const OciState& state, SetupPlan& p) {
  EndpointRecord& rec = p.rec;
  rec.id = rec.tag = state.id;
  rec.name = p.ann.name.value_or(default_name(state.id));
  rec.mode = p.networks.empty() ? p.ann.mode : to_string(p.networks[0].def.driver);
  rec.pid = state.pid;
  rec.rootfs = p.bundle.rootfs;
  rec.hostname = p.bundle.hostname == rec.name ? "" : p.bundle.hostname;
  if (auto it = p.bundle.file_mounts.find("/etc/hosts"); it != p.bundle.file_mounts.end()) rec.hosts_source = it->second;
  if (auto it = p.bundle.file_mounts.find("/etc/resolv.conf"); it != p.bundle.file_mounts.end())
    rec.resolv_source = it->second;
  rec.links = p.ann.links;
  rec.dns = p.ann.dns;
  plan_attachments(state.id, p);
}

}  // namespace

std::string default_name(const std::string& id) { return display_id(id).substr(0, kMaxNameLen); }

void check_policy(const Policy& p, const Annotations& a, const std::vector<std::string>& networks) {
  if (!allowed(p.allowed_modes, a.mode)) fail_invalid("policy allowed_modes: mode " + a.mode + " is not allowed");
  for (auto& n : networks)
    if (!allowed(p.allowed_networks, n)) fail_invalid("policy allowed_networks: network " + n + " is not allowed");
  if (!p.allow_static_ip && (a.ip || a.ip6 || a.mac))
    fail_invalid("policy allow_static_ip: static addresses are not allowed");
  // Counted in ports, not specs: a range costs the kernel, conntrack and the host's port space
  // what its ports do, and `1-65535:1-65535` must be something the admin allowed.
  int64_t ports = 0;
  for (auto& s : a.ports) ports += s.count();
  if (ports > p.max_published_ports)
    fail_invalid("policy max_published_ports: io.ocinet.ports asks for " + std::to_string(ports) +
                 " published ports, at most " + std::to_string(p.max_published_ports) + " are allowed");
  for (auto& s : a.ports) {
    if (!s.host_dynamic() && s.host_start < p.min_host_port)
      fail_invalid("policy min_host_port: host port " + std::to_string(s.host_start) + " is below " +
                   std::to_string(p.min_host_port));
    if (!s.host_ip.empty() && !allowed(p.allowed_host_ips, s.host_ip))
      fail_invalid("policy allowed_host_ips: host address " + s.host_ip + " is not allowed");
  }
}

SetupPlan plan_setup(HostView& host, const AdminConfig& cfg, const OciState& state) {
  SetupPlan p;
  p.ann = parse_annotations(state.annotations);
  const std::vector<std::string> names = network_names(p.ann, cfg);
  if (state.bundle.empty()) fail_invalid("OCI state: no bundle path");
  p.bundle = host.bundle(state.bundle);
  const std::optional<EndpointRecord> owner = plan_netns(host, state, p);
  if (owner) {
    p.rec.owner = owner->id;
    p.joined = own_entries(*owner);
  }
  p.networks = resolve_networks(host, p.ann, names);
  check_published(host, p);
  if (!p.networks.empty()) p.link_entries = resolve_links(host, p.ann, p.networks[0].def.name);
  p.firewall = std::any_of(p.networks.begin(), p.networks.end(),
                           [](const ResolvedNetwork& n) { return network_driver(n.def.driver).has_firewall(); });
  p.dns = answered_by_name_server(host, p, owner);
  plan_record(state, p);
  return p;
}

}  // namespace ocinet
