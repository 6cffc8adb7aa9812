#include "netcore/ipam.h"

#include <dirent.h>

#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

LeaseStore::LeaseStore(std::string dir, Ipv4Net subnet, uint32_t gateway, std::optional<Ipv4Net> range)
    : dir_(std::move(dir)), subnet_(subnet), gateway_(gateway), range_(range.value_or(subnet)) {}

std::string LeaseStore::path_of(uint32_t ip) const { return dir_ + "/" + ipv4_str(ip); }

bool LeaseStore::usable(uint32_t ip) const {
  if (!subnet_.contains(ip) || ip == gateway_) return false;
  // Network and broadcast addresses exist only for prefixes that have them.
  if (subnet_.prefix <= 30 && (ip == subnet_.first() || ip == subnet_.last())) return false;
  return true;
}

uint32_t LeaseStore::allocate(const std::string& owner) {
  std::string hint_path = dir_ + "/next";
  uint32_t first = range_.first(), last = range_.last();
  uint32_t start = first;
  if (auto hint = read_file(hint_path)) {
    if (auto h = parse_ipv4(*hint); h && *h >= first && *h <= last) start = *h;
  }
  uint64_t span = uint64_t(last) - first + 1;
  uint32_t ip = start;
  for (uint64_t i = 0; i < span; i++, ip = (ip == last ? first : ip + 1)) {
    if (!usable(ip)) continue;
    if (create_owner_mark(path_of(ip), owner)) {
      write_file_atomic(hint_path, ipv4_str(ip == last ? first : ip + 1));
      return ip;
    }
  }
  fail_invalid("no free address in " + range_.str() + " (subnet exhausted)");
}

uint32_t LeaseStore::allocate_static(const std::string& owner, uint32_t ip) {
  if (!subnet_.contains(ip)) fail_invalid("address " + ipv4_str(ip) + " is outside the network's subnet " + subnet_.str());
  if (!usable(ip)) fail_invalid("address " + ipv4_str(ip) + " is reserved (network, broadcast or gateway)");
  if (create_owner_mark(path_of(ip), owner)) return ip;
  auto holder = owner_of(ip);
  if (holder && *holder == owner) return ip;
  fail_invalid("address " + ipv4_str(ip) + " is already in use by container " + display_id(holder.value_or("?")));
}

void LeaseStore::release_at(const std::string& dir, const std::string& owner, uint32_t ip) {
  std::string path = dir + "/" + ipv4_str(ip);
  auto holder = read_owner_mark(path);
  if (holder && *holder == owner) remove_file(path);
}

std::optional<std::string> LeaseStore::owner_of(uint32_t ip) const { return read_owner_mark(path_of(ip)); }

std::vector<std::pair<uint32_t, std::string>> LeaseStore::list_at(const std::string& dir) {
  std::vector<std::pair<uint32_t, std::string>> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    auto ip = parse_ipv4(e->d_name);
    if (!ip) continue;
    if (auto holder = read_owner_mark(dir + "/" + e->d_name)) out.emplace_back(*ip, *holder);
  }
  ::closedir(d);
  return out;
}

std::optional<uint32_t> LeaseStore::find(const std::string& owner) const {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return std::nullopt;
  std::optional<uint32_t> found;
  while (dirent* e = ::readdir(d)) {
    auto ip = parse_ipv4(e->d_name);
    if (!ip) continue;
    auto holder = read_owner_mark(dir_ + "/" + e->d_name);
    if (holder && *holder == owner) {
      found = ip;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace ocinet
