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

// Throws ocinet::Error (Invalid) naming the bad spec.
PortSpec parse_port_spec(const std::string& spec);
std::vector<PortSpec> parse_port_list(const std::string& value);

}  // namespace ocinet
