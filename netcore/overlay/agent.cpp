#include "netcore/overlay/agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <spdlog/spdlog.h>
#include <thread>

#include "dns/control.h"
#include "netcore/discovery.h"
#include "netcore/dns_feed.h"
#include "base/error.h"
#include "netcore/fsutil.h"
#include "netcore/nl_util.h"
#include "netcore/overlay/overlay.h"

namespace ocinet::overlay {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

// Sleeps up to `ms`, returning early (false) when asked to stop.
bool nap(int ms) {
  for (int waited = 0; waited < ms && !g_stop; waited += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return !g_stop;
}

std::string load_or_make_host_id(const Paths& paths) {
  std::string path = paths.lib_dir + "/overlay/host-id";
  if (auto id = read_file(path)) {
    std::string s = id->substr(0, id->find('\n'));
    if (is_valid_name(s, 64)) return s;
  }
  unsigned char rnd[8];
  if (::getrandom(rnd, sizeof rnd, 0) != sizeof rnd) fail_system("getrandom", errno);
  char hex[17];
  for (int i = 0; i < 8; i++) std::snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  make_dirs(paths.lib_dir + "/overlay");
  write_file_atomic(path, std::string(hex) + "\n", /*durable=*/true);
  return hex;
}

// Names of this host's overlay devices (ocov-*/ocvx-*), for removing those of deleted networks.
std::vector<std::string> overlay_links(NlSocket& nl) {
  std::vector<std::string> out;
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(nl.get(), AF_UNSPEC, &cache); err < 0) nl_fail("listing links", err);
  CachePtr owned(cache);
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    std::string name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o));
    if (name.rfind("ocov-", 0) == 0 || name.rfind("ocvx-", 0) == 0) out.push_back(name);
  }
  return out;
}

class Agent {
 public:
  Agent(const GlobalOptions& opts, const AdminConfig& cfg, HostInfo me)
      : paths_{opts.run_dir, opts.lib_dir}, cfg_(cfg), me_(std::move(me)) {}

  // The watcher: full resync, then follow the event stream; again after any break.
  void watch_loop() {
    Etcd etcd(cfg_.etcd_endpoints, 3000);
    int backoff = 200;
    while (!g_stop) {
      try {
        int64_t rev = resync(etcd);
        backoff = 200;
        bool compacted = false;
        etcd.watch(
            kPrefix, rev + 1,
            [&](const std::vector<EtcdEvent>& evs, int64_t) {
              apply(evs);
              return !g_stop.load();
            },
            [] { return !g_stop.load(); }, compacted);
        if (compacted) spdlog::warn("watch: history compacted past revision {}; resyncing", rev + 1);
      } catch (const Error& e) {
        if (g_stop) break;
        spdlog::warn("{}; retrying in {} ms", e.what(), backoff);
        nap(backoff);
        backoff = std::min(backoff * 2, 5000);
      }
    }
  }

  // The keeper: the host's lease stays alive; a lost lease is replaced and this host's
  // endpoints are registered again under the new one.
  void lease_loop(int ttl) {
    Etcd etcd(cfg_.etcd_endpoints, 2000);
    bool was_down = false;
    while (nap(std::max(1, ttl / 3) * 1000)) {
      try {
        if (etcd.lease_keepalive(lease()) > 0) {
          if (was_down) spdlog::info("etcd reachable again; lease {} still alive", lease());
          was_down = false;
          continue;
        }
        int64_t fresh = etcd.lease_grant(ttl);
        {
          std::lock_guard<std::mutex> g(mu_);
          me_.lease = fresh;
          save_host(paths_, me_);
        }
        spdlog::warn("lease expired; new lease {}, registering this host's endpoints again", fresh);
        reregister(etcd, {});
        was_down = false;
      } catch (const Error& e) {
        if (!was_down) spdlog::warn("keeping the lease alive: {}", e.what());
        was_down = true;
      }
    }
  }

 private:
  int64_t lease() {
    std::lock_guard<std::mutex> g(mu_);
    return me_.lease;
  }

  std::vector<EndpointRecord> local_records() {
    RecordStore records(paths_.run_dir);
    std::vector<EndpointRecord> out;
    for (const auto& id : records.list_ids())
      if (auto r = records.load(id)) out.push_back(std::move(*r));
    return out;
  }

  static bool on_overlay(const EndpointRecord& r, const std::string& net) {
    for (const auto& a : r.attachments)
      if (a.driver == Driver::overlay && a.network == net && !a.ip.empty()) return true;
    return false;
  }

  // Registers (again) every overlay attachment of this host whose key is missing or carries an
  // old lease. `present`: ep key -> lease as etcd has it.
  void reregister(Etcd& etcd, const std::map<std::string, int64_t>& present) {
    HostInfo me;
    {
      std::lock_guard<std::mutex> g(mu_);
      me = me_;
    }
    for (const auto& r : local_records()) {
      if (!r.ready()) continue;  // a setup in progress registers itself
      for (const auto& a : r.attachments) {
        if (a.driver != Driver::overlay || a.ip.empty()) continue;
        auto it = present.find(ep_key(a.network, r.id));
        if (it != present.end() && it->second == me.lease) continue;
        register_endpoint(etcd, me, r, a);
      }
    }
  }

  int vxlan_index(NlSocket& nl, const std::string& net) {
    auto it = nets_.find(net);
    if (it == nets_.end()) return 0;
    return link_index(nl, vxlan_name(it->second));
  }

  // The name server answers for other hosts' containers (feed_name_server): nothing new goes
  // into hosts files. Two kinds of containers still hold remote lines: those of releases before
  // the name server (a "peers" step; their resolv.conf does not point at it), kept in step here
  // as before, and those of the release before this one, which wrote remote lines and now only
  // lose them, on a full refresh (at every resync: one read of each hosts file). Per event, only
  // the first kind costs anything, and only while one of them runs.
  void refresh_hosts(const std::string& net, const std::string& owner) {
    if (!owner.empty() && !legacy_hosts_) return;
    const auto records = local_records();
    std::set<std::string> local_ids;
    for (const auto& l : records) local_ids.insert(l.tag);
    legacy_hosts_ = false;
    for (const auto& r : records) {
      if (!r.ready() || r.rootfs.empty()) continue;
      std::vector<std::string> nets;
      bool any_overlay = false;
      for (const auto& a : r.attachments) {
        if (a.driver != Driver::overlay || a.ip.empty()) continue;
        any_overlay = true;
        if (net.empty() || a.network == net) nets.push_back(a.network);
      }
      const bool legacy = any_overlay && announced_in_peers(r);
      legacy_hosts_ = legacy_hosts_ || legacy;
      if (nets.empty() || (!legacy && !owner.empty())) continue;
      // What the container should list: remote endpoints on the overlay networks it is on (none
      // unless it predates the name server).
      std::map<std::string, std::vector<HostsEntry>> want;
      if (legacy)
        for (const auto& [key, e] : remote_)
          if (on_overlay(r, e.network) && (owner.empty() || e.id == owner)) want[e.id].push_back(hosts_entry(e));
      std::vector<std::pair<std::string, std::vector<HostsEntry>>> edits;
      if (!owner.empty()) edits.push_back({owner, want[owner]});
      for (auto& [id, entries] : want)
        if (id != owner) edits.push_back({id, entries});
      std::set<std::string> wanted_ids;
      for (const auto& [id, _] : want) wanted_ids.insert(id);
      try {
        DiscoveryLocks locks(paths_, nets);
        // On a full refresh, lines of remote owners that are gone are dropped too.
        std::function<bool(const std::string&)> drop;
        if (owner.empty()) drop = [&](const std::string& o) { return !local_ids.count(o) && !wanted_ids.count(o); };
        edit_hosts(paths_, r, edits, drop);
      } catch (const Error& e) {
        spdlog::warn("updating /etc/hosts of {}: {}", r.short_id(), e.what());
      }
    }
  }

  // Tells the name server (RUN/dns, netcore/dns_feed.h) the other hosts' containers on each of
  // `networks` with embedded DNS; a network gone or without it loses its file.
  void feed_name_server(const std::set<std::string>& networks) {
    for (const auto& net : networks) {
      try {
        bool changed;
        auto def = nets_.find(net);
        if (def == nets_.end() || !has_embedded_dns(def->second)) {
          changed = remove_remote_endpoints(paths_.run_dir, net);
        } else {
          std::vector<RemoteEndpoint> eps;
          const std::string prefix = ep_prefix(net);  // remote_ is keyed by etcd key: this network's are adjacent
          for (auto it = remote_.lower_bound(prefix); it != remote_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
            if (const Endpoint& e = it->second; e.network == net)  // as the FDB entries go by
              eps.push_back({e.id, e.name, e.hostname, e.ip, e.aliases});
          changed = write_remote_endpoints(paths_.run_dir, net, eps);
        }
        if (changed) dns_tell_remote(paths_.run_dir, net);  // no server: it reads the file when it starts
      } catch (const Error& e) {
        spdlog::warn("telling the name server about {}: {}", net, e.what());
      }
    }
  }

  // What one read of the whole prefix holds, sorted by kind of key.
  struct Snapshot {
    std::map<std::string, NetworkDef> nets;  // usable overlay networks, by name
    std::map<std::string, Endpoint> remote;  // ep key -> endpoint on another host
    std::map<std::string, int64_t> own_eps;  // ep key -> lease, for this host's endpoints
    std::vector<EtcdKv> own_keys;            // this host's ipam and ep keys
  };

  Snapshot sort_keys(const EtcdRange& all) const {
    const std::string prefix = kPrefix;
    Snapshot s;
    for (const auto& kv : all.kvs) {
      std::string rest = kv.key.substr(prefix.size());
      if (rest.rfind("net/", 0) == 0) {
        try {
          auto n = network_from_json(kv.value);
          if (n.driver == Driver::overlay && vni_of(n) && n.id.size() >= 10) s.nets[n.name] = n;
        } catch (const Error&) {
          spdlog::warn("ignoring corrupt network definition {}", kv.key);
        }
      } else if (rest.rfind("ep/", 0) == 0) {
        auto e = endpoint_from(kv);
        if (!e) continue;
        if (e->host == me_.host) {
          s.own_eps[kv.key] = kv.lease;
          s.own_keys.push_back(kv);
        } else {
          s.remote[kv.key] = *e;
        }
      } else if (rest.rfind("ipam/", 0) == 0) {
        auto j = nlohmann::json::parse(kv.value, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.value("host", "") == me_.host) s.own_keys.push_back(kv);
      }
    }
    return s;
  }

  // This host's keys whose container has no record here any more (it went while the agent was
  // away, or its teardown could not reach etcd): removed, unless someone rewrote them meanwhile.
  static void remove_leftovers(Etcd& etcd, const std::vector<EndpointRecord>& records, Snapshot& s) {
    const std::string prefix = kPrefix;
    std::set<std::string> local_ids;
    for (const auto& r : records) local_ids.insert(r.id);
    for (const auto& kv : s.own_keys) {
      auto j = nlohmann::json::parse(kv.value, nullptr, false);
      bool is_ep = kv.key.compare(prefix.size(), 3, "ep/") == 0;
      std::string id = j.is_object() ? j.value(is_ep ? "id" : "container", "") : "";
      if (local_ids.count(id)) continue;
      if (etcd.remove_if(kv.key, kv.value)) spdlog::info("removed leftover {} (container {} is gone)", kv.key, display_id(id));
      s.own_eps.erase(kv.key);
    }
  }

  // Devices of networks that no longer exist (removed while this agent was away), unless a
  // container here is still plugged into one.
  static void remove_orphan_devices(NlSocket& nl, const std::map<std::string, NetworkDef>& nets,
                                    const std::vector<EndpointRecord>& records) {
    std::set<std::string> wanted;
    for (const auto& [name, n] : nets) {
      wanted.insert(bridge_name(n));
      wanted.insert(vxlan_name(n));
    }
    for (const auto& l : overlay_links(nl)) {
      if (wanted.count(l)) continue;
      bool used = false;
      for (const auto& r : records)
        for (const auto& a : r.attachments) used = used || a.bridge == "ocov-" + l.substr(5);
      if (!used) {
        delete_link(nl, l);
        spdlog::info("removed {} (its overlay network is gone)", l);
      }
    }
  }

  // FDB and neighbour entries of network `name`'s VXLAN device `vx`: exactly its remote endpoints.
  static void sync_entries(NlSocket& nl, const std::string& name, int vx, const std::map<std::string, Endpoint>& remote) {
    std::set<std::pair<std::string, std::string>> fdb, neigh;
    for (const auto& [key, e] : remote)
      if (e.network == name) {
        fdb.insert({e.mac, e.vtep});
        neigh.insert({e.ip, e.mac});
      }
    auto have = installed_entries(nl, vx);
    for (const auto& [mac, vtep] : have.fdb)
      if (!fdb.count({mac, vtep})) remove_remote(nl, vx, Endpoint{"", "", "", "0.0.0.0", mac, vtep, "", name, {}});
    for (const auto& [ip, mac] : have.neigh)
      if (!neigh.count({ip, mac})) remove_remote(nl, vx, Endpoint{"", "", "", ip, "00:00:00:00:00:00", "", "", name, {}});
    for (const auto& [key, e] : remote)
      if (e.network == name) add_remote(nl, vx, e);
  }

  // The name server's copy of every overlay network (and of none that is gone), then the
  // remote endpoints of each.
  void refeed_name_server(const std::map<std::string, NetworkDef>& nets) {
    std::set<std::string> fed;
    for (const auto& name : fed_networks(paths_.run_dir))
      if (!nets.count(name)) {
        uncache_network_for_dns(paths_.run_dir, name);
        fed.insert(name);  // its remote file goes too
      }
    for (const auto& [name, n] : nets) {
      cache_network_for_dns(paths_.run_dir, n);
      fed.insert(name);
    }
    feed_name_server(fed);
  }

  // Brings this host in line with etcd as a whole: leftover keys, devices, FDB and neighbour
  // entries, this host's registrations, the name server and hosts files. Returns the revision
  // read, from which the watch follows.
  int64_t resync(Etcd& etcd) {
    auto all = etcd.range(kPrefix);
    Snapshot s = sort_keys(all);
    // Local records are read after the range: a key written by a setup that started meanwhile
    // had its record written first (write-ahead), so it is not mistaken for a leftover.
    auto records = local_records();
    remove_leftovers(etcd, records, s);

    NlSocket nl;
    std::map<std::string, int> vxlan;  // network -> its VXLAN device
    for (const auto& [name, n] : s.nets) vxlan[name] = ensure_devices(nl, n, me_.vtep).vxlan;
    remove_orphan_devices(nl, s.nets, records);
    nets_ = s.nets;
    for (const auto& [name, n] : s.nets) sync_entries(nl, name, vxlan[name], s.remote);
    remote_ = s.remote;
    reregister(etcd, s.own_eps);
    refeed_name_server(s.nets);
    refresh_hosts("", "");
    spdlog::info("resynced at revision {}: {} overlay network(s), {} remote endpoint(s)", all.revision, s.nets.size(),
                 s.remote.size());
    return all.revision;
  }

  void apply(const std::vector<EtcdEvent>& evs) {
    NlSocket nl;
    const std::string prefix = kPrefix;
    std::set<std::string> fed;  // networks whose remote file is written once, after the batch
    for (const auto& ev : evs) {
      try {
        std::string rest = ev.kv.key.substr(prefix.size());
        if (rest.rfind("net/", 0) == 0) {
          std::string name = rest.substr(4);
          if (ev.put) {
            auto n = network_from_json(ev.kv.value);
            if (n.driver != Driver::overlay || !vni_of(n) || n.id.size() < 10) continue;
            nets_[name] = n;
            cache_network_for_dns(paths_.run_dir, n);
            fed.insert(name);
            ensure_devices(nl, n, me_.vtep);
            spdlog::info("overlay network {} (VNI {}) ready on this host", name, vni_of(n));
          } else if (auto it = nets_.find(name); it != nets_.end()) {
            remove_devices(nl, it->second);
            nets_.erase(it);
            uncache_network_for_dns(paths_.run_dir, name);
            fed.insert(name);
            spdlog::info("overlay network {} removed", name);
          }
        } else if (rest.rfind("ep/", 0) == 0) {
          auto old = remote_.find(ev.kv.key);
          if (ev.put) {
            auto e = endpoint_from(ev.kv);
            if (!e || e->host == me_.host) continue;
            int vx = vxlan_index(nl, e->network);
            if (old != remote_.end() && vx && (old->second.mac != e->mac || old->second.ip != e->ip))
              remove_remote(nl, vx, old->second);
            if (vx) add_remote(nl, vx, *e);
            remote_[ev.kv.key] = *e;
            fed.insert(e->network);
            refresh_hosts(e->network, e->id);
            spdlog::debug("endpoint {} {} on {} at {}", display_id(e->id), e->ip, e->network, e->vtep);
          } else if (old != remote_.end()) {
            Endpoint e = old->second;
            remote_.erase(old);
            fed.insert(e.network);
            if (int vx = vxlan_index(nl, e.network)) remove_remote(nl, vx, e);
            refresh_hosts(e.network, e.id);
            spdlog::debug("endpoint {} left {}", display_id(e.id), e.network);
          }
        }
      } catch (const Error& e) {
        spdlog::warn("applying {}: {}", ev.kv.key, e.what());
      }
    }
    feed_name_server(fed);
  }

  Paths paths_;
  AdminConfig cfg_;
  std::mutex mu_;  // guards me_.lease (the keeper replaces it)
  HostInfo me_;
  std::map<std::string, NetworkDef> nets_;
  std::map<std::string, Endpoint> remote_;  // ep key -> endpoint on another host
  bool legacy_hosts_ = true;                // a container here predates the name server (refresh_hosts)
};

}  // namespace

std::string detect_vtep(const std::string& url) {
  auto scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);
  std::string host = rest.substr(0, rest.find_first_of(":/"));
  auto ip = parse_ipv4(host);
  if (!ip) return "";
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(9);
  sa.sin_addr.s_addr = htonl(*ip);
  std::string out;
  socklen_t len = sizeof sa;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    uint32_t local = ntohl(sa.sin_addr.s_addr);
    if ((local >> 24) != 127) out = ipv4_str(local);
  }
  ::close(fd);
  return out;
}

int run_agent(const GlobalOptions& opts, const AdminConfig& cfg, const AgentOptions& ao) {
  if (cfg.etcd_endpoints.empty()) fail_invalid("agent: no etcd endpoints (etcd.endpoints in the admin config)");
  if (ao.lease_ttl < 2 || ao.lease_ttl > 3600) fail_invalid("agent: --lease-ttl must be 2-3600 seconds");
  const Paths paths{opts.run_dir, opts.lib_dir};
  HostInfo me;
  me.host = load_or_make_host_id(paths);
  me.vtep = ao.advertise_address;
  if (me.vtep.empty())
    for (const auto& ep : cfg.etcd_endpoints)
      if (me.vtep.empty()) me.vtep = detect_vtep(ep);
  if (me.vtep.empty())
    fail_invalid("agent: cannot tell this host's underlay address from the etcd endpoints; give --advertise-address");
  if (!parse_ipv4(me.vtep)) fail_invalid("agent: --advertise-address " + me.vtep + ": not an IPv4 address");

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  // The lease: the previous run's when it is still alive (a restart keeps this host's
  // endpoints registered without a gap), else a new one.
  Etcd etcd = connect(cfg);
  if (auto prev = load_host(paths); prev && prev->host == me.host && prev->vtep == me.vtep) {
    try {
      if (etcd.lease_keepalive(prev->lease) > 0) me.lease = prev->lease;
    } catch (const Error&) {
    }
  }
  if (!me.lease) me.lease = etcd.lease_grant(ao.lease_ttl);
  save_host(paths, me);
  spdlog::info("ocinet agent: host {} vtep {} lease {} (ttl {} s), etcd {}", me.host, me.vtep, me.lease, ao.lease_ttl,
               cfg.etcd_endpoints[0]);

  Agent agent(opts, cfg, me);
  std::thread watcher([&] { agent.watch_loop(); });
  agent.lease_loop(ao.lease_ttl);
  watcher.join();
  spdlog::info("ocinet agent: stopping (lease {} left to expire or be reused by the next start)", me.lease);
  return 0;
}

}  // namespace ocinet::overlay
