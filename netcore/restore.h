// Rebuilding the firewall state of running endpoints from their records: after something
// flushed the ruleset (Debian's nftables.service on every restart, firewall-cmd --reload,
// iptables -F), every published port, masquerade and isolation rule of ocinet is gone. ocinet
// notices when a setup, connect or teardown finds its tables or chains missing, and
// `ocinet network reload` does it on demand (the packages run it when nftables or firewalld
// restarts or reloads).
#pragma once
#include <string>
#include <vector>

#include "netcore/firewall/firewall.h"
#include "netcore/endpoint_record.h"
#include "netcore/paths.h"

namespace ocinet {

struct RestoreResult {
  size_t endpoints = 0;                // whose rules were written again
  std::vector<std::string> networks;   // the bridge networks they are on, sorted
  std::vector<std::string> busy;       // skipped: a setup or teardown held them (it does their rules)
};

// The rules of every ready endpoint (`ids` empty) or of the given ones, but `except`, written
// again through `fw`, idempotently, in as few commits as the backend can. An endpoint whose
// lock another hook holds is left to that hook.
RestoreResult restore_firewall(const Paths& paths, FirewallBackend& fw, const std::vector<std::string>& ids,
                               const std::string& except = "");

}  // namespace ocinet
