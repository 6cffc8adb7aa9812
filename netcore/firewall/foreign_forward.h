// Other firewall managers' FORWARD chains. Docker, ufw and firewalld (iptables backend) set the
// FORWARD policy to DROP. A forwarded packet passes only if every base chain on the forward hook
// lets it, in nf_tables and in x_tables alike: an accept in ocinet's own chain ends that chain
// only, and another table's DROP policy still drops the packet. So where such a chain exists,
// ocinet puts accepts for each network's bridge at its top, as Docker does for its bridges, each
// with the comment "ocinet-net:<network>", and takes exactly those out again with the network.
// Nothing else in those chains (their policy, the other manager's rules) is touched, and a table
// or chain that does not exist is never created.
//
// The accepts let through only what ocinet's own chain accepts. Isolation between networks and
// the closure of internal networks stay with ocinet's own chain (nftables: `ip ocinet forward`;
// iptables: OCINET-ISOLATE-1/2), which drops that traffic itself: a drop in any base chain is
// final whatever the others accept, and in whichever order the chains run (all of them are at
// the filter priority of the forward hook).
//
// They are network-level rules, added by a network's first setup (never on the path of a
// container whose network is set up already) and removed by remove_network. Added before the
// network's own rules, they stay if the setup fails after them: they belong to the network, and a
// concurrent first setup of the same network may rely on them; network rm takes them out. Two
// first setups at once may each add them; removal takes out every rule with the comment.
#pragma once
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_conntrack.h>

#include <cstdint>
#include <string>
#include <vector>

#include "netcore/firewall/firewall.h"

namespace ocinet {

// One accept for a network's bridge, in iptables terms: `-i BRIDGE`, `-o BRIDGE`, and
// `-m conntrack --ctstate` with these xt_conntrack state bits (0: no conntrack match).
struct ForwardAccept {
  bool in = false;
  bool out = false;
  uint16_t ctstate = 0;
};

// What a network needs accepted: egress, answers and published ports (DNAT) to the bridge (all
// of it within the bridge too: with br_netfilter, bridged traffic crosses FORWARD); an internal
// network only traffic within its bridge.
inline std::vector<ForwardAccept> forward_accepts(bool internal) {
  if (internal) return {{true, true, 0}};
  const uint16_t answers = XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED) | XT_CONNTRACK_STATE_BIT(IP_CT_RELATED);
  return {{true, false, 0}, {false, true, answers}, {false, true, XT_CONNTRACK_STATE_DNAT}};
}

// nf_tables (nftables.cpp): iptables-nft's base chains `ip filter FORWARD`, and `ip6 filter
// FORWARD` for a dual-stack network, when they exist. Written over netlink the way iptables-nft
// writes its own rules (conntrack as an xt match), so that iptables-nft, and the manager using
// it, still read the table; found again by comment, whether it is ocinet's (rule userdata) or
// iptables-nft's (a comment match, after an iptables-save/restore round trip).
void add_nft_forward_accepts(const NetworkRules& net);
void remove_nft_forward_accepts(const std::string& network);

// x_tables (iptables.cpp): iptables-legacy's FORWARD, for the nftables backend, when the filter
// table exists in this netns; with libiptc, under the xtables lock. (The iptables backend needs
// none: its jump to OCINET-FORWARD comes first in that chain.)
void add_legacy_forward_accepts(const NetworkRules& net);
void remove_legacy_forward_accepts(const std::string& network);

}  // namespace ocinet
