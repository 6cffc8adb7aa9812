// Teardown and gc: both replay the endpoint's record through the one undo (undo.h).
#include "base/error.h"
#include "netcore/dns_link.h"
#include "netcore/fsutil.h"
#include "netcore/netns.h"
#include "netcore/setup.h"
#include "netcore/undo.h"

namespace ocinet {
namespace {

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
  // No record: an unknown id, a second teardown, or a record lost with the run dir. What can be
  // derived from the id is released; each step finds nothing in the common case.
  undo_record(paths, cfg, derived_record(id));
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
