// Input checks shared by the firewall backends. Values arrive validated from config/, but
// the backends build kernel objects and (nftables) command text from them, so each is checked
// again here, in one place, with the same messages for both backends.
#pragma once
#include <netinet/in.h>

#include <cstddef>
#include <string>

#include "config/validate.h"
#include "netcore/error.h"

namespace ocinet {

// [A-Za-z0-9_.:-]: what tags, network and bridge names may hold once they reach the firewall.
inline bool fw_name_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
         ch == ':' || ch == '-';
}

inline in_addr fw_parse_ip(const std::string& s, const std::string& what) {
  auto ip = parse_ipv4(s);
  if (!ip) fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv4 address");
  return in_addr{htonl(*ip)};
}

// "a.b.c.d/len"; host bits are cleared (both the kernel's matches and interval sets want the
// network, not an address in it).
inline Ipv4Net fw_parse_cidr(const std::string& s, const std::string& what) {
  auto n = parse_ipv4_net(s, /*strict=*/false);
  if (!n) fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv4 CIDR");
  return *n;
}

// Comments are the only handle ocinet has on its rules and elements: anything that could make
// two names collide, be cut short by the kernel, or end a quoted string is refused.
inline std::string fw_comment(const char* prefix, const std::string& id, const char* what, size_t max_len) {
  for (char ch : id)
    if (!fw_name_char(ch))
      fail_invalid(std::string("firewall: ") + what + " \"" + id + "\" has characters outside [A-Za-z0-9_.:-]");
  std::string c = prefix + id;
  if (id.empty() || c.size() > max_len)
    fail_invalid(std::string("firewall: ") + what + " \"" + id + "\" is empty or too long for a rule comment");
  return c;
}

}  // namespace ocinet
