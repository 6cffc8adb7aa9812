#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <functional>
#include <optional>

#include <spdlog/spdlog.h>

#include "netcore/discovery.h"
#include "netcore/dns_link.h"
#include "netcore/drivers/bridge.h"
#include "netcore/drivers/vlan.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/ipam.h"
#include "netcore/netlink.h"
#include "netcore/netns.h"
#include "netcore/overlay/overlay.h"
#include "netcore/port_table.h"
#include "netcore/restore.h"
#include "netcore/setup.h"

namespace ocinet {
namespace {

// Collects the first failure while every step still runs (teardown is best effort).
class Errors {
 public:
  template <typename F>
  void run(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      if (!first_) first_ = e;
    } catch (const std::exception& e) {
      if (!first_) first_ = Error(ErrorKind::System, e.what());
    }
  }
  void rethrow() const {
    if (first_) throw *first_;
  }

 private:
  std::optional<Error> first_;
};

// Calls fn(path, name, lstat) for every non-directory entry below `dir`, recursively (the
// state directories are shallow: ipam/<net>/v6, ports/<proto>/<port>/<addr>).
template <typename F>
void for_each_file(const std::string& dir, F&& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string path = dir + "/" + n;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      for_each_file(path, fn);
    else
      fn(path, n, st);
  }
  ::closedir(d);
}

// Removes every ownership mark under `dir` that names `owner`. Used only when there is no
// record to say which marks those are.
void remove_owned_files(const std::string& dir, const std::string& owner) {
  for_each_file(dir, [&](const std::string& path, const std::string&, const struct stat& st) {
    if (!S_ISLNK(st.st_mode)) return;
    auto holder = read_owner_mark(path);
    if (holder && *holder == owner) remove_file(path);
  });
}

// Removes "<name>.tmp.<pid>" files (write_file_atomic, replace_owner_mark) whose writer is dead:
// the remains of a hook killed between writing a temp file and renaming it.
void remove_stale_temps(const std::string& dir) {
  for_each_file(dir, [](const std::string& path, const std::string& n, const struct stat&) {
    auto at = n.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= n.size() || n.find_first_not_of("0123456789", at + 5) != std::string::npos)
      return;
    pid_t pid = pid_t(std::stol(n.substr(at + 5)));
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(path.c_str());
  });
}

}  // namespace

void release_addresses(const Paths& paths, const std::string& id, const Attachment& a) {
  std::string dir = paths.lease_dir(a.network);
  if (a.ip.empty()) {  // crashed between logging the step and recording the address
    remove_owned_files(dir, id);
    return;
  }
  if (auto ip = parse_ipv4(a.ip)) LeaseStore::release_at(dir, id, *ip);
  if (a.ip6.empty()) return;
  // IPv6 leases are named by host index within the subnet (see lease_addresses).
  auto subnet6 = parse_ipv6_net(a.ip6 + "/" + std::to_string(a.prefix6), /*strict=*/false);
  if (auto idx = subnet6 ? subnet6->index_of(a.ip6) : std::nullopt) LeaseStore::release_at(dir + "/v6", id, *idx);
}

void undo_record(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec, const Checkpoint& checkpoint) {
  Errors errors;
  bool checkpointed = !checkpoint;
  std::optional<NlSocket> host;
  std::optional<FileLock> lock;  // taken once, at the first allocation step
  auto with_lock = [&] {
    if (!lock) lock.emplace(paths.alloc_lock());
  };
  // Overlay keys in etcd: best effort. When etcd cannot be reached the local state is still
  // released, and the agent's resync deletes the keys of containers this host no longer has.
  std::optional<Etcd> etcd;
  std::optional<overlay::HostInfo> me;
  bool etcd_down = false;
  auto in_etcd = [&](const char* what, const std::function<void(Etcd&)>& fn) {
    if (etcd_down || cfg.etcd_endpoints.empty()) return;
    try {
      if (!etcd) etcd.emplace(overlay::connect(cfg, 1500));
      fn(*etcd);
    } catch (const Error& e) {
      etcd_down = true;
      spdlog::warn("{}: {} (left for the agent's resync)", what, e.what());
    }
  };
  for (auto it = rec.steps.rbegin(); it != rec.steps.rend(); ++it) {
    const std::string& s = *it;
    auto colon = s.find(':');
    std::string kind = s.substr(0, colon);
    size_t index = colon == std::string::npos ? 0 : std::stoul(s.substr(colon + 1));
    if (index >= rec.attachments.size() && (kind == "veth" || kind == "lease" || kind == "endpoint")) continue;
    // Once an address, port or name is released, another container may take it, and undoing the
    // steps before it again (a killed teardown finished by gc) would remove that container's
    // rules: the record first forgets them, so a second run resumes from here.
    if (!checkpointed && (kind == "ports" || kind == "lease" || kind == "name")) {
      checkpointed = true;
      bool saved = false;
      errors.run([&] {
        checkpoint(std::vector<std::string>(rec.steps.begin(), it.base()));
        saved = true;
      });
      if (!saved) break;  // releasing now could not be resumed safely: left for the next run
    }
    errors.run([&] {
      if (kind == "peers") {
        DiscoveryLocks locks(paths, discovery_networks(rec));
        withdraw(paths, RecordStore(paths.run_dir), rec);
      } else if (kind == "firewall") {
        auto fw = make_firewall(cfg.firewall_backend);
        bool flushed = false;  // ocinet's tables were gone: the other endpoints' rules are written again
        for (size_t i = 0; i < rec.attachments.size(); i++) {
          const auto& a = rec.attachments[i];
          if (a.ip.empty() || !has_nat(a.driver)) continue;
          flushed |= fw->remove_endpoint_rules(endpoint_rules(rec.tag, a, i == 0 ? rec.ports : std::vector<PortMapping>{}));
        }
        if (flushed) restore_firewall(paths, *fw, {}, rec.id);
      } else if (kind == "endpoint") {
        const auto& a = rec.attachments[index];
        in_etcd("unregistering the overlay endpoint", [&](Etcd& e) { e.remove(overlay::ep_key(a.network, rec.id)); });
      } else if (kind == "veth") {
        const auto& a = rec.attachments[index];
        if (is_subinterface(a.driver)) {
          detach_sublink(rec.netns, rec.netns_id, a);
        } else {  // a veth on a bridge, the overlay's too
          if (!host) host.emplace();
          detach_bridge(*host, a);
        }
      } else if (kind == "ports") {
        with_lock();
        if (rec.ports.empty())  // crashed before the reserved ports were recorded
          remove_owned_files(paths.ports_dir(), rec.id);
        else
          PortTable(paths.ports_dir()).release(rec.id, rec.ports);
      } else if (kind == "lease") {
        with_lock();
        const auto& a = rec.attachments[index];
        if (a.driver == Driver::overlay) {
          if (!me) me = overlay::load_host(paths);
          if (me) in_etcd("releasing the overlay address", [&](Etcd& e) { overlay::release(e, a.network, a.ip, rec.id, me->host); });
        }
        release_addresses(paths, rec.id, a);  // (overlay: the local membership mark)
      } else if (kind == "name") {
        with_lock();
        std::string path = paths.names_dir() + "/" + rec.name;
        auto holder = read_owner_mark(path);
        if (holder && *holder == rec.id) remove_file(path);
      }
    });
  }
  errors.rethrow();
}

Checkpoint save_steps(const RecordStore& records, const EndpointRecord& rec) {
  return [&records, &rec](const std::vector<std::string>& steps) {
    EndpointRecord r = rec;
    r.steps = steps;
    records.save(r);
  };
}

namespace {

// The tags the rules of `id` may carry once its record is gone: the whole id, and the first 12
// characters (earlier releases). A tag that another container's record uses is not this one's.
std::vector<std::string> orphan_tags(const RecordStore& records, const std::string& id) {
  std::vector<std::string> tags;
  if (id.size() <= kMaxContainerIdLen) tags.push_back(id);  // longer ones were never set up
  if (id.size() > 12) tags.push_back(id.substr(0, 12));
  const auto ids = records.list_ids();
  std::vector<std::string> out;
  for (const auto& tag : tags) {
    bool shared = false;
    for (const auto& other : ids)
      if (other != id && other.compare(0, 12, tag, 0, 12) == 0 && is_valid_name(other, kMaxLegacyIdLen))
        if (auto r = records.load(other); r && r->tag == tag) shared = true;
    if (!shared) out.push_back(tag);
  }
  return out;
}

// Caller holds the endpoint's lock.
void teardown_locked(const Paths& paths, const AdminConfig& cfg, const std::string& id) {
  RecordStore records(paths.run_dir);
  if (auto rec = records.load(id)) {
    // Write-ahead, as setup is: a teardown killed from here on is finished by gc or a second
    // poststop, never mistaken for a running endpoint.
    if (!rec->removing()) {
      rec->state = "removing";
      records.save(*rec);
    }
    // The name server stops answering it first (and closes its sockets, which hold the netns);
    // a server that is not running reads no record that is not ready when it starts.
    dns_notify(paths.run_dir, paths.lib_dir, "remove", id);
    undo_record(paths, cfg, *rec, save_steps(records, *rec));
    records.remove(id);
    remove_file(paths.endpoint_lock(id));
    return;
  }
  // No record: an unknown id, a second teardown, or a record lost with the run dir. Release
  // whatever can be derived from the id; each of these finds nothing in the common case.
  Errors errors;
  errors.run([&] {
    NlSocket host;
    for (size_t i = 0; i < 10; i++) delete_link(host, host_veth_name(id, i));
  });
  errors.run([&] {
    auto fw = make_firewall(cfg.firewall_backend);
    for (const auto& tag : orphan_tags(records, id)) fw->remove_endpoint(tag);
  });
  errors.run([&] {
    FileLock lock(paths.alloc_lock());
    for (auto dir : {paths.run_dir + "/ipam", paths.ports_dir(), paths.names_dir()}) remove_owned_files(dir, id);
  });
  errors.rethrow();
  remove_file(paths.endpoint_lock(id));
}

}  // namespace

void teardown_endpoint(const GlobalOptions& opts, const AdminConfig& cfg, const std::string& id) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  if (!is_valid_name(id, kMaxLegacyIdLen)) fail_invalid("invalid container id");
  FileLock lock(paths.endpoint_lock(id));
  teardown_locked(paths, cfg, id);
}

std::vector<GcResult> gc_endpoints(const GlobalOptions& opts, const AdminConfig& cfg) {
  const Paths paths{opts.run_dir, opts.lib_dir};
  RecordStore records(opts.run_dir);
  std::vector<GcResult> released;
  for (const auto& id : records.list_ids()) {
    if (!is_valid_name(id, kMaxLegacyIdLen)) continue;
    auto lock = FileLock::try_lock(paths.endpoint_lock(id));
    if (!lock) continue;  // a setup or teardown is at work on it
    auto rec = records.load(id);
    if (!rec) continue;
    std::string why;
    if (rec->removing()) {
      why = "teardown never completed";
    } else if (!rec->ready()) {
      why = "setup never completed";
    } else {
      std::string current;
      try {
        current = Netns::open(rec->netns).identity();
      } catch (const Error&) {
      }
      if (current.empty() || (!rec->netns_id.empty() && current != rec->netns_id)) why = "network namespace gone";
    }
    if (why.empty()) continue;
    teardown_locked(paths, cfg, id);
    released.push_back({id, rec->name, why});
  }
  for (const auto& dir : {paths.run_dir + "/endpoints", paths.run_dir + "/ipam", paths.names_dir()}) remove_stale_temps(dir);
  return released;
}

}  // namespace ocinet
