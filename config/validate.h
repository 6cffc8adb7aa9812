// Value validation shared by every parser. Everything from annotations passes through here
// before it reaches a path, an interface name, a firewall comment or a hosts file.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace ocinet {

inline constexpr size_t kMaxNameLen = 63;            // names: containers, networks, aliases
inline constexpr size_t kMaxAnnotationLen = 4096;     // any single ocinet annotation value
// Container ids a setup accepts. The id is the key of every piece of state, and of the firewall
// comments too ("ocinet:<id>"), which nftables caps at 128 bytes. Runtimes use 64 hex digits.
inline constexpr size_t kMaxContainerIdLen = 100;
// What teardown still accepts (ids of earlier releases, which allowed up to 128 characters).
inline constexpr size_t kMaxLegacyIdLen = 128;

// [A-Za-z0-9][A-Za-z0-9_.-]* and at most kMaxNameLen characters.
bool is_valid_name(const std::string& s, size_t max_len = kMaxNameLen);
// A DNS-ish host name for /etc/hosts: labels of [A-Za-z0-9-_], dots between, <= 253 chars.
bool is_valid_hostname(const std::string& s);
// A resolv.conf search domain: a host name whose labels neither begin nor end with '-' (RFC
// 1123), optionally with one trailing dot (the same domain, fully qualified).
bool is_valid_search_domain(const std::string& s);
bool has_control_chars(const std::string& s);
// How a container is shown (never a key): Docker's short id, the first 12 characters, for a
// 64-hex id; the whole id otherwise, so that runc ids such as frontend-web-1 and frontend-web-2
// stay apart.
std::string display_id(const std::string& id);

struct Ipv4Net {
  uint32_t addr = 0;   // host byte order, already masked to the prefix
  int prefix = 0;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t(0) << (32 - prefix); }
  uint32_t first() const { return addr; }
  uint32_t last() const { return addr | ~mask(); }
  bool contains(uint32_t ip) const { return (ip & mask()) == addr; }
  bool overlaps(const Ipv4Net& o) const;
  std::string str() const;  // "a.b.c.d/p"
};

// An IPv6 prefix. Hosts are numbered by an index added to the low 32 bits of the prefix:
// ocinet never hands out more than 2^32 addresses of one subnet.
struct Ipv6Net {
  unsigned char addr[16] = {};  // masked to the prefix
  int prefix = 0;
  bool contains(const unsigned char ip[16]) const;
  bool overlaps(const Ipv6Net& o) const;
  // Number of usable host indexes (capped at 2^32 - 1).
  uint32_t capacity() const;
  std::string at(uint32_t index) const;  // address string of host `index`
  // Index of `ip` inside this prefix, when its host part fits the index space.
  std::optional<uint32_t> index_of(const std::string& ip) const;
  std::string str() const;
};
std::optional<Ipv6Net> parse_ipv6_net(const std::string& s, bool strict = true);

std::optional<uint32_t> parse_ipv4(const std::string& s);  // host byte order
std::string ipv4_str(uint32_t addr);
bool is_valid_ipv6(const std::string& s);
// The one spelling of an IPv6 address (inet_ntop's: lower case, longest zero run as "::"),
// so that "FD00:0::1" and "fd00::1" name the same published port; nullopt when invalid.
std::optional<std::string> canonical_ipv6(const std::string& s);
// "a.b.c.d/p"; with strict=true the host bits must be zero.
std::optional<Ipv4Net> parse_ipv4_net(const std::string& s, bool strict = true);
// "aa:bb:cc:dd:ee:ff", unicast (bit 0 of the first octet clear).
bool is_valid_unicast_mac(const std::string& s);

}  // namespace ocinet
