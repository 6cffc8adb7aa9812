// Published-port specs as `docker run -p` spells them:
//   [hostIP:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp], IPv6 host IP in brackets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ocinet {

struct PortSpec {
  std::string host_ip;      // "" = all local addresses, "::" = all IPv6 ones; IPv6 in canonical form
  uint16_t host_start = 0;  // 0 = pick a free port
  uint16_t host_end = 0;
  uint16_t ct_start = 0;
  uint16_t ct_end = 0;
  std::string proto = "tcp";

  // Number of container ports this spec publishes.
  int count() const { return ct_end - ct_start + 1; }
  bool host_dynamic() const { return host_start == 0; }
  // One given host port per container port; otherwise each host port is picked from the host
  // range (or, with none, the dynamic range).
  bool host_fixed() const { return !host_dynamic() && host_end - host_start + 1 == count(); }
};

// Where a mapping is published (Docker's rules): no host address (or 0.0.0.0) = every IPv4
// address of the host, and every IPv6 one too when the container has an IPv6 address; "::" =
// every IPv6 address; an address = that address only, in its own family.
//
// One mapping is one port or one range of them (`8000-8999:8000-8999`, `9000-9009:80-89`):
// host_port..host_last() to container_port..container_last(), pairwise. A range is one entry
// of the endpoint record, one reservation in the port table and, where the backend can say it
// in one, one firewall element or rule.
struct PortMapping {
  std::string host_ip;          // "" = every local address (Docker's 0.0.0.0); IPv4 or IPv6
  uint16_t host_port = 0;       // resolved: never 0 by the time a backend sees it (a range: its first)
  uint16_t container_port = 0;  // (a range: its first)
  std::string proto = "tcp";    // tcp, udp, sctp
  uint16_t host_port_end = 0;   // a range: its last host port; 0 (records of earlier releases too) = one port

  uint16_t host_last() const { return host_port_end > host_port ? host_port_end : host_port; }
  int count() const { return host_last() - host_port + 1; }
  bool is_range() const { return count() > 1; }
  // May exceed 65535 in a malformed mapping: the firewall refuses it (PublishedPort).
  int container_last() const { return container_port + count() - 1; }
  // The container's ports are the host's: the DNAT need not touch the port.
  bool keeps_port() const { return host_port == container_port; }
};

// Throws ocinet::Error (Invalid) naming the bad spec.
PortSpec parse_port_spec(const std::string& spec);
std::vector<PortSpec> parse_port_list(const std::string& value);

}  // namespace ocinet
