#include "netcore/firewall/firewall.h"

#include "base/error.h"

namespace ocinet {
namespace {

// For hosts whose firewall is managed elsewhere: ocinet changes no rule at all.
class NoFirewall final : public FirewallBackend {
 public:
  const char* name() const override { return "none"; }
  bool guards_loopback() const override { return false; }
  bool add_endpoint(const NetworkRules&, const EndpointRules&) override { return false; }
  void remove_endpoint(const std::string&) override {}
  void remove_network(const std::string&, bool) override {}
};

}  // namespace

std::unique_ptr<FirewallBackend> make_firewall(const std::string& backend) {
  if (backend == "auto") {
    if (auto nft = make_nftables_backend_if_available()) return nft;
    return make_iptables_backend();
  }
  if (backend == "nftables") return make_nftables_backend();
  if (backend == "iptables") return make_iptables_backend();
  if (backend == "none") return std::make_unique<NoFirewall>();
  fail_invalid("unknown firewall_backend \"" + backend + "\" (want auto, nftables, iptables or none)");
}

}  // namespace ocinet
