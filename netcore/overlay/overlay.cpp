#include "netcore/overlay/overlay.h"

#include <linux/if.h>
#include <linux/neighbour.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <sys/random.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "netcore/fault.h"
#include "netcore/fsutil.h"
#include "netcore/nl_util.h"

namespace ocinet::overlay {

std::string net_key(const std::string& name) { return std::string(kPrefix) + "net/" + name; }
static std::string vni_key(uint32_t vni) { return std::string(kPrefix) + "vni/" + std::to_string(vni); }
std::string ipam_prefix(const std::string& net) { return std::string(kPrefix) + "ipam/" + net + "/"; }
std::string ipam_key(const std::string& net, const std::string& ip) { return ipam_prefix(net) + ip; }
std::string ep_prefix(const std::string& net) { return std::string(kPrefix) + "ep/" + net + "/"; }
std::string ep_key(const std::string& net, const std::string& id) { return ep_prefix(net) + id; }

std::string bridge_name(const NetworkDef& net) { return "ocov-" + net.id.substr(0, 10); }
std::string vxlan_name(const NetworkDef& net) { return "ocvx-" + net.id.substr(0, 10); }
uint32_t vni_of(const NetworkDef& net) {
  auto it = net.options.find(kVniOption);
  return it == net.options.end() ? 0 : uint32_t(std::stoul(it->second));
}

std::string host_file(const Paths& paths) { return paths.run_dir + "/overlay/host.json"; }

std::optional<HostInfo> load_host(const Paths& paths) {
  auto text = read_file(host_file(paths));
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  HostInfo h;
  h.host = j.value("host", "");
  h.vtep = j.value("vtep", "");
  h.lease = j.value("lease", int64_t(0));
  if (!is_valid_name(h.host, 64) || !parse_ipv4(h.vtep) || !h.lease) return std::nullopt;
  return h;
}

void save_host(const Paths& paths, const HostInfo& h) {
  make_dirs(paths.run_dir + "/overlay");
  write_file_atomic(host_file(paths), nlohmann::json{{"host", h.host}, {"vtep", h.vtep}, {"lease", h.lease}}.dump() + "\n");
}

std::string endpoint_json(const Endpoint& e) {
  return nlohmann::json{{"id", e.id},     {"name", e.name}, {"hostname", e.hostname}, {"aliases", e.aliases},
                        {"ip", e.ip},     {"mac", e.mac},   {"vtep", e.vtep},         {"host", e.host},
                        {"network", e.network}}
      .dump();
}

std::optional<Endpoint> endpoint_from(const EtcdKv& kv) {
  // Values come from other hosts: everything is checked before it reaches netlink or a file.
  auto j = nlohmann::json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  Endpoint e;
  try {
    e.id = j.value("id", "");
    e.name = j.value("name", "");
    e.hostname = j.value("hostname", "");
    e.ip = j.value("ip", "");
    e.mac = j.value("mac", "");
    e.vtep = j.value("vtep", "");
    e.host = j.value("host", "");
    e.network = j.value("network", "");
    if (j.contains("aliases"))
      for (const auto& a : j["aliases"]) e.aliases.push_back(a.get<std::string>());
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (!is_valid_name(e.id, kMaxLegacyIdLen) || !is_valid_name(e.host, 64) || !parse_ipv4(e.ip) || !parse_ipv4(e.vtep) ||
      !is_valid_unicast_mac(e.mac) || !is_valid_name(e.network))
    return std::nullopt;
  if (!e.name.empty() && !is_valid_hostname(e.name)) e.name.clear();
  if (!e.hostname.empty() && !is_valid_hostname(e.hostname)) e.hostname.clear();
  e.aliases.erase(std::remove_if(e.aliases.begin(), e.aliases.end(), [](const std::string& a) { return !is_valid_hostname(a); }),
                  e.aliases.end());
  return e;
}

std::string ipam_value(const std::string& container, const std::string& host) {
  return nlohmann::json{{"container", container}, {"host", host}}.dump();
}

Etcd connect(const AdminConfig& cfg, long timeout_ms) {
  if (cfg.etcd_endpoints.empty())
    fail_invalid("overlay networks need etcd: set etcd.endpoints in the admin config (/etc/ocinet/ocinet.json)");
  return Etcd(cfg.etcd_endpoints, timeout_ms);
}

// --- networks ---

std::optional<StoredNetwork> get_network(Etcd& etcd, const std::string& name) {
  if (!is_valid_name(name)) return std::nullopt;
  auto kv = etcd.get(net_key(name));
  if (!kv) return std::nullopt;
  StoredNetwork s;
  try {
    s.def = network_from_json(kv->value);
  } catch (const Error& e) {
    fail_system("etcd: definition of overlay network " + name + " is corrupt: " + e.what(), 0);
  }
  if (s.def.driver != Driver::overlay || s.def.name != name || s.def.id.size() < 10 || !vni_of(s.def))
    fail_system("etcd: definition of overlay network " + name + " is corrupt", 0);
  s.mod_revision = kv->mod_revision;
  return s;
}

std::vector<NetworkDef> list_networks(Etcd& etcd) {
  std::vector<NetworkDef> out;
  for (const auto& kv : etcd.range(std::string(kPrefix) + "net/").kvs) {
    try {
      auto n = network_from_json(kv.value);
      if (n.driver == Driver::overlay && vni_of(n)) out.push_back(n);
    } catch (const Error&) {
    }
  }
  return out;
}

NetworkDef create_network(Etcd& etcd, const AdminConfig& cfg, const NetworkCreateRequest& req,
                          const std::vector<Ipv4Net>& local_taken) {
  check_new_network_name(req.name);
  if (req.ipv6) fail_invalid("--ipv6: overlay networks are IPv4-only in this build");
  if (req.internal) fail_invalid("--internal: overlay networks have no route off the overlay anyway; drop --internal");
  if (req.subnets.size() > 1) fail_invalid("--subnet: an overlay network takes one IPv4 subnet");
  if (req.gateways.size() > 1) fail_invalid("--gateway: at most one");
  if (req.mtu != 0 && (req.mtu < 68 || req.mtu > 65485)) fail_invalid("--mtu: out of range 68-65485");

  NetworkDef n;
  n.name = req.name;
  n.driver = Driver::overlay;
  apply_dns_options(req, n);
  n.id = random_hex_id();
  n.mtu = req.mtu ? req.mtu : kDefaultMtu;
  uint32_t vni = 0;
  for (const auto& [k, v] : req.options) {
    bool number = !v.empty() && v.size() <= 8 && v.find_first_not_of("0123456789") == std::string::npos;
    if (k == kVniOption || k == "vni") {
      if (!number || std::stoul(v) < 1 || std::stoul(v) > 16777215) fail_invalid("-o " + k + ": want a VNI in 1-16777215");
      vni = uint32_t(std::stoul(v));
    } else if (k == "com.docker.network.driver.mtu" || k == "mtu") {
      if (!number || std::stoi(v) < 68 || std::stoi(v) > 65485) fail_invalid("-o " + k + ": out of range 68-65485");
      n.mtu = std::stoi(v);
    } else {
      fail_invalid("-o " + k + ": unknown option for the overlay driver (vni, mtu)");
    }
  }
  auto existing = list_networks(etcd);
  for (const auto& o : existing)
    if (o.name == req.name) fail_invalid("network \"" + req.name + "\" already exists (overlay, in etcd)");
  if (!req.subnets.empty()) {
    const Ipv4Net subnet = parse_subnet_option(req.subnets[0], 29);
    for (const auto& o : existing)
      if (o.subnet.overlaps(subnet))
        fail_invalid("--subnet " + subnet.str() + " overlaps overlay network \"" + o.name + "\" (" + o.subnet.str() + ")");
    for (const auto& t : local_taken)
      if (t.overlaps(subnet)) fail_invalid("--subnet " + subnet.str() + " overlaps " + t.str() + " on this host");
    n.subnet = subnet;
  } else {
    std::vector<Ipv4Net> taken = local_taken;
    for (const auto& o : existing) taken.push_back(o.subnet);
    n.subnet = pick_subnet(cfg.address_pools, taken);
  }
  // Docker reserves the first address as the overlay's gateway; ocinet keeps it out of
  // allocation the same way (overlay containers route off the overlay through another network).
  n.gateway = gateway_option(req.gateways.empty() ? "" : req.gateways[0], n.subnet);
  n.created = now_rfc3339();
  // VNI: the one asked for, or the lowest free one from 4096 up (Docker's overlay starts there).
  std::set<uint32_t> used;
  for (const auto& o : existing) used.insert(vni_of(o));
  for (int attempt = 0; attempt < 16; attempt++) {
    uint32_t v = vni;
    if (!v)
      for (v = 4096; used.count(v); v++) {
      }
    n.options[kVniOption] = std::to_string(v);
    if (etcd.txn({Etcd::cmp_absent(net_key(n.name)), Etcd::cmp_absent(vni_key(v))},
                 {Etcd::op_put(net_key(n.name), network_to_json(n)), Etcd::op_put(vni_key(v), n.name)}))
      return n;
    if (etcd.get(net_key(n.name))) fail_invalid("network \"" + req.name + "\" already exists (overlay, in etcd)");
    if (vni) fail_invalid("-o vni=" + std::to_string(vni) + ": VNI already used by another overlay network");
    used.insert(v);  // another host took it meanwhile
  }
  fail_system("etcd: could not reserve a VNI (too much contention)", 0);
}

void remove_network(Etcd& etcd, const std::string& name) {
  auto s = get_network(etcd, name);
  if (!s) fail_invalid("no network named \"" + name + "\"");
  // A container being set up checks the definition's mod_revision in its allocation
  // transaction: removing the definition makes any later allocation fail, so "no addresses
  // taken" checked here stays true.
  auto taken = etcd.range(ipam_prefix(name), /*keys_only=*/true);
  if (!taken.kvs.empty())
    fail_invalid("network \"" + name + "\" has " + std::to_string(taken.kvs.size()) + " endpoint(s) attached");
  if (!etcd.txn({Etcd::cmp_mod_revision(net_key(name), s->mod_revision)},
                {Etcd::op_delete(net_key(name)), Etcd::op_delete(vni_key(vni_of(s->def)))}))
    fail_invalid("network \"" + name + "\" changed while being removed; try again");
  // An allocation that slipped in between the range and the delete: undo the removal.
  if (!etcd.range(ipam_prefix(name), true).kvs.empty()) {
    etcd.txn({Etcd::cmp_absent(net_key(name))}, {Etcd::op_put(net_key(name), network_to_json(s->def)),
                                                 Etcd::op_put(vni_key(vni_of(s->def)), name)});
    fail_invalid("network \"" + name + "\" has endpoints attached");
  }
}

// --- addresses ---

uint32_t allocate(Etcd& etcd, const NetworkDef& net, int64_t net_rev, const std::string& id, const std::string& host,
                  std::optional<uint32_t> want) {
  const std::string value = ipam_value(id, host);
  auto usable = [&](uint32_t ip) {
    return net.subnet.contains(ip) && ip != net.subnet.first() && ip != net.subnet.last() && ip != net.gateway;
  };
  auto try_take = [&](uint32_t ip) {
    return etcd.txn({Etcd::cmp_absent(ipam_key(net.name, ipv4_str(ip))), Etcd::cmp_mod_revision(net_key(net.name), net_rev)},
                    {Etcd::op_put(ipam_key(net.name, ipv4_str(ip)), value)});
  };
  auto network_gone = [&] {
    auto cur = etcd.get(net_key(net.name));
    return !cur || cur->mod_revision != net_rev;
  };
  if (want) {
    if (!usable(*want)) fail_invalid("io.ocinet.ip: " + ipv4_str(*want) + " is not a usable address of " + net.subnet.str());
    fault_point("take lease");
    if (try_take(*want)) return *want;
    if (network_gone()) fail_invalid("network " + net.name + " was removed while this container started");
    auto holder = etcd.get(ipam_key(net.name, ipv4_str(*want)));
    std::string who = "another container";
    if (holder) {
      auto j = nlohmann::json::parse(holder->value, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("container") && j["container"].is_string())
        who = "container " + display_id(j["container"].get<std::string>());
    }
    fail_invalid("address " + ipv4_str(*want) + " is already in use by " + who);
  }
  unsigned seed = 0;
  for (char c : id) seed = seed * 131 + uint8_t(c);
  for (int round = 0; round < 8; round++) {
    std::set<uint32_t> taken;
    for (const auto& kv : etcd.range(ipam_prefix(net.name), /*keys_only=*/true).kvs)
      if (auto ip = parse_ipv4(kv.key.substr(ipam_prefix(net.name).size()))) taken.insert(*ip);
    // Candidates: the lowest free addresses; concurrent setups on other hosts start at
    // different ones of them (seeded by the id) so they rarely collide.
    std::vector<uint32_t> free;
    for (uint32_t ip = net.subnet.first() + 1; ip < net.subnet.last() && free.size() < 32; ip++)
      if (usable(ip) && !taken.count(ip)) free.push_back(ip);
    if (free.empty()) fail_invalid("network " + net.name + ": no free address in " + net.subnet.str());
    for (size_t k = 0; k < free.size(); k++) {
      // The lowest free address first (Docker's order); after a collision with a concurrent
      // setup elsewhere, a candidate picked by the id, so the contenders spread out.
      uint32_t ip = round == 0 && k == 0 ? free[0] : free[(seed + k) % free.size()];
      fault_point("take lease");
      if (try_take(ip)) return ip;
      if (network_gone()) fail_invalid("network " + net.name + " was removed while this container started");
      if (k >= 3) break;  // crowded: read the allocations again
    }
  }
  fail_system("etcd: could not take an address on " + net.name + " (too much contention)", 0);
}

void release(Etcd& etcd, const std::string& network, const std::string& ip, const std::string& id, const std::string& host) {
  const std::string value = ipam_value(id, host);
  if (!ip.empty()) {
    etcd.remove_if(ipam_key(network, ip), value);
    return;
  }
  for (const auto& kv : etcd.range(ipam_prefix(network)).kvs)
    if (kv.value == value) etcd.remove_if(kv.key, value);
}

// --- endpoints ---

void register_endpoint(Etcd& etcd, const HostInfo& me, const EndpointRecord& rec, const Attachment& a) {
  Endpoint e;
  e.id = rec.id;
  e.name = rec.name;
  e.hostname = rec.hostname;
  e.aliases = a.aliases;
  e.ip = a.ip;
  e.mac = a.mac;
  e.vtep = me.vtep;
  e.host = me.host;
  e.network = a.network;
  fault_point("register endpoint");
  try {
    etcd.put(ep_key(a.network, rec.id), endpoint_json(e), me.lease);
  } catch (const EtcdError& err) {
    // A put answers NotFound when its lease is gone (etcd's ErrGRPCLeaseNotFound): the agent that
    // keeps it alive is gone, or has not replaced it yet.
    if (err.code() == GrpcCode::NotFound)
      fail_system("overlay: this host's etcd lease has expired: is `ocinet agent` running?", 0);
    throw;
  }
}

std::vector<Endpoint> endpoints_on(Etcd& etcd, const std::string& network) {
  std::vector<Endpoint> out;
  for (const auto& kv : etcd.range(ep_prefix(network)).kvs)
    if (auto e = endpoint_from(kv); e && e->network == network) out.push_back(*e);
  return out;
}

// --- data plane ---

namespace {

NlAddrPtr parse(const std::string& text, int family) {
  nl_addr* a = nullptr;
  if (int err = nl_addr_parse(text.c_str(), family, &a); err < 0) nl_fail("parsing address " + text, err);
  return NlAddrPtr(a);
}

std::string addr_str(nl_addr* a) {
  char buf[128];
  return a ? nl_addr2str(a, buf, sizeof buf) : "";
}

NeighPtr fdb_entry(int ifindex, const std::string& mac, const std::string& vtep) {
  NeighPtr n(rtnl_neigh_alloc());
  // NDA_DST (the remote VTEP) first: libnl refuses an address whose family differs from the
  // entry's once that is set, and an FDB entry is AF_BRIDGE with an AF_INET destination.
  if (!vtep.empty()) {
    auto dst = parse(vtep, AF_INET);
    if (int err = rtnl_neigh_set_dst(n.get(), dst.get()); err < 0) nl_fail("FDB entry destination " + vtep, err);
  }
  rtnl_neigh_set_family(n.get(), AF_BRIDGE);
  rtnl_neigh_set_ifindex(n.get(), ifindex);
  auto ll = parse(mac, AF_LLC);
  rtnl_neigh_set_lladdr(n.get(), ll.get());
  rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
  rtnl_neigh_set_flags(n.get(), NTF_SELF);
  return n;
}

NeighPtr arp_entry(int ifindex, const std::string& ip, const std::string& mac) {
  NeighPtr n(rtnl_neigh_alloc());
  rtnl_neigh_set_family(n.get(), AF_INET);
  rtnl_neigh_set_ifindex(n.get(), ifindex);
  auto dst = parse(ip, AF_INET);
  if (int err = rtnl_neigh_set_dst(n.get(), dst.get()); err < 0) nl_fail("neighbour entry " + ip, err);
  if (!mac.empty()) {
    auto ll = parse(mac, AF_LLC);
    rtnl_neigh_set_lladdr(n.get(), ll.get());
  }
  rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
  return n;
}
}  // namespace

Devices ensure_devices(NlSocket& nl, const NetworkDef& net, const std::string& vtep) {
  Devices d;
  d.bridge = ensure_bridge(nl, bridge_name(net), net.subnet, /*gateway=*/0, net.mtu);
  const std::string vx = vxlan_name(net);
  auto [existing, up] = link_state(nl, vx);
  if (existing) {
    if (!up) set_link_up(nl, existing);  // left down by a creator killed half-way
    d.vxlan = existing;
    return d;
  }
  fault_point("create vxlan");
  LinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) fail_system("netlink: out of memory", ENOMEM);
  rtnl_link_set_name(link.get(), vx.c_str());
  rtnl_link_vxlan_set_id(link.get(), vni_of(net));
  auto local = parse(vtep, AF_INET);
  rtnl_link_vxlan_set_local(link.get(), local.get());
  rtnl_link_vxlan_set_port(link.get(), kVxlanPort);
  // Entries come from etcd, not from flooding and learning; ARP for remote containers is
  // answered by the device itself from its neighbour table (no broadcast crosses the underlay).
  rtnl_link_vxlan_set_learning(link.get(), 0);
  rtnl_link_vxlan_set_proxy(link.get(), 1);
  rtnl_link_set_mtu(link.get(), unsigned(net.mtu ? net.mtu : kDefaultMtu));
  rtnl_link_set_master(link.get(), d.bridge);
  rtnl_link_set_flags(link.get(), IFF_UP);
  int err = rtnl_link_add(nl.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0 && err != -NLE_EXIST)  // EXIST: a concurrent creator won
    nl_fail("creating VXLAN device " + vx + " (VNI " + std::to_string(vni_of(net)) + ")", err);
  d.vxlan = link_index(nl, vx);
  if (!d.vxlan) fail_system("creating VXLAN device " + vx + ": vanished after creation", 0);
  return d;
}

int attach(NlSocket& nl, const NetworkDef& net, const std::string& vtep, int ns_fd, const Attachment& a) {
  auto d = ensure_devices(nl, net, vtep);
  try {
    create_veth(nl, a.host_ifname, d.bridge, a.mtu, a.ifname, ns_fd, a.mac, /*hairpin=*/false);
  } catch (const Error& e) {
    throw veth_error(e, net.name, bridge_name(net));
  }
  return d.vxlan;
}

void remove_devices(NlSocket& nl, const NetworkDef& net) {
  delete_link(nl, vxlan_name(net));
  delete_link(nl, bridge_name(net));
}

void add_remote(NlSocket& nl, int vxlan_ifindex, const Endpoint& e) {
  auto fdb = fdb_entry(vxlan_ifindex, e.mac, e.vtep);
  if (int err = rtnl_neigh_add(nl.get(), fdb.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    nl_fail("adding FDB entry " + e.mac + " -> " + e.vtep, err);
  auto arp = arp_entry(vxlan_ifindex, e.ip, e.mac);
  if (int err = rtnl_neigh_add(nl.get(), arp.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    nl_fail("adding neighbour entry " + e.ip + " -> " + e.mac, err);
}

void remove_remote(NlSocket& nl, int vxlan_ifindex, const Endpoint& e) {
  auto fdb = fdb_entry(vxlan_ifindex, e.mac, e.vtep);
  int err = rtnl_neigh_delete(nl.get(), fdb.get(), 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) nl_fail("deleting FDB entry " + e.mac, err);
  auto arp = arp_entry(vxlan_ifindex, e.ip, "");
  err = rtnl_neigh_delete(nl.get(), arp.get(), 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) nl_fail("deleting neighbour entry " + e.ip, err);
}

InstalledEntries installed_entries(NlSocket& nl, int vxlan_ifindex) {
  InstalledEntries out;
  nl_cache* cache = nullptr;
  // One dump of every family: the kernel answers AF_UNSPEC with neighbours and bridge FDBs.
  if (int err = rtnl_neigh_alloc_cache(nl.get(), &cache); err < 0) nl_fail("listing neighbour entries", err);
  CachePtr owned(cache);
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* n = reinterpret_cast<rtnl_neigh*>(o);
    if (rtnl_neigh_get_ifindex(n) != vxlan_ifindex || !(rtnl_neigh_get_state(n) & NUD_PERMANENT)) continue;
    std::string mac = addr_str(rtnl_neigh_get_lladdr(n));
    std::string dst = addr_str(rtnl_neigh_get_dst(n));
    if (mac.empty() || dst.empty()) continue;
    if (rtnl_neigh_get_family(n) == AF_BRIDGE)
      out.fdb.push_back({mac, dst});
    else if (rtnl_neigh_get_family(n) == AF_INET)
      out.neigh.push_back({dst, mac});
  }
  return out;
}

HostsEntry hosts_entry(const Endpoint& e) {
  HostsEntry h{e.ip, {}};
  if (!e.name.empty()) h.names.push_back(e.name);
  if (!e.hostname.empty() && e.hostname != e.name) h.names.push_back(e.hostname);
  for (const auto& a : e.aliases) h.names.push_back(a);
  return h;
}

}  // namespace ocinet::overlay
