// Input checks shared by the firewall backends. Values arrive validated from config/, but
// the backends build kernel objects and (nftables) command text from them, so each is checked
// again here, in one place, with the same messages for both backends.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <optional>
#include <string>

#include "config/validate.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"

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

inline bool fw_is_ipv6(const std::string& s) { return s.find(':') != std::string::npos; }

inline in6_addr fw_parse_ip6(const std::string& s, const std::string& what) {
  in6_addr a{};
  if (s.size() > 45 || inet_pton(AF_INET6, s.c_str(), &a) != 1)
    fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv6 address");
  return a;
}

inline Ipv6Net fw_parse_cidr6(const std::string& s, const std::string& what) {
  auto n = parse_ipv6_net(s, /*strict=*/false);
  if (!n) fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv6 CIDR");
  return *n;
}

// Ports of a mapping as both backends accept them: none 0, a range that is not reversed and
// whose container end stays within 65535.
inline void fw_check_mapping(const PortMapping& pm) {
  if (pm.host_port == 0 || pm.container_port == 0) fail_invalid("firewall: port mapping with port 0");
  if ((pm.host_port_end != 0 && pm.host_port_end < pm.host_port) || pm.container_last() > 65535)
    fail_invalid("firewall: port range " + std::to_string(pm.host_port) + "-" + std::to_string(pm.host_port_end) +
                 " -> " + std::to_string(pm.container_port) + " is reversed or runs past port 65535");
}

// "8080" or "8000-8999": a mapping's host ports as messages name them.
inline std::string fw_host_ports(const PortMapping& pm) {
  return std::to_string(pm.host_port) + (pm.is_range() ? "-" + std::to_string(pm.host_last()) : "");
}

// Where one published port answers: which families, and in each either every local address
// (no address) or one. The same reading of PortMapping for both backends.
struct PortHosts {
  bool v4 = false, v6 = false;
  std::optional<in_addr> addr4;   // unset: every IPv4 address
  std::optional<in6_addr> addr6;  // unset: every IPv6 address
};

inline PortHosts fw_port_hosts(const PortMapping& pm, bool container_has_ip6) {
  PortHosts h;
  if (pm.host_ip.empty()) {  // Docker publishes on 0.0.0.0 and, for IPv6 containers, on [::]
    h.v4 = true;
    h.v6 = container_has_ip6;
  } else if (!fw_is_ipv6(pm.host_ip)) {
    h.v4 = true;
    in_addr a = fw_parse_ip(pm.host_ip, "host address");
    if (a.s_addr != INADDR_ANY) h.addr4 = a;  // 0.0.0.0: Docker's spelling of "every address"
    h.v6 = !h.addr4 && container_has_ip6;
  } else {
    if (!container_has_ip6)
      fail_invalid("firewall: port " + fw_host_ports(pm) + " is published on IPv6 address " + pm.host_ip +
                   " but the container has no IPv6 address");
    h.v6 = true;
    in6_addr a = fw_parse_ip6(pm.host_ip, "host address");
    if (!IN6_IS_ADDR_UNSPECIFIED(&a)) h.addr6 = a;
  }
  return h;
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
