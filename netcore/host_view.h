// The real host behind HostView: files, netns, network definitions (local and etcd), netlink.
#pragma once
#include <memory>
#include <optional>

#include "config/options.h"
#include "netcore/netlink.h"
#include "netcore/paths.h"
#include "netcore/setup_plan.h"

namespace ocinet {

class Etcd;

class RealHost final : public HostView {
 public:
  RealHost(const GlobalOptions& opts, const AdminConfig& cfg);
  ~RealHost() override;
  BundleConfig bundle(const std::string& dir) override;
  NetnsView netns(const std::string& path) override;
  ResolvedNetwork network(const std::string& name) override;
  std::optional<NetworkDef> local_network(const std::string& name) override;
  bool is_local_address(const std::string& ip) override;
  bool bridged_ipv6_to_netfilter() override;
  std::vector<HostSocket> sockets_for(const std::vector<PortSpec>& specs) override;
  std::optional<EndpointRecord> record(const std::string& id) override;
  std::optional<std::string> name_holder(const std::string& name) override;
  EndpointRecord running_container(const std::string& ref) override;
  // The etcd connection a network lookup opened, for the steps after planning; null when none.
  Etcd* etcd_if_open() { return networks_.etcd_if_open(); }

 private:
  NlSocket& nl();
  const GlobalOptions& opts_;
  const AdminConfig& cfg_;
  Paths paths_;
  std::optional<NlSocket> nl_;
  Networks networks_;
};

}  // namespace ocinet
