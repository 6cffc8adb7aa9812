// Host ports published on this host: RUN/ports/<proto>/<port>/<host-ip or "all">, each file
// holding the owner's container id. A wildcard publication conflicts with any other on the
// same proto/port; a specific address conflicts with the wildcard and with itself.
// Callers hold the allocation lock.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/ports.h"
#include "netcore/firewall/firewall.h"

namespace ocinet {

// Docker picks dynamic host ports from the kernel's default ephemeral range.
constexpr uint16_t kDynamicPortFirst = 32768, kDynamicPortLast = 60999;

// The host ports `s` may take: its own range, or the dynamic range when it gives none.
inline std::pair<uint16_t, uint16_t> host_port_bounds(const PortSpec& s) {
  if (s.host_dynamic()) return {kDynamicPortFirst, kDynamicPortLast};
  return {s.host_start, s.host_end};
}

class PortTable {
 public:
  // Whether a mapping would take traffic of a host process (netcore/host_ports.h).
  using HostBusy = std::function<bool(const PortMapping&)>;

  explicit PortTable(std::string dir) : dir_(std::move(dir)) {}
  // Resolves specs to concrete mappings and reserves them for `owner`, all or nothing. A picked
  // host port skips ports published by others and those `busy` says the host uses (given host
  // ports are checked against the host before: check_host_ports).
  // Invalid (naming the holder) on a conflict; Invalid when no port of a range is free.
  std::vector<PortMapping> reserve(const std::string& owner, const std::vector<PortSpec>& specs,
                                   const HostBusy& busy = nullptr);
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
