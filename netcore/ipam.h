// IPv4 leases of one network: one small file per lease under RUN/ipam/<network>/, named by the
// address and holding the owner's container id. A lease is taken with O_CREAT|O_EXCL, so two
// invocations can never hold the same address even if a caller forgot the lock; the caller
// still holds the allocation lock so the next-free hint stays consistent. Allocation starts at
// the hint left by the previous one: O(1) per call while the subnet has room.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/validate.h"

namespace ocinet {

class LeaseStore {
 public:
  // `range` restricts dynamic allocation (defaults to the subnet); gateway is never handed out.
  LeaseStore(std::string dir, Ipv4Net subnet, uint32_t gateway, std::optional<Ipv4Net> range = std::nullopt);

  // Dynamic lease for `owner` (idempotence per container is the endpoint record's job).
  // Throws Invalid "no free address" when the subnet is exhausted.
  uint32_t allocate(const std::string& owner);
  // Static lease: Invalid when outside the subnet, reserved, or held by someone else.
  uint32_t allocate_static(const std::string& owner, uint32_t ip);
  // Releases `ip` if `owner` holds it. Missing lease = success.
  void release(const std::string& owner, uint32_t ip) { release_at(dir_, owner, ip); }
  static void release_at(const std::string& dir, const std::string& owner, uint32_t ip);
  // Lease held by owner, if any (scan: used only for recovery without an endpoint record).
  std::optional<uint32_t> find(const std::string& owner) const;
  std::optional<std::string> owner_of(uint32_t ip) const;
  // Every lease of the network as (address, owner): the network's members.
  static std::vector<std::pair<uint32_t, std::string>> list_at(const std::string& dir);

 private:
  std::string path_of(uint32_t ip) const;
  bool usable(uint32_t ip) const;

  std::string dir_;
  Ipv4Net subnet_;
  uint32_t gateway_;
  Ipv4Net range_;
};

}  // namespace ocinet
