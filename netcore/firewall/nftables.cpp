// Placeholder until the libnftables backend lands: reports nf_tables as unavailable so that
// "auto" keeps choosing iptables.
#include "netcore/error.h"
#include "netcore/firewall/firewall.h"

namespace ocinet {

bool nftables_available() { return false; }

std::unique_ptr<FirewallBackend> make_nftables_backend() {
  fail_invalid("firewall_backend nftables is not available in this build yet; use auto or iptables");
}

}  // namespace ocinet
