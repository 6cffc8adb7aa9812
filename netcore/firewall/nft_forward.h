// A network's accepts in other managers' FORWARD chains in nf_tables (foreign_forward.h says
// why), with the backend's own netfilter socket.
#pragma once
#include <string>

#include "netcore/firewall/firewall.h"
#include "netcore/nfnetlink.h"

namespace ocinet::nft {

void add_foreign_accepts(NfNetlink& nl, const NetworkRules& net);
// Both families: a network's IPv6 accepts go with it whether or not it is still dual-stack.
void remove_foreign_accepts(NfNetlink& nl, const std::string& network);

}  // namespace ocinet::nft
