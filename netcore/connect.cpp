// Live attach/detach of a running container to a network: the same steps as setup for one
// attachment, logged in the same endpoint record so teardown and gc release them too.
#include <algorithm>

#include "config/annotations.h"
#include "config/bundle_rewrite.h"
#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "netcore/dns_link.h"
#include "netcore/attach_steps.h"
#include "netcore/container_side.h"
#include "netcore/drivers/driver.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"
#include "netcore/networks.h"
#include "netcore/overlay/overlay.h"
#include "netcore/restore.h"
#include "netcore/setup.h"
#include "netcore/undo.h"

namespace ocinet {
namespace {

// Lowest ethN index not in use, so a disconnect followed by a connect reuses its name.
size_t free_index(const EndpointRecord& r) {
  for (size_t i = 0;; i++) {
    bool used = false;
    for (const auto& a : r.attachments) used = used || a.ifname == "eth" + std::to_string(i);
    if (!used) return i;
  }
}

EndpointRecord load_running(const RecordStore& records, const std::string& id) {
  auto rec = records.load(id);
  if (!rec || !rec->ready()) fail_invalid("container " + display_id(id) + " has no ready endpoint");
  return *rec;
}

// Docker points a container at its embedded name server when it joins a network that has one.
void point_at_name_server(const EndpointRecord& rec) {
  if (rec.rootfs.empty()) return;
  ContainerFileTarget t{rec.rootfs, "etc/resolv.conf", std::nullopt};
  if (!rec.resolv_source.empty()) t.bind_source = rec.resolv_source;
  ContainerFiles files;
  const std::string text = files.read(t);
  if (const std::string next = resolv_for_name_server(text); next != text) files.write(t, next);
}

}  // namespace

std::string resolve_container(const GlobalOptions& opts, const std::string& ref) {
  if (!is_valid_name(ref, kMaxLegacyIdLen)) fail_invalid("invalid container reference \"" + ref + "\"");
  RecordStore records(opts.run_dir);
  if (records.load(ref)) return ref;
  if (auto id = read_owner_mark(Paths{opts.run_dir, opts.lib_dir}.names_dir() + "/" + ref); id && is_valid_name(*id, kMaxLegacyIdLen) && records.load(*id))
    return *id;
  fail_invalid("no container \"" + ref + "\" known to ocinet");
}

EndpointRecord running_container(const GlobalOptions& opts, const std::string& ref) {
  RecordStore records(opts.run_dir);
  std::string id = resolve_container(opts, ref);
  auto rec = records.load(id);
  if (!rec || !rec->ready() || rec->mode == "container" || rec->mode == "host")
    fail_invalid("container \"" + ref + "\" has no network namespace of its own to join");
  std::string alive;
  try {
    alive = Netns::open(rec->netns).identity();
  } catch (const Error&) {
  }
  if (alive.empty() || alive != rec->netns_id) fail_invalid("container \"" + ref + "\" is not running");
  return *rec;
}

std::string netns_of_container(const GlobalOptions& opts, const std::string& ref) {
  return running_container(opts, ref).netns;
}

void prepare_config_for_mode(const GlobalOptions& opts, nlohmann::json& config) {
  std::map<std::string, std::string> annotations;
  try {
    if (config.contains("annotations") && config["annotations"].is_object())
      annotations = config["annotations"].get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception&) {
    fail_invalid("config.json: annotations must be strings");
  }
  Annotations ann = parse_annotations(annotations);
  std::string joined = ann.mode == "container" ? netns_of_container(opts, ann.mode_container) : "";
  rewrite_netns_for_mode(config, ann.mode, joined);
}

namespace {

// The checks connect makes before anything changes.
void check_connect(const AdminConfig& cfg, const EndpointRecord& rec, const std::string& network) {
  if (rec.mode == "host" || rec.mode == "container")
    fail_invalid("container " + rec.name + " shares another network namespace (mode " + rec.mode + ")");
  const auto& allowed = cfg.policy.allowed_networks;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), network) == allowed.end())
    fail_invalid("policy allowed_networks: network " + network + " is not allowed");
  for (const auto& a : rec.attachments)
    if (a.network == network) fail_invalid("container " + rec.name + " is already connected to network " + network);
}

// The aliases and the static address asked for, checked.
AddressRequest connect_address(const AdminConfig& cfg, const std::vector<std::string>& aliases,
                               const std::string& static_ip) {
  for (const auto& al : aliases)
    if (!is_valid_name(al)) fail_invalid("--alias \"" + al + "\": invalid name");
  AddressRequest want;
  if (static_ip.empty()) return want;
  want.ip = parse_ipv4(static_ip);
  if (!want.ip) fail_invalid("--ip \"" + static_ip + "\": not an IPv4 address");
  if (!cfg.policy.allow_static_ip) fail_invalid("policy allow_static_ip: static addresses are not allowed");
  return want;
}

NetworkDef connect_network(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network) {
  const ResolvedNetwork n = Networks(Paths{opts.run_dir, opts.lib_dir}, cfg).resolve(network);
  if (n.def.driver == Driver::overlay)
    fail_invalid("network " + network + " is an overlay network: overlay attachments are made at container start "
                 "(io.ocinet.network); live connect is not supported for them yet");
  return n.def;
}

// Attachment `index` of `rec` on `net`, planned by its driver; it takes the default route when
// the container has none and the network can carry it.
Attachment plan_connect(const NetworkDef& net, const EndpointRecord& rec, size_t index,
                        const std::vector<std::string>& aliases) {
  Attachment a;
  network_driver(net.driver).plan(net, rec.id, index, a);
  if (net.name != kDefaultBridgeNetwork) a.aliases = aliases;
  bool routed = std::any_of(rec.attachments.begin(), rec.attachments.end(), [](const Attachment& x) { return x.default_route; });
  a.default_route = !routed && default_route_candidate({a}) == 0;
  return a;
}

// The setup steps for attachment `at`, logged write-ahead as in setup.
void connect_steps(DriverContext& ctx, const RecordStore& records, const NetworkDef& net, const Netns& ns,
                   const AddressRequest& want, EndpointRecord& rec, size_t at) {
  {
    FileLock lock(ctx.paths().alloc_lock());
    if (!NetworkStore(ctx.paths().lib_dir).exists(net.name)) fail_invalid("network " + net.name + " was removed meanwhile");
    take_address(ctx, {net, 0}, want, rec, at);
  }
  auto fw = make_firewall(ctx.config().firewall_backend);
  add_step(rec.steps, {StepKind::link, at});
  add_step(rec.steps, {StepKind::firewall});
  records.save(rec);
  const Attached made = attach_link(ctx, net, ns, rec.attachments[at]);
  {
    ScopedNetns inside(ns);
    NlSocket inner;
    configure_attachment(inner, rec.attachments[at], made, /*lo_up=*/false, fw.get());
  }
  if (network_driver(net.driver).has_firewall()) enable_forwarding();
  bool restored = false;
  install_rules(ctx, *fw, net, rec, at, restored);
}

}  // namespace

void connect_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network,
                      const std::string& container, const std::string& static_ip, const std::vector<std::string>& aliases) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  std::string id = resolve_container(opts, container);
  FileLock endpoint_lock(paths.endpoint_lock(id));
  EndpointRecord rec = load_running(records, id);
  const AddressRequest want = connect_address(cfg, aliases, static_ip);
  check_connect(cfg, rec, network);
  const NetworkDef net = connect_network(opts, cfg, network);
  Netns ns = Netns::open(rec.netns);
  if (ns.is_current()) fail_invalid("refusing to configure the host's own network namespace");

  const EndpointRecord before = rec;  // what to restore in the record on failure
  rec.attachments.push_back(plan_connect(net, rec, free_index(rec), aliases));
  const size_t at = rec.attachments.size() - 1;
  add_step(rec.steps, {StepKind::lease, at});
  records.save(rec);
  DriverContext ctx(paths, cfg);
  try {
    connect_steps(ctx, records, net, ns, want, rec, at);
    const bool peers = announced_in_peers(before);
    if (peers) add_step(rec.steps, {StepKind::peers});
    records.save(rec);
    {
      DiscoveryLocks locks(paths, {net.name});
      sync_network(paths, records, rec, net.name, peers);
    }
    if (has_embedded_dns(net)) point_at_name_server(rec);
    dns_notify(opts.run_dir, opts.lib_dir, "update", id);  // the name server reads the record again (started if need be)
  } catch (...) {
    try {
      undo(paths, cfg, rec, steps_of(rec.steps, at));  // this attachment's; the record as it was
      records.save(before);
      DiscoveryLocks locks(paths, {net.name});
      sync_network(paths, records, before, net.name, announced_in_peers(before));
    } catch (...) {
      // The original error is the one to report; `ocinet gc` or teardown releases the rest.
    }
    throw;
  }
}

void disconnect_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network,
                         const std::string& container) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  std::string id = resolve_container(opts, container);
  FileLock endpoint_lock(paths.endpoint_lock(id));
  EndpointRecord rec = load_running(records, id);
  auto it = std::find_if(rec.attachments.begin(), rec.attachments.end(),
                         [&](const Attachment& a) { return a.network == network; });
  if (it == rec.attachments.end()) fail_invalid("container " + rec.name + " is not connected to network " + network);
  if (!rec.ports.empty() && it == rec.attachments.begin())
    fail_invalid("container " + rec.name + " publishes ports through network " + network + "; they would stop working");
  const size_t gone = size_t(it - rec.attachments.begin());
  const EndpointRecord before = rec;  // with the attachment: what its undo reads
  rec.attachments.erase(it);
  rec.steps = without_attachment(rec.steps, gone);
  {
    DiscoveryLocks locks(paths, {network});
    records.save(rec);  // from here on, peers and teardown see the container without it
    sync_network(paths, records, rec, network, announced_in_peers(rec));
  }
  dns_notify(opts.run_dir, opts.lib_dir, "update", id);
  // Published ports are the first attachment's, which cannot go while it has them. The rules a
  // later attachment has of its own (nftables: its bridge port in v4only_ports) are left: the
  // iptables backend can only remove a container's rules all together.
  undo(paths, cfg, before, steps_of(before.steps, gone));
  // Its routes went with its interface: the next network that can carry them takes them over.
  int next = before.attachments[gone].default_route ? default_route_candidate(rec.attachments) : -1;
  if (next < 0) return;
  rec.attachments[next].default_route = true;
  records.save(rec);
  Netns ns = Netns::open(rec.netns);
  ScopedNetns inside(ns);
  NlSocket inner;
  add_default_routes(inner, rec.attachments[next]);
}

}  // namespace ocinet
