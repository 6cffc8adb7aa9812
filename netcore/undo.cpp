#include "netcore/undo.h"

#include <optional>

#include "base/error.h"
#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "netcore/drivers/bridge.h"
#include "netcore/drivers/driver.h"
#include "netcore/firewall/firewall.h"
#include "netcore/fsutil.h"
#include "netcore/port_table.h"
#include "netcore/restore.h"

namespace ocinet {
namespace {

// Every failure of a best-effort run, reported together at the end (one line).
class Errors {
 public:
  template <typename F>
  void run(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      all_.push_back(e);
    } catch (const std::exception& e) {
      all_.emplace_back(ErrorKind::System, e.what());
    }
  }
  void rethrow() const {
    if (all_.empty()) return;
    std::string what = all_.front().what();
    for (size_t i = 1; i < all_.size(); i++) what += "; and " + std::string(all_[i].what());
    throw Error(all_.front().kind(), what, all_.front().sys_errno());
  }

 private:
  std::vector<Error> all_;
};

// The tags the rules of `id` may carry when the record does not say: the whole id, and the
// first 12 characters (earlier releases). A tag that another container's record uses is not
// this one's.
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

// Rules of attachments with a recorded address are removed by key; without one (a record
// derived from the id), by every tag they may carry.
void undo_firewall(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec) {
  auto fw = make_firewall(cfg.firewall_backend);
  bool flushed = false;  // ocinet's tables were gone: the other endpoints' rules are written again
  bool by_tag = false;
  for (size_t i = 0; i < rec.attachments.size(); i++) {
    const auto& a = rec.attachments[i];
    if (!network_driver(a.driver).has_firewall()) continue;
    if (a.ip.empty()) {
      by_tag = true;
      continue;
    }
    flushed |= fw->remove_endpoint_rules(endpoint_rules(rec.tag, a, i == 0 ? rec.ports : std::vector<PortMapping>{}));
  }
  if (by_tag)
    for (const auto& tag : orphan_tags(RecordStore(paths.run_dir), rec.id)) fw->remove_endpoint(tag);
  if (flushed) restore_firewall(paths, *fw, {}, rec.id);
}

// ocinet's blocks out of the container's hosts and resolv.conf (/etc/hostname holds only the
// name and is left). Only a setup that did not complete has this step still in its log.
void undo_files(const EndpointRecord& rec) {
  if (rec.rootfs.empty()) return;
  ContainerFiles files;
  for (auto [rel, source] : {std::pair{"etc/hosts", rec.hosts_source}, {"etc/resolv.conf", rec.resolv_source}}) {
    ContainerFileTarget t{rec.rootfs, rel, std::nullopt};
    if (!source.empty()) t.bind_source = source;
    try {
      std::string text = files.read(t);
      if (text.find(kBlockBegin) != std::string::npos) files.write(t, merge_block(text, {}));
    } catch (const Error&) {
      // Gone with the container, or never written: nothing of ocinet's is left in it.
    }
  }
}

void undo_ports(const Paths& paths, const EndpointRecord& rec) {
  if (rec.ports.empty())  // crashed before the reserved ports were recorded
    remove_owned_files(paths.ports_dir(), rec.id);
  else
    PortTable(paths.ports_dir()).release(rec.id, rec.ports);
}

void undo_name(const Paths& paths, const EndpointRecord& rec) {
  if (rec.name.empty()) {  // a derived record
    remove_owned_files(paths.names_dir(), rec.id);
    return;
  }
  std::string path = paths.names_dir() + "/" + rec.name;
  auto holder = read_owner_mark(path);
  if (holder && *holder == rec.id) remove_file(path);
}

}  // namespace

void undo(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec, const StepLog& steps,
          const Checkpoint& checkpoint) {
  Errors errors;
  bool checkpointed = !checkpoint;
  DriverContext ctx(paths, cfg, /*etcd_timeout_ms=*/1500);
  std::optional<FileLock> lock;  // the allocation lock, taken once, at the first step that frees
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const Step s = *it;
    if (per_attachment(s.kind) && s.index >= rec.attachments.size()) continue;
    if (!checkpointed && frees_shared(s.kind)) {
      checkpointed = true;
      bool saved = false;
      errors.run([&] {
        checkpoint(StepLog(steps.begin(), it.base()));
        saved = true;
      });
      if (!saved) break;  // freeing now could not be resumed safely: left for the next run
    }
    const Attachment* a = per_attachment(s.kind) ? &rec.attachments[s.index] : nullptr;
    errors.run([&] {
      if (frees_shared(s.kind) && !lock) lock.emplace(paths.alloc_lock());
      switch (s.kind) {
        case StepKind::files: return undo_files(rec);
        case StepKind::peers: {
          DiscoveryLocks locks(paths, discovery_networks(rec));
          return withdraw(paths, RecordStore(paths.run_dir), rec);
        }
        case StepKind::firewall: return undo_firewall(paths, cfg, rec);
        case StepKind::announce: return network_driver(a->driver).withdraw(ctx, rec, *a);
        case StepKind::link: return network_driver(a->driver).detach(ctx, rec, *a);
        case StepKind::ports: return undo_ports(paths, rec);
        case StepKind::lease: return network_driver(a->driver).release(ctx, rec.id, *a);
        case StepKind::name: return undo_name(paths, rec);
      }
    });
  }
  errors.rethrow();
}

Checkpoint save_steps(const RecordStore& records, const EndpointRecord& rec) {
  return [&records, &rec](const StepLog& steps) {
    EndpointRecord r = rec;
    r.steps = steps;
    records.save(r);
  };
}

EndpointRecord derived_record(const std::string& id) {
  EndpointRecord rec;
  rec.id = rec.tag = id;
  rec.name.clear();  // found by owner
  rec.steps = {{StepKind::name}, {StepKind::lease, 0}, {StepKind::ports}};
  for (size_t i = 0; i < 10; i++) {  // setup takes at most 10 networks
    Attachment a;  // no network, no address: leases found by owner, rules by tag
    a.host_ifname = host_veth_name(id, i);
    rec.attachments.push_back(a);
    rec.steps.push_back({StepKind::link, i});
  }
  rec.steps.push_back({StepKind::firewall});
  return rec;
}

}  // namespace ocinet
