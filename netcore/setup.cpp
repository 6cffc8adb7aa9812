// Setup = plan (setup_plan.cpp: validated and decided, no change) + the apply steps here, under
// a write-ahead record; a failure anywhere undoes what the record says may exist (undo.h).
#include "netcore/setup.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "netcore/attach_steps.h"
#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "netcore/dns_link.h"
#include "netcore/fault.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/host_view.h"
#include "netcore/port_table.h"
#include "netcore/undo.h"

namespace ocinet {
namespace {

// Docker's fallback when the host has no usable resolver.
const std::vector<std::string> kFallbackDns = {"8.8.8.8", "8.8.4.4"};

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

// Name, addresses and host ports, under the allocation lock.
void take_addresses(DriverContext& ctx, const RecordStore& records, SetupPlan& p) {
  EndpointRecord& rec = p.rec;
  FileLock lock(ctx.paths().alloc_lock());
  register_name(ctx.paths(), records, rec.name, rec.id, p.ann.name_given);
  for (size_t i = 0; i < p.networks.size(); i++) {
    AddressRequest want;  // static addresses are the first network's
    if (i == 0 && p.ann.ip) want.ip = parse_ipv4(*p.ann.ip);
    if (i == 0) want.ip6 = p.ann.ip6;
    take_address(ctx, p.networks[i], want, rec, i);
  }
  if (p.ann.ports.empty()) return;
  fault_point("reserve ports");
  rec.ports = PortTable(ctx.paths().ports_dir()).reserve(rec.id, p.ann.ports, [&](const PortMapping& m) -> uint16_t {
    const HostSocket* user = host_socket_using(p.host_sockets, m, p.ports_over_ip6);
    return user ? user->port : 0;
  });
}

std::vector<Attached> attach_links(DriverContext& ctx, const SetupPlan& p) {
  std::vector<Attached> made;
  for (size_t i = 0; i < p.networks.size(); i++)
    made.push_back(attach_link(ctx, p.networks[i].def, *p.ns, p.rec.attachments[i]));
  return made;
}

// Addresses and routes inside the container's netns, and the name server's sockets on its lo.
DnsSockets configure_inside(const SetupPlan& p, const std::vector<Attached>& made, const FirewallBackend* fw) {
  ScopedNetns inside(*p.ns);
  NlSocket inner;
  if (p.rec.attachments.empty()) set_link_up(inner, 1);  // mode none: lo only (ifindex 1 in every netns)
  for (size_t i = 0; i < p.rec.attachments.size(); i++)
    configure_attachment(inner, p.rec.attachments[i], made[i], /*lo_up=*/i == 0, fw);
  return p.dns ? open_dns_sockets() : DnsSockets{};  // lo is up now
}

void announce_to_peers(DriverContext& ctx, const SetupPlan& p, const std::vector<Attached>& made) {
  for (size_t i = 0; i < p.networks.size(); i++)
    network_driver(p.networks[i].def.driver).announce(ctx, p.networks[i].def, p.rec, p.rec.attachments[i], made[i]);
}

void install_firewall(DriverContext& ctx, const SetupPlan& p, FirewallBackend& fw) {
  enable_forwarding();
  bool restored = false;
  for (size_t i = 0; i < p.networks.size(); i++) install_rules(ctx, fw, p.networks[i].def, p.rec, i, restored);
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
ResolvConf container_resolv(const SetupPlan& p) {
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

// /etc/hosts: links, extra hosts, the container's own addresses (with its marker, so
// connect/disconnect can render them again); mode host and container: the host's or owner's.
std::vector<std::string> hosts_file_lines(const SetupPlan& p) {
  const EndpointRecord& rec = p.rec;
  std::vector<HostsEntry> entries = p.link_entries;
  for (const auto& h : p.ann.hosts) entries.push_back({h.ip, {h.hostname}});
  if (p.ann.mode == "host") {
    // The container is the host, network-wise: it answers to the host's name too.
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0 && is_valid_hostname(name)) entries.push_back({"127.0.1.1", {name, rec.name}});
  }
  for (auto e : p.joined) {  // mode container: the owner's addresses carry the joiner's name too
    e.names.push_back(rec.name);
    entries.push_back(e);
  }
  auto lines = hosts_lines(entries);
  std::vector<PeerEntry> own;
  for (const auto& e : own_entries(rec)) own.push_back({rec.tag, e});
  for (const auto& l : peer_lines(own)) lines.push_back(l);
  return lines;
}

// Peers find each other through the name server, which reads the records: nothing is written
// into running containers, only this one's files.
void write_container_files(const SetupPlan& p) {
  ContainerFiles files;
  update_file(files, p.bundle, "/etc/hosts", hosts_file_lines(p));
  update_file(files, p.bundle, "/etc/resolv.conf", resolv_lines(container_resolv(p)));
  // /etc/hostname holds only the name: no room for markers, so it is written whole.
  auto t = file_target(p.bundle, "/etc/hostname");
  fault_point("/etc/hostname");
  try {
    files.write(t, (p.bundle.hostname.empty() ? p.rec.name : p.bundle.hostname) + "\n");
  } catch (const Error& e) {
    throw Error(e.kind(), "writing /etc/hostname: " + std::string(e.what()));
  }
}

// Every step is logged in the record before it happens (write-ahead), and every undo tolerates
// a step that never ran, so steps are logged in batches: one record write before allocation,
// one before the kernel changes, one to mark the endpoint ready.
StepLog allocation_steps(const SetupPlan& p) {
  StepLog log = {{StepKind::name}};
  for (size_t i = 0; i < p.networks.size(); i++) log.push_back({StepKind::lease, i});
  if (!p.ann.ports.empty()) log.push_back({StepKind::ports});
  return log;
}

void log_kernel_steps(const SetupPlan& p, StepLog& log) {
  for (size_t i = 0; i < p.networks.size(); i++) log.push_back({StepKind::link, i});
  for (size_t i = 0; i < p.networks.size(); i++)
    if (network_driver(p.networks[i].def.driver).has_peers()) log.push_back({StepKind::announce, i});
  if (p.firewall) log.push_back({StepKind::firewall});
  log.push_back({StepKind::files});
}

void apply(DriverContext& ctx, const RecordStore& records, SetupPlan& p, FirewallBackend* fw) {
  EndpointRecord& rec = p.rec;
  rec.steps = allocation_steps(p);
  records.save(rec);
  try {
    take_addresses(ctx, records, p);
    log_kernel_steps(p, rec.steps);
    records.save(rec);  // addresses and ports known; kernel changes may start
    const std::vector<Attached> made = attach_links(ctx, p);
    DnsSockets dns_sockets;
    if (p.configures_inside) dns_sockets = configure_inside(p, made, fw);
    announce_to_peers(ctx, p, made);
    if (fw) install_firewall(ctx, p, *fw);
    write_container_files(p);
    EndpointRecord ready = rec;  // rec keeps the files step until the ready record is saved
    drop_step(ready.steps, {StepKind::files});  // the files are the container's from here on
    ready.state = "ready";
    records.save(ready);
    rec = std::move(ready);
    if (dns_sockets.udp && !dns_add(rec.id, dns_sockets))
      spdlog::warn("{}: no name server reachable; it answers this container once it starts", display_id(rec.id));
  } catch (...) {
    try {
      undo_record(ctx.paths(), ctx.config(), rec, save_steps(records, rec));
      records.remove(rec.id);
    } catch (...) {
      // The original error is what the user must see; the record stays for `ocinet gc`.
    }
    throw;
  }
}

}  // namespace

EndpointRecord setup_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const OciState& state) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  if (!is_valid_name(state.id, kMaxContainerIdLen))
    fail_invalid("OCI state: container id longer than " + std::to_string(kMaxContainerIdLen) + " characters");
  FileLock endpoint_lock(paths.endpoint_lock(state.id));
  if (auto existing = records.load(state.id)) {
    if (existing->ready()) return *existing;  // setup is idempotent per container id
    undo_record(paths, cfg, *existing, save_steps(records, *existing));  // crashed half-way: start clean
    records.remove(state.id);
  }
  RealHost host(opts, cfg);
  SetupPlan p = plan_setup(host, cfg, state);
  DriverContext ctx(paths, cfg);
  if (Etcd* etcd = host.etcd_if_open()) ctx.use_etcd(*etcd);
  for (const auto& n : p.networks) network_driver(n.def.driver).check_host(ctx);
  auto fw = p.firewall ? make_firewall(cfg.firewall_backend) : nullptr;
  apply(ctx, records, p, fw.get());
  return p.rec;
}

}  // namespace ocinet
