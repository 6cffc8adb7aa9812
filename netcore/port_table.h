// Host ports published on this host: one ownership mark per publication, whether one port or a
// range of them, RUN/ports/<proto>/<first>-<last>@<host-ip or "all">, holding the owner's
// container id. A wildcard publication conflicts with any other of the same proto whose ports
// overlap its own; a specific address conflicts with the wildcard and with itself. Overlaps are
// found by reading the proto's directory: one entry per publication, so a reservation costs
// O(publications of that proto), however many ports each one spans.
// Releases before ranges wrote one mark per port, RUN/ports/<proto>/<port>/<host-ip or "all">:
// those still count as one-port publications, and their records release them.
// Callers hold the allocation lock (RUN/locks/alloc.lock): reading the directory and creating a
// mark are one step for every other hook.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/ports.h"

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
  // A host port of the mapping that a host process uses (netcore/host_ports.h), 0 when none.
  using HostBusy = std::function<uint16_t(const PortMapping&)>;

  explicit PortTable(std::string dir) : dir_(std::move(dir)) {}
  // Resolves specs to concrete mappings and reserves them for `owner`, all or nothing: one
  // mapping per spec, a range when it has several container ports. Picked host ports (a host
  // range for one container port, or none given) are the first free ones of the spec's bounds,
  // as many in a row as the spec has container ports; they skip ports published by others and
  // those `busy` says the host uses (given host ports are checked against the host before:
  // check_host_ports). Invalid (naming the holder) on a conflict; Invalid when nothing is free.
  std::vector<PortMapping> reserve(const std::string& owner, const std::vector<PortSpec>& specs,
                                   const HostBusy& busy = nullptr);
  // Releases the mappings if `owner` holds them. Missing = success.
  void release(const std::string& owner, const std::vector<PortMapping>& maps);

 private:
  // One publication's mark: its ports, and its name in the proto's directory, whose leaf is its
  // address ("all" or the address): "8000-8999@all", or an earlier release's "8080/127.0.0.1".
  struct Held {
    uint16_t first = 0, last = 0;
    std::string name;
    size_t leaf_at = 0;
    std::string_view addr() const { return std::string_view(name).substr(leaf_at); }
  };
  std::string proto_dir(const std::string& proto) const;
  std::string path_of(const PortMapping& m) const;
  std::string legacy_path_of(const PortMapping& m) const;
  // The publications of `proto`, read once per reserve() and kept up to date by it.
  std::vector<Held>& held(const std::string& proto);
  // A publication that m's ports would collide with, or nullptr.
  const Held* overlapping(const PortMapping& m);
  void take(const std::string& owner, const PortMapping& m);

  std::string dir_;
  std::map<std::string, std::vector<Held>> held_;
};

}  // namespace ocinet
