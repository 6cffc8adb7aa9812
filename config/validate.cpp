#include "config/validate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace ocinet {

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string display_id(const std::string& id) {
  bool hex64 = id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
  return hex64 ? id.substr(0, 12) : id;
}

bool is_valid_name(const std::string& s, size_t max_len) {
  if (s.empty() || s.size() > max_len || !is_alnum(s[0])) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

bool is_valid_hostname(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!is_alnum(c) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

bool is_valid_search_domain(const std::string& s) {
  const std::string d = !s.empty() && s.back() == '.' ? s.substr(0, s.size() - 1) : s;
  if (!is_valid_hostname(d)) return false;
  for (size_t i = 0; i < d.size(); i++)
    if (d[i] == '-' && (i == 0 || d[i - 1] == '.' || i + 1 == d.size() || d[i + 1] == '.')) return false;
  return true;
}

bool has_control_chars(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

bool Ipv4Net::overlaps(const Ipv4Net& o) const {
  return first() <= o.last() && o.first() <= last();
}

std::string Ipv4Net::str() const { return ipv4_str(addr) + "/" + std::to_string(prefix); }

std::optional<uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  if (s.size() > 15 || inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string ipv4_str(uint32_t addr) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{htonl(addr)};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

namespace {
void mask6(unsigned char a[16], int prefix) {
  for (int i = 0; i < 16; i++) {
    int bits = std::max(0, std::min(8, prefix - i * 8));
    a[i] &= bits == 0 ? 0 : static_cast<unsigned char>(0xff << (8 - bits));
  }
}
}  // namespace

bool Ipv6Net::contains(const unsigned char ip[16]) const {
  unsigned char m[16];
  std::memcpy(m, ip, 16);
  mask6(m, prefix);
  return std::memcmp(m, addr, 16) == 0;
}

bool Ipv6Net::overlaps(const Ipv6Net& o) const {
  const Ipv6Net& wider = prefix <= o.prefix ? *this : o;
  const Ipv6Net& narrower = prefix <= o.prefix ? o : *this;
  return wider.contains(narrower.addr);
}

uint32_t Ipv6Net::capacity() const {
  int host_bits = 128 - prefix;
  return host_bits >= 32 ? 0xffffffffu : (uint32_t(1) << host_bits) - 1;
}

std::string Ipv6Net::at(uint32_t index) const {
  unsigned char a[16];
  std::memcpy(a, addr, 16);
  uint32_t low = (uint32_t(a[12]) << 24 | uint32_t(a[13]) << 16 | uint32_t(a[14]) << 8 | a[15]) + index;
  for (int i = 0; i < 4; i++) a[15 - i] = static_cast<unsigned char>(low >> (8 * i));
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, buf, sizeof buf);
  return buf;
}

std::optional<uint32_t> Ipv6Net::index_of(const std::string& ip) const {
  unsigned char a[16];
  if (ip.size() > 45 || inet_pton(AF_INET6, ip.c_str(), a) != 1 || !contains(a)) return std::nullopt;
  // The index is the host part, which must fit in the low 32 bits.
  unsigned char hi[16];
  std::memcpy(hi, a, 16);
  std::memset(hi + 12, 0, 4);
  if (std::memcmp(hi, addr, 12) != 0) return std::nullopt;
  uint32_t idx = (uint32_t(a[12]) << 24 | uint32_t(a[13]) << 16 | uint32_t(a[14]) << 8 | a[15]) -
                 (uint32_t(addr[12]) << 24 | uint32_t(addr[13]) << 16 | uint32_t(addr[14]) << 8 | addr[15]);
  if (idx > capacity()) return std::nullopt;
  return idx;
}

std::string Ipv6Net::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, addr, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::optional<Ipv6Net> parse_ipv6_net(const std::string& s, bool strict) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size() || s.size() - slash > 4 || slash > 45) return std::nullopt;
  Ipv6Net n;
  std::string a = s.substr(0, slash);
  if (inet_pton(AF_INET6, a.c_str(), n.addr) != 1) return std::nullopt;
  int prefix = 0;
  for (size_t i = slash + 1; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    prefix = prefix * 10 + (s[i] - '0');
  }
  if (prefix > 128) return std::nullopt;
  unsigned char orig[16];
  std::memcpy(orig, n.addr, 16);
  n.prefix = prefix;
  mask6(n.addr, prefix);
  if (strict && std::memcmp(orig, n.addr, 16) != 0) return std::nullopt;
  return n;
}

bool is_valid_ipv6(const std::string& s) {
  in6_addr a{};
  return s.size() <= 45 && inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

std::optional<std::string> canonical_ipv6(const std::string& s) {
  in6_addr a{};
  if (s.size() > 45 || inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, &a, buf, sizeof buf)) return std::nullopt;
  return std::string(buf);
}

std::optional<Ipv4Net> parse_ipv4_net(const std::string& s, bool strict) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size() || s.size() - slash > 3) return std::nullopt;
  auto ip = parse_ipv4(s.substr(0, slash));
  if (!ip) return std::nullopt;
  int prefix = 0;
  for (size_t i = slash + 1; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    prefix = prefix * 10 + (s[i] - '0');
  }
  if (prefix > 32) return std::nullopt;
  Ipv4Net n;
  n.prefix = prefix;
  n.addr = *ip & n.mask();
  if (strict && n.addr != *ip) return std::nullopt;
  return n;
}

bool is_valid_unicast_mac(const std::string& s) {
  unsigned b[6];
  char tail;
  if (s.size() != 17) return false;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return false;
  for (size_t i = 2; i < 17; i += 3)
    if (s[i] != ':') return false;
  bool zero = true;
  for (unsigned v : b) zero = zero && v == 0;
  return !zero && (b[0] & 1) == 0;
}

}  // namespace ocinet
