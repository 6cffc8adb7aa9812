// Host ports published on this host: RUN/ports/<proto>/<port>/<host-ip or "all">, each file
// holding the owner's container id. A wildcard publication conflicts with any other on the
// same proto/port; a specific address conflicts with the wildcard and with itself.
// Callers hold the allocation lock.
#pragma once
#include <string>
#include <vector>

#include "config/ports.h"
#include "netcore/firewall/firewall.h"

namespace ocinet {

class PortTable {
 public:
  explicit PortTable(std::string dir) : dir_(std::move(dir)) {}
  // Resolves specs to concrete mappings and reserves them for `owner`, all or nothing.
  // Invalid (naming the holder) on a conflict; Invalid when no dynamic port is free.
  std::vector<PortMapping> reserve(const std::string& owner, const std::vector<PortSpec>& specs);
  // Releases the mappings if `owner` holds them. Missing = success.
  void release(const std::string& owner, const std::vector<PortMapping>& maps);

 private:
  std::string path_of(const PortMapping& m) const;
  // Container id holding a conflicting publication, or "".
  std::string conflict(const PortMapping& m) const;
  bool try_take(const std::string& owner, const PortMapping& m);

  std::string dir_;
};

}  // namespace ocinet
