// Host ports in use by the host itself. A published port is a DNAT on the host: it would take
// the traffic of a host process listening on the same port, silently, so (as Docker and Podman
// do) a given host port in use on the host is refused and a picked one is skipped. "The host"
// is the network namespace the hook runs in; its sockets are read with NETLINK_SOCK_DIAG.
#pragma once
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/ports.h"

namespace ocinet {

// A socket that takes traffic on a port: a TCP or SCTP listener, or a bound unconnected UDP socket.
struct HostSocket {
  int family = AF_INET;  // AF_INET or AF_INET6; an IPv6 socket on an IPv4-mapped address is AF_INET
  std::string proto;     // "tcp", "udp", "sctp"
  in6_addr addr{};       // AF_INET: the address in the first 4 bytes
  uint16_t port = 0;
  bool v6only = false;   // AF_INET6: IPV6_V6ONLY; the wildcard [::] without it takes IPv4 too
  std::string str() const;  // "0.0.0.0:8090", "[::]:8090"
};

// The first of `sockets` whose traffic a publication of `m` would take (nullptr when none):
// same protocol, a port of m's (one port or a range), and an address the publication covers, as fw_port_hosts reads it (no
// host address: every IPv4 address, and every IPv6 one when the container has an IPv6 address).
// A socket on the wildcard of a family conflicts with every publication in that family, [::]
// also with IPv4 ones unless it is IPV6_V6ONLY; a publication on every address conflicts with
// every socket of the families it covers; one on an address, with sockets on that address.
const HostSocket* host_socket_using(const std::vector<HostSocket>& sockets, const PortMapping& m,
                                    bool container_has_ip6);

// Invalid (exit 1) naming the first host port that `specs` give (PortSpec::host_fixed) and a
// host socket uses: "io.ocinet.ports: host port 8090/tcp is in use on the host (0.0.0.0:8090)".
// Picked host ports are the port table's to choose (PortTable::reserve skips ports in use).
void check_host_ports(const std::vector<HostSocket>& sockets, const std::vector<PortSpec>& specs,
                      bool container_has_ip6);

// The sockets of the calling thread's network namespace that publications of `specs` could
// conflict with: for each protocol the specs use, one dump per family, of the ports in the
// specs' bounds only. A kernel without SCTP (or without sctp_diag) has no SCTP sockets; any
// failure to read TCP or UDP sockets is a System error.
std::vector<HostSocket> host_sockets_for(const std::vector<PortSpec>& specs);

}  // namespace ocinet
