// Which networks exist, in one place: local definitions (LIB/networks, NetworkStore) and, when
// etcd is configured, overlay definitions shared by every host (netcore/overlay). Setup,
// connect, the CLI and the name server's launcher all ask here, so they cannot disagree about
// a name.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "netcore/network_store.h"
#include "netcore/paths.h"

namespace ocinet {

class Etcd;

struct ResolvedNetwork {
  NetworkDef def;              // overlay: def.bridge set to overlay::bridge_name(def)
  int64_t etcd_revision = 0;   // overlay: the definition's mod_revision in etcd; 0 for local ones
};

class Networks {
 public:
  Networks(const Paths& paths, const AdminConfig& cfg);
  ~Networks();
  // A local definition, else (etcd configured, not the default network) one in etcd; the default
  // network is defined on first use (host routes read then, through netlink, leaving out the
  // default bridge's own). Invalid when unknown.
  ResolvedNetwork resolve(const std::string& name);
  // Cheap existence check of a local definition (no parsing), used under the allocation lock.
  bool exists_locally(const std::string& name) const;
  std::vector<NetworkDef> list();                       // local and (if configured) etcd, as `network ls` shows them
  NetworkDef create(const NetworkCreateRequest& req);   // local or overlay by driver
  void remove(const std::string& name);                 // refused for the default network and while endpoints are attached
  // The etcd connection resolve() opened (overlay networks), opened on first call otherwise.
  // Throws as overlay::connect does.
  Etcd& etcd();
  // The connection if one was opened (to share it), else null.
  Etcd* etcd_if_open() { return etcd_.get(); }
  // Whether any user (non-default) or overlay network is known on this host, from directory
  // listings only (no parsing): a host with the default network only skips the name server.
  static bool user_networks_exist(const Paths& paths);

 private:
  // The overlay definition of `name` when etcd is configured and no local one shadows it.
  std::optional<ResolvedNetwork> from_etcd(const std::string& name);
  void remove_local(const NetworkDef& n);

  Paths paths_;
  AdminConfig cfg_;
  NetworkStore store_;
  std::unique_ptr<Etcd> etcd_;
};

}  // namespace ocinet
