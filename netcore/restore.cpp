#include "netcore/restore.h"

#include <map>
#include <set>

#include "netcore/drivers/bridge.h"
#include "netcore/drivers/driver.h"
#include "netcore/endpoint_record.h"
#include "base/error.h"
#include "netcore/fsutil.h"
#include "netcore/network_store.h"

namespace ocinet {

RestoreResult restore_firewall(const Paths& paths, FirewallBackend& fw, const std::vector<std::string>& ids,
                               const std::string& except) {
  RecordStore records(paths.run_dir);
  NetworkStore store(paths.lib_dir);
  std::map<std::string, std::optional<NetworkDef>> defs;  // each network read once
  std::vector<std::pair<NetworkRules, EndpointRules>> batch;
  std::vector<FileLock> held;
  std::set<std::string> networks;
  RestoreResult result;
  // The endpoints' locks are held until their rules are written, so no teardown removes them
  // in between (they would outlive it); in chunks, to stay well within the open-file limit.
  auto flush = [&] {
    if (!batch.empty()) fw.add_endpoints(batch);
    batch.clear();
    held.clear();
  };
  for (const auto& id : ids.empty() ? records.list_ids() : ids) {
    if (id == except || !is_valid_name(id, kMaxLegacyIdLen)) continue;
    // Not waited for: a hook at work on it writes (or removes) its rules itself, and two
    // restores waiting on each other's endpoints would never finish.
    auto lock = FileLock::try_lock(paths.endpoint_lock(id));
    if (!lock) {
      result.busy.push_back(id);
      continue;
    }
    auto rec = records.load(id);
    if (!rec || !rec->ready()) continue;
    bool any = false;
    for (size_t i = 0; i < rec->attachments.size(); i++) {
      const Attachment& a = rec->attachments[i];
      if (!network_driver(a.driver).has_firewall() || a.ip.empty()) continue;  // the others bypass the host's netfilter
      auto it = defs.find(a.network);
      if (it == defs.end()) it = defs.emplace(a.network, store.load(a.network)).first;
      if (!it->second) continue;  // a network removed under a running endpoint: nothing to rebuild it from
      batch.emplace_back(network_rules(*it->second), endpoint_rules(rec->tag, a, i == 0 ? rec->ports : std::vector<PortMapping>{}));
      networks.insert(a.network);
      any = true;
    }
    result.endpoints += any;
    held.push_back(std::move(*lock));
    if (held.size() == 256) flush();
  }
  flush();
  result.networks.assign(networks.begin(), networks.end());
  return result;
}

}  // namespace ocinet
