#include "netcore/setup.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "config/annotations.h"
#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "netcore/dns_feed.h"
#include "netcore/dns_link.h"
#include <spdlog/spdlog.h>
#include "netcore/drivers/driver.h"
#include "base/error.h"
#include "netcore/fault.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/host_ports.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"
#include "netcore/overlay/overlay.h"
#include "netcore/port_table.h"
#include "netcore/restore.h"

namespace ocinet {
namespace {

// Docker's fallback when the host has no usable resolver.
const std::vector<std::string> kFallbackDns = {"8.8.8.8", "8.8.4.4"};

bool allowed(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// Takes RUN/names/<name> for `id`. A name held by a container that has no endpoint record any
// more is stale and taken over. An explicit name is unique; a default name (the short id) that
// is taken is Docker's "no name": the container is then found by its id alone.
void register_name(const Paths& paths, const RecordStore& records, const std::string& name, const std::string& id,
                   bool explicit_name) {
  fault_point("register name");
  std::string path = paths.names_dir() + "/" + name;
  if (create_owner_mark(path, id)) return;
  auto holder = read_owner_mark(path);
  if (holder && *holder == id) return;
  if (holder && is_valid_name(*holder, kMaxLegacyIdLen) && records.load(*holder)) {
    if (!explicit_name) return;
    fail_invalid("name \"" + name + "\" is already in use by container " + display_id(*holder));
  }
  replace_owner_mark(path, id);
}

// The name a container answers to when it is given none: its short id, cut to a name's length.
std::string default_name(const std::string& id) { return display_id(id).substr(0, kMaxNameLen); }

struct Plan {
  OciState state;
  BundleConfig bundle;
  Annotations ann;
  std::string name;
  std::string hostname;
  std::vector<NetworkDef> networks;
  std::vector<HostsEntry> link_entries;
  std::vector<HostsEntry> joined;  // mode container: the owner's addresses
  bool dns = false;                // answered by the embedded name server (127.0.0.11)
};

std::vector<HostsEntry> resolve_links(const Paths& paths, const RecordStore& records, const Annotations& ann,
                                      const std::string& network) {
  std::vector<HostsEntry> out;
  for (const auto& l : ann.links) {
    auto holder = read_owner_mark(paths.names_dir() + "/" + l.name);
    std::optional<EndpointRecord> peer;
    if (holder && is_valid_name(*holder, kMaxLegacyIdLen)) peer = records.load(*holder);
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

ContainerFileTarget file_target(const BundleConfig& b, const std::string& dest) {
  ContainerFileTarget t{b.rootfs, dest.substr(1), std::nullopt};
  if (auto it = b.file_mounts.find(dest); it != b.file_mounts.end()) t.bind_source = it->second;
  return t;
}

void update_file(ContainerFiles& files, const BundleConfig& b, const std::string& dest,
                 const std::vector<std::string>& lines) {
  auto t = file_target(b, dest);
  fault_point(dest.c_str());
  try {
    files.write(t, merge_block(files.read(t), lines));
  } catch (const Error& e) {
    throw Error(e.kind(), "writing " + dest + ": " + e.what());
  }
}

// Docker's resolv.conf: on networks with the name server, it alone (io.ocinet.dns servers are
// its upstreams then) with `options ndots:0` unless an ndots is given; else the given servers
// or the host's. Search domains and options: the given ones, else the host's.
ResolvConf container_resolv(const Plan& p) {
  const ResolvConf host = host_resolv_conf(p.ann.mode == "host");
  ResolvConf rc{p.ann.dns, p.ann.dns_search, p.ann.dns_options};
  if (rc.search.empty()) rc.search = host.search;
  if (rc.options.empty()) rc.options = host.options;
  if (p.dns) {
    rc.nameservers = {kEmbeddedDnsAddress};
    if (std::none_of(rc.options.begin(), rc.options.end(), [](const std::string& o) { return o.rfind("ndots:", 0) == 0; }))
      rc.options.push_back("ndots:0");
  } else if (rc.nameservers.empty()) {
    rc.nameservers = host.nameservers.empty() ? kFallbackDns : host.nameservers;
  }
  return rc;
}

void write_files(const Plan& p, const EndpointRecord& rec, const std::vector<PeerEntry>& peers) {
  std::vector<HostsEntry> entries = p.link_entries;
  for (const auto& h : p.ann.hosts) entries.push_back({h.ip, {h.hostname}});
  if (p.ann.mode == "host") {
    // The container is the host, network-wise: it answers to the host's name too.
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0 && is_valid_hostname(name)) entries.push_back({"127.0.1.1", {name, p.name}});
  }
  for (auto e : p.joined) {  // mode container: the owner's addresses carry the joiner's name too
    e.names.push_back(p.name);
    entries.push_back(e);
  }
  auto lines = hosts_lines(entries);
  // Own addresses carry the container's own marker so connect/disconnect can re-render them.
  std::vector<PeerEntry> marked;
  for (const auto& e : own_entries(rec)) marked.push_back({rec.tag, e});
  marked.insert(marked.end(), peers.begin(), peers.end());
  for (const auto& l : peer_lines(marked)) lines.push_back(l);
  ContainerFiles files;
  update_file(files, p.bundle, "/etc/hosts", lines);

  update_file(files, p.bundle, "/etc/resolv.conf", resolv_lines(container_resolv(p)));

  // /etc/hostname holds only the name: no room for markers, so it is written whole.
  auto t = file_target(p.bundle, "/etc/hostname");
  fault_point("/etc/hostname");
  try {
    files.write(t, (p.hostname.empty() ? p.name : p.hostname) + "\n");
  } catch (const Error& e) {
    throw Error(e.kind(), "writing /etc/hostname: " + std::string(e.what()));
  }
}

// Rollback of write_files: ocinet's blocks out of the container's hosts and resolv.conf, best
// effort (/etc/hostname holds only the name and is left).
void remove_own_blocks(const BundleConfig& b) {
  ContainerFiles files;
  for (const char* dest : {"/etc/hosts", "/etc/resolv.conf"}) {
    try {
      auto t = file_target(b, dest);
      std::string text = files.read(t);
      if (text.find(kBlockBegin) != std::string::npos) files.write(t, merge_block(text, {}));
    } catch (const Error&) {
    }
  }
}

}  // namespace

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

namespace {
// Leases of a dual-stack network's IPv6 subnet: host indexes in an IPv4-shaped index space, so
// the same O(1), O_EXCL-based LeaseStore serves both families (see Ipv6Net).
LeaseStore v6_leases(const Paths& paths, const NetworkDef& net) {
  int host_bits = std::min(32, 128 - net.subnet6->prefix);
  return LeaseStore(paths.lease_dir(net.name) + "/v6", Ipv4Net{0, 32 - host_bits}, *net.subnet6->index_of(net.gateway6));
}
}  // namespace

void lease_addresses(const Paths& paths, const NetworkDef& net, const std::string& id, std::optional<uint32_t> ip,
                     const std::optional<std::string>& ip6, Attachment& a) {
  fault_point("take lease");
  LeaseStore leases(paths.lease_dir(net.name), net.subnet, net.gateway, net.ip_range);
  uint32_t v4 = ip ? leases.allocate_static(id, *ip) : leases.allocate(id);
  a.ip = ipv4_str(v4);
  if (a.mac.empty()) a.mac = mac_for_ip(v4);
  if (!net.subnet6) {
    if (ip6) fail_invalid("io.ocinet.ip6: network " + net.name + " has no IPv6 subnet");
    return;
  }
  auto store = v6_leases(paths, net);
  uint32_t idx;
  if (ip6) {
    auto want = net.subnet6->index_of(*ip6);
    if (!want) fail_invalid("io.ocinet.ip6: " + *ip6 + " is outside " + net.subnet6->str());
    idx = store.allocate_static(id, *want);
  } else {
    idx = store.allocate(id);
  }
  a.ip6 = net.subnet6->at(idx);
}

namespace {

// The container whose netns a `container:<ref>` endpoint joins: ready, and still running in
// the very netns it was set up in.
bool owner_has_dns(const NetworkStore& store, const EndpointRecord& owner) {
  for (const auto& a : owner.attachments)
    if (auto n = store.load(a.network); n && has_embedded_dns(*n)) return true;
  return false;
}

EndpointRecord joined_owner(const GlobalOptions& opts, const std::string& ref, const Netns& mine) {
  EndpointRecord owner;
  try {
    owner = running_container(opts, ref);
  } catch (const Error& e) {
    throw Error(e.kind(), std::string("io.ocinet.mode: ") + e.what());
  }
  if (mine.identity() != owner.netns_id)
    fail_invalid("io.ocinet.mode: this container's network namespace is not " + owner.name +
                 "'s; point config.json at it with `ocinet bundle inject` or Podman's precreate hook");
  return owner;
}

}  // namespace

EndpointRecord setup_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const OciState& state) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  if (!is_valid_name(state.id, kMaxContainerIdLen))
    fail_invalid("OCI state: container id longer than " + std::to_string(kMaxContainerIdLen) + " characters");
  FileLock endpoint_lock(paths.endpoint_lock(state.id));

  // 1. Validate everything before the first change.
  Plan p;
  p.state = state;
  p.ann = parse_annotations(state.annotations);
  const std::string mode = p.ann.mode;
  const bool wired = mode == "bridge" || mode == "macvlan" || mode == "ipvlan" || mode == "overlay";
  if (mode == "overlay" && cfg.etcd_endpoints.empty())
    fail_invalid("io.ocinet.mode: overlay networks need etcd: set etcd.endpoints in the admin config");
  std::vector<std::string> net_names = p.ann.networks;
  if (!wired && !net_names.empty()) fail_invalid("io.ocinet.network: mode " + mode + " takes no network");
  if (wired && net_names.empty()) {
    if (mode != "bridge")
      fail_invalid("io.ocinet.network: mode " + mode + " needs a network (ocinet network create -d " + mode + " ...)");
    net_names.push_back(cfg.default_network);
  }
  if (net_names.size() > 10) fail_invalid("io.ocinet.network: at most 10 networks");
  check_policy(cfg.policy, p.ann, net_names);
  if (!wired && !p.ann.ports.empty()) fail_invalid("io.ocinet.ports: mode " + mode + " cannot publish ports");
  if (!wired && !p.ann.links.empty()) fail_invalid("io.ocinet.links: mode " + mode + " has no network to link on");
  if (state.bundle.empty()) fail_invalid("OCI state: no bundle path");
  p.bundle = load_bundle_config(state.bundle);
  p.name = p.ann.name.value_or(default_name(state.id));
  p.hostname = p.bundle.hostname;

  std::string ns_path = p.bundle.netns_path.value_or(state.pid > 0 ? "/proc/" + std::to_string(state.pid) + "/ns/net" : "");
  if (ns_path.empty()) fail_invalid("no network namespace: state.pid is 0 and config.json names no namespace path");
  Netns ns = Netns::open(ns_path);
  std::optional<EndpointRecord> owner;
  if (mode == "host") {
    if (!ns.is_current())
      fail_invalid("io.ocinet.mode: mode host, but the container has a network namespace of its own; remove it from "
                   "config.json with `ocinet bundle inject` or Podman's precreate hook");
  } else if (mode == "container") {
    owner = joined_owner(opts, p.ann.mode_container, ns);
  } else if (ns.is_current()) {
    fail_invalid("refusing to configure the host's own network namespace (the container needs a network namespace of its own)");
  }

  if (auto existing = records.load(state.id)) {
    if (existing->ready()) return *existing;
    undo_record(paths, cfg, *existing, save_steps(records, *existing));  // crashed half-way: start clean
    records.remove(state.id);
  }

  NlSocket host;
  NetworkStore store(opts.lib_dir);
  // Overlay networks live in etcd; a name not defined on this host is looked up there.
  std::optional<Etcd> etcd;
  std::map<std::string, int64_t> overlay_revs;
  for (const auto& n : net_names) {
    if (!cfg.etcd_endpoints.empty() && n != cfg.default_network && !store.exists(n)) {
      if (!etcd) etcd.emplace(overlay::connect(cfg));
      if (auto s = overlay::get_network(*etcd, n)) {
        overlay_revs[n] = s->mod_revision;
        p.networks.push_back(s->def);
        if (p.ann.mode_given && p.networks.size() == 1 && mode != "overlay")
          fail_invalid("io.ocinet.network: network " + n + " uses driver overlay, not " + mode);
        continue;
      }
    }
    p.networks.push_back(store.resolve(n, cfg, [&] { return ipv4_routes(host, kDefaultBridgeDevice); }));
    const auto& net = p.networks.back();
    // An explicit mode names the first network's driver; otherwise the network decides.
    if (p.ann.mode_given && p.networks.size() == 1 && to_string(net.driver) != mode)
      fail_invalid("io.ocinet.network: network " + n + " uses driver " + to_string(net.driver) + ", not " + mode);
  }
  bool any_bridge = false;
  for (const auto& net : p.networks) any_bridge = any_bridge || has_nat(net.driver);
  if (!p.ann.ports.empty() && !has_nat(p.networks[0].driver))
    fail_invalid("io.ocinet.ports: network " + p.networks[0].name + " (" + to_string(p.networks[0].driver) +
                 ") has no NAT to publish ports through");
  for (const auto& spec : p.ann.ports) {
    if (spec.host_ip.empty()) continue;
    auto addr = parse_ipv4(spec.host_ip);
    if (!addr && !p.networks[0].subnet6)  // IPv6 (parsed and checked in config/ports)
      fail_invalid("io.ocinet.ports: host address " + spec.host_ip + " is IPv6, but network " + p.networks[0].name +
                   " has no IPv6 subnet (ocinet network create --ipv6)");
    // 0.0.0.0 and :: are Docker's "every address"; anything else must be one of the host's own.
    if (addr ? *addr != 0 && !is_local_address(host, *addr) : spec.host_ip != "::" && !is_local_address6(host, spec.host_ip))
      fail_invalid("io.ocinet.ports: host address " + spec.host_ip + " is not an address of this host");
    if (spec.host_ip == "::1" && bridged_ipv6_to_netfilter())
      fail_invalid("io.ocinet.ports: [::1] cannot be published on this host: br_netfilter hands bridged IPv6 to "
                   "the host's netfilter (net.bridge.bridge-nf-call-ip6tables=1), which turns the container's "
                   "answers back to ::1 before the kernel drops them as coming from the bridge; publish on "
                   "127.0.0.1 or on a host IPv6 address, or set net.bridge.bridge-nf-call-ip6tables=0");
  }
  // A host port a host process uses would lose its traffic to the DNAT, silently: a given one
  // is refused here (as Docker and Podman do), a picked one is skipped by the port table. The
  // container has an IPv6 address on a dual-stack first network: ports published on every
  // address are then published over IPv6 too.
  const bool has_ip6 = !p.ann.ports.empty() && p.networks[0].subnet6.has_value();
  const std::vector<HostSocket> host_sockets = host_sockets_for(p.ann.ports);
  check_host_ports(host_sockets, p.ann.ports, has_ip6);
  if (!p.networks.empty()) p.link_entries = resolve_links(paths, records, p.ann, p.networks[0].name);
  auto fw = any_bridge ? make_firewall(cfg.firewall_backend) : nullptr;
  std::optional<overlay::HostInfo> me;
  if (!overlay_revs.empty()) {
    me = overlay::load_host(paths);
    if (!me) fail_system("overlay: this host is not registered in etcd: start `ocinet agent` (it writes " + overlay::host_file(paths) + ")", 0);
  }
  if (owner) p.joined = own_entries(*owner);
  // The name server answers on the container's own lo, so every driver can reach it; a joined
  // container shares its owner's lo, and so its server.
  p.dns = std::any_of(p.networks.begin(), p.networks.end(), [](const NetworkDef& n) { return has_embedded_dns(n); }) ||
          (owner && owner_has_dns(store, *owner));

  EndpointRecord rec;
  rec.id = state.id;
  rec.tag = state.id;
  rec.name = p.name;
  rec.mode = p.networks.empty() ? mode : to_string(p.networks[0].driver);
  rec.pid = state.pid;
  rec.netns = ns_path;
  rec.netns_id = ns.identity();
  if (owner) rec.owner = owner->id;
  rec.rootfs = p.bundle.rootfs;
  rec.hostname = p.hostname == p.name ? "" : p.hostname;
  if (auto it = p.bundle.file_mounts.find("/etc/hosts"); it != p.bundle.file_mounts.end()) rec.hosts_source = it->second;
  if (auto it = p.bundle.file_mounts.find("/etc/resolv.conf"); it != p.bundle.file_mounts.end()) rec.resolv_source = it->second;
  rec.links = p.ann.links;
  rec.dns = p.ann.dns;
  for (size_t i = 0; i < p.networks.size(); i++) {
    Attachment a;
    plan_bridge_attachment(p.networks[i], state.id, i, p.ann.mtu.value_or(0), i == 0 ? p.ann.mac.value_or("") : "", a);
    a.driver = p.networks[i].driver;
    if (a.driver == Driver::overlay) {
      a.bridge = overlay::bridge_name(p.networks[i]);
      a.gateway.clear();  // nothing routes off the overlay: a later network gives the default route
    }
    if (p.networks[i].name != kDefaultBridgeNetwork) a.aliases = p.ann.aliases;
    a.internal = p.networks[i].internal;
    rec.attachments.push_back(a);
  }
  if (int r = default_route_candidate(rec.attachments); r >= 0) rec.attachments[r].default_route = true;

  // 2. Apply. Every step is logged in the record before it happens (write-ahead), and every
  // undo tolerates a step that never ran, so steps are logged in batches: one record write
  // before allocation, one before the kernel changes, one to mark the endpoint ready.
  rec.steps = {"name"};
  for (size_t i = 0; i < p.networks.size(); i++) rec.steps.push_back("lease:" + std::to_string(i));
  if (!p.ann.ports.empty()) rec.steps.push_back("ports");
  records.save(rec);
  bool files_started = false;
  DnsSockets dns_sockets;
  try {
    {
      FileLock lock(paths.alloc_lock());
      register_name(paths, records, p.name, rec.id, p.ann.name_given);
      for (size_t i = 0; i < p.networks.size(); i++) {
        const auto& net = p.networks[i];
        std::optional<uint32_t> ip;
        if (i == 0 && p.ann.ip) ip = parse_ipv4(*p.ann.ip);
        if (net.driver == Driver::overlay) {
          if (i == 0 && p.ann.ip6) fail_invalid("io.ocinet.ip6: overlay network " + net.name + " has no IPv6 subnet");
          auto& a = rec.attachments[i];
          uint32_t v4 = overlay::allocate(*etcd, net, overlay_revs[net.name], rec.id, me->host, ip);
          a.ip = ipv4_str(v4);
          if (a.mac.empty()) a.mac = mac_for_ip(v4);
          // A local mark as well: this host's members of the network, for name discovery.
          make_dirs(paths.lease_dir(net.name));
          if (!create_owner_mark(paths.lease_dir(net.name) + "/" + a.ip, rec.id))
            replace_owner_mark(paths.lease_dir(net.name) + "/" + a.ip, rec.id);  // etcd is authoritative
          continue;
        }
        if (!store.exists(net.name)) fail_invalid("network " + net.name + " was removed while this container started");
        lease_addresses(paths, net, rec.id, ip, i == 0 ? p.ann.ip6 : std::nullopt, rec.attachments[i]);
      }
      if (!p.ann.ports.empty()) {
        fault_point("reserve ports");
        rec.ports = PortTable(paths.ports_dir()).reserve(rec.id, p.ann.ports, [&](const PortMapping& m) -> uint16_t {
          const HostSocket* user = host_socket_using(host_sockets, m, has_ip6);
          return user ? user->port : 0;
        });
      }
    }
    for (size_t i = 0; i < p.networks.size(); i++) rec.steps.push_back("veth:" + std::to_string(i));
    for (size_t i = 0; i < p.networks.size(); i++)
      if (p.networks[i].driver == Driver::overlay) rec.steps.push_back("endpoint:" + std::to_string(i));
    if (fw) rec.steps.push_back("firewall");
    records.save(rec);  // addresses and ports known; kernel changes may start
    std::vector<int> vxlan(p.networks.size(), 0), inner_index(p.networks.size(), 0);
    for (size_t i = 0; i < p.networks.size(); i++) {
      if (p.networks[i].driver == Driver::overlay)
        vxlan[i] = overlay::attach(host, p.networks[i], me->vtep, ns.fd(), rec.attachments[i]);
      else
        inner_index[i] = attach_network(host, p.networks[i], ns, rec.attachments[i]);
    }
    if (mode != "host" && mode != "container") {  // a shared netns is its owner's to configure
      ScopedNetns inside(ns);
      NlSocket inner;
      if (rec.attachments.empty()) set_link_up(inner, 1);  // mode none: lo only (ifindex 1 in every netns)
      for (size_t i = 0; i < rec.attachments.size(); i++) {
        const auto& a = rec.attachments[i];
        configure_container_side(inner, a, inner_index[i], a.default_route, /*lo_up=*/i == 0);
        ipv6_off_unless_filtered(a, fw.get());
      }
      if (p.dns) dns_sockets = open_dns_sockets();  // lo is up now
    }
    // Overlay: announce the endpoint to the other hosts, and seed this host's VXLAN device with
    // theirs (the agent keeps it in step from here on). Their names come from the name server,
    // fed by the agent; it learns the definition here, before this container's "add" reaches it.
    for (size_t i = 0; i < p.networks.size(); i++) {
      if (p.networks[i].driver != Driver::overlay) continue;
      overlay::register_endpoint(*etcd, *me, rec, rec.attachments[i]);
      if (p.dns) cache_network_for_dns(paths.run_dir, p.networks[i]);
      for (const auto& e : overlay::endpoints_on(*etcd, p.networks[i].name))
        if (e.host != me->host) overlay::add_remote(host, vxlan[i], e);  // this host's are on the bridge itself
    }
    if (fw) {
      write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
      bool restored = false;
      for (size_t i = 0; i < p.networks.size(); i++) {
        const auto& net = p.networks[i];
        if (!has_nat(net.driver)) continue;
        const NetworkRules nr = network_rules(net);
        EndpointRules er = endpoint_rules(rec.tag, rec.attachments[i], i == 0 ? rec.ports : std::vector<PortMapping>{});
        // Publication on the host's loopback needs the kernel's help on the bridge, and only then
        // (most containers publish none): a local ::1 route before, route_localnet once the
        // firewall's guard against what else they let in is there (never without a firewall).
        auto on = [&](auto loopback) { return std::any_of(er.ports.begin(), er.ports.end(), loopback); };
        if (on([](const PortMapping& m) { return m.host_ip == "::1"; }))
          add_loopback_route6(host, link_index(host, net.bridge), net.bridge);
        fault_point("firewall");
        // ocinet's tables were not there: the first endpoint ever, or a flush that took every
        // other endpoint's rules too, which are written again from their records.
        if (fw->add_endpoint(nr, er) && !restored) {
          restore_firewall(paths, *fw, {}, rec.id);
          restored = true;
        }
        if (fw->guards_loopback() && on([](const PortMapping& m) { return m.host_ip.rfind("127.", 0) == 0; }))
          enable_route_localnet(net.bridge);
      }
    }
    // Peers find each other through the name server, which reads the records: nothing is
    // written into running containers.
    files_started = true;
    write_files(p, rec, {});
    rec.state = "ready";
    records.save(rec);
    if (dns_sockets.udp && !dns_add(rec.id, dns_sockets))
      spdlog::warn("{}: no name server reachable; it answers this container once it starts", display_id(rec.id));
  } catch (...) {
    try {
      if (files_started) remove_own_blocks(p.bundle);
      undo_record(paths, cfg, rec, save_steps(records, rec));
      records.remove(rec.id);
    } catch (...) {
      // The original error is what the user must see; the record stays for `ocinet gc`.
    }
    throw;
  }
  return rec;
}

}  // namespace ocinet
