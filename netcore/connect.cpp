// Live attach/detach of a running container to a network: the same steps as setup for one
// attachment, logged in the same endpoint record so teardown and gc release them too.
#include <algorithm>

#include "config/annotations.h"
#include "config/bundle_rewrite.h"
#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "netcore/dns_link.h"
#include "netcore/drivers/driver.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/network_store.h"
#include "netcore/overlay/overlay.h"
#include "netcore/restore.h"
#include "netcore/setup.h"

namespace ocinet {
namespace {

bool has_step(const EndpointRecord& r, const std::string& s) {
  return std::find(r.steps.begin(), r.steps.end(), s) != r.steps.end();
}

void add_step(EndpointRecord& r, const std::string& s) {
  if (!has_step(r, s)) r.steps.push_back(s);
}

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

void connect_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& network,
                      const std::string& container, const std::string& static_ip, const std::vector<std::string>& aliases) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  std::string id = resolve_container(opts, container);
  FileLock endpoint_lock(paths.endpoint_lock(id));
  EndpointRecord rec = load_running(records, id);
  for (const auto& al : aliases)
    if (!is_valid_name(al)) fail_invalid("--alias \"" + al + "\": invalid name");
  std::optional<uint32_t> want_ip;
  if (!static_ip.empty()) {
    want_ip = parse_ipv4(static_ip);
    if (!want_ip) fail_invalid("--ip \"" + static_ip + "\": not an IPv4 address");
    if (!cfg.policy.allow_static_ip) fail_invalid("policy allow_static_ip: static addresses are not allowed");
  }
  if (rec.mode == "host" || rec.mode == "container")
    fail_invalid("container " + rec.name + " shares another network namespace (mode " + rec.mode + ")");
  if (!cfg.policy.allowed_networks.empty() &&
      std::find(cfg.policy.allowed_networks.begin(), cfg.policy.allowed_networks.end(), network) ==
          cfg.policy.allowed_networks.end())
    fail_invalid("policy allowed_networks: network " + network + " is not allowed");
  for (const auto& a : rec.attachments)
    if (a.network == network) fail_invalid("container " + rec.name + " is already connected to network " + network);
  NlSocket host;
  NetworkStore store(opts.lib_dir);
  if (!cfg.etcd_endpoints.empty() && network != kDefaultBridgeNetwork && !store.exists(network)) {
    auto etcd = overlay::connect(cfg);
    if (overlay::get_network(etcd, network))
      fail_invalid("network " + network + " is an overlay network: overlay attachments are made at container start "
                   "(io.ocinet.network); live connect is not supported for them yet");
  }
  NetworkDef net = store.resolve(network, cfg, [&] { return ipv4_routes(host, kDefaultBridgeDevice); });
  Netns ns = Netns::open(rec.netns);
  if (ns.is_current()) fail_invalid("refusing to configure the host's own network namespace");

  size_t i = free_index(rec);
  Attachment a;
  plan_bridge_attachment(net, id, i, 0, "", a);
  a.driver = net.driver;
  if (net.name != kDefaultBridgeNetwork) a.aliases = aliases;
  a.internal = net.internal;
  // A container without a default route gets one through the new network if it can carry it.
  bool routed = std::any_of(rec.attachments.begin(), rec.attachments.end(), [](const Attachment& x) { return x.default_route; });
  a.default_route = !routed && default_route_candidate({a}) == 0;
  EndpointRecord before = rec;  // what to restore in the record on failure
  rec.attachments.push_back(a);
  size_t at = rec.attachments.size() - 1;
  // Write-ahead, as in setup: every undo tolerates a step that never ran.
  add_step(rec, "lease:" + std::to_string(at));
  records.save(rec);
  auto fw = make_firewall(cfg.firewall_backend);
  try {
    {
      FileLock lock(paths.alloc_lock());
      if (!NetworkStore(opts.lib_dir).exists(net.name)) fail_invalid("network " + net.name + " was removed meanwhile");
      lease_addresses(paths, net, id, want_ip, std::nullopt, rec.attachments[at]);
    }
    add_step(rec, "veth:" + std::to_string(at));
    add_step(rec, "firewall");
    records.save(rec);
    const int inner_index = attach_network(host, net, ns, rec.attachments[at]);
    {
      ScopedNetns inside(ns);
      NlSocket inner;
      configure_container_side(inner, rec.attachments[at], inner_index, rec.attachments[at].default_route);
      ipv6_off_unless_filtered(rec.attachments[at], fw.get());
    }
    if (has_nat(net.driver)) {
      write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
      if (fw->add_endpoint(network_rules(net), endpoint_rules(rec.tag, rec.attachments[at], {})))
        restore_firewall(paths, *fw, {}, rec.id);  // the ruleset was flushed: the others' rules too
    }
    const bool peers = announced_in_peers(before);
    if (peers) add_step(rec, "peers");
    records.save(rec);
    {
      DiscoveryLocks locks(paths, {net.name});
      sync_network(paths, records, rec, net.name, peers);
    }
    if (has_embedded_dns(net)) point_at_name_server(rec);
    dns_notify(opts.run_dir, opts.lib_dir, "update", id);  // the name server reads the record again (started if need be)
  } catch (...) {
    // Undo exactly this attachment, then put the record back as it was.
    EndpointRecord only = rec;
    only.attachments = {rec.attachments[at]};
    only.ports.clear();
    only.steps = {"lease:0", "veth:0"};
    try {
      undo_record(paths, cfg, only);
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
  Attachment gone = *it;
  rec.attachments.erase(it);
  // Steps name attachments by index: renumber by rebuilding the index-bearing steps.
  std::vector<std::string> steps;
  for (const auto& s : rec.steps)
    if (s.rfind("lease:", 0) != 0 && s.rfind("veth:", 0) != 0) steps.push_back(s);
  for (size_t i = 0; i < rec.attachments.size(); i++) {
    steps.insert(steps.begin(), "lease:" + std::to_string(i));
    steps.push_back("veth:" + std::to_string(i));
  }
  // Keep the canonical order: name, leases, ports, veths, firewall, peers.
  std::stable_sort(steps.begin(), steps.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& s) {
      for (auto [p, r] : {std::pair<const char*, int>{"name", 0}, {"lease:", 1}, {"ports", 2}, {"veth:", 3},
                          {"firewall", 4}, {"peers", 5}})
        if (s.rfind(p, 0) == 0) return r;
      return 6;
    };
    return rank(a) < rank(b);
  });
  rec.steps = steps;
  {
    DiscoveryLocks locks(paths, {network});
    records.save(rec);  // from here on, peers and teardown see the container without it
    sync_network(paths, records, rec, network, announced_in_peers(rec));
  }
  dns_notify(opts.run_dir, opts.lib_dir, "update", id);
  EndpointRecord only = rec;
  only.attachments = {gone};
  only.ports.clear();
  only.steps = {"lease:0", "veth:0"};
  // Only the first attachment carries per-container firewall rules (published ports), and it
  // cannot be disconnected while it does: nothing to remove from the firewall here.
  undo_record(paths, cfg, only);
  // Its routes went with its interface: the next network that can carry them takes them over.
  int next = gone.default_route ? default_route_candidate(rec.attachments) : -1;
  if (next < 0) return;
  rec.attachments[next].default_route = true;
  records.save(rec);
  Netns ns = Netns::open(rec.netns);
  ScopedNetns inside(ns);
  NlSocket inner;
  add_default_routes(inner, rec.attachments[next]);
}

}  // namespace ocinet
