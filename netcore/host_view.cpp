#include "netcore/host_view.h"

#include "base/error.h"
#include "netcore/fsutil.h"
#include "netcore/setup.h"

namespace ocinet {

RealHost::RealHost(const GlobalOptions& opts, const AdminConfig& cfg)
    : opts_(opts), cfg_(cfg), paths_{opts.run_dir, opts.lib_dir}, networks_(paths_, cfg) {}

RealHost::~RealHost() = default;

NlSocket& RealHost::nl() {
  if (!nl_) nl_.emplace();
  return *nl_;
}

BundleConfig RealHost::bundle(const std::string& dir) { return load_bundle_config(dir); }

NetnsView RealHost::netns(const std::string& path) {
  auto ns = std::make_shared<Netns>(Netns::open(path));
  return {ns->identity(), ns->is_current(), ns};
}

ResolvedNetwork RealHost::network(const std::string& name) { return networks_.resolve(name); }

std::optional<NetworkDef> RealHost::local_network(const std::string& name) {
  return NetworkStore(opts_.lib_dir).load(name);
}

bool RealHost::is_local_address(const std::string& ip) {
  if (auto v4 = parse_ipv4(ip)) return ocinet::is_local_address(nl(), *v4);
  return is_local_address6(nl(), ip);
}

bool RealHost::bridged_ipv6_to_netfilter() { return ocinet::bridged_ipv6_to_netfilter(); }

std::vector<HostSocket> RealHost::sockets_for(const std::vector<PortSpec>& specs) { return host_sockets_for(specs); }

std::optional<EndpointRecord> RealHost::record(const std::string& id) { return RecordStore(opts_.run_dir).load(id); }

std::optional<std::string> RealHost::name_holder(const std::string& name) {
  return read_owner_mark(paths_.names_dir() + "/" + name);
}

EndpointRecord RealHost::running_container(const std::string& ref) { return ocinet::running_container(opts_, ref); }

}  // namespace ocinet
