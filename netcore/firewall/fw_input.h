// What both backends still check in their input. Addresses, prefixes, protocols and ports
// arrive parsed (firewall.h); names arrive as text and go into rule comments (and, for nftables,
// into command text), so each is checked here, with the same messages for both backends.
#pragma once
#include <netinet/in.h>

#include <cstddef>
#include <optional>
#include <string>

#include "base/error.h"
#include "netcore/firewall/firewall.h"

namespace ocinet {

// [A-Za-z0-9_.:-]: what tags, network and bridge names may hold once they reach the firewall.
inline bool fw_name_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
         ch == ':' || ch == '-';
}

// Refuses what did not parse where the input was built (FwValue): a required value must be there.
void fw_check(const NetworkRules& net);
void fw_check(const EndpointRules& ep);

// Where one published port answers: which families, and in each either every local address
// (no address) or one. The same reading of PublishedPort for both backends.
struct PortHosts {
  bool v4 = false, v6 = false;
  std::optional<in_addr> addr4;   // unset: every IPv4 address
  std::optional<in6_addr> addr6;  // unset: every IPv6 address
};

PortHosts fw_port_hosts(const PublishedPort& p, bool container_has_ip6);

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
