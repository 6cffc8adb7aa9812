// Firewall backends behind one interface. A backend keeps every rule in ocinet's own chains
// (never flushes anyone else's), but for each network's accepts in another manager's FORWARD
// chain (foreign_forward.h), and applies one invocation's changes in one commit per table.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ocinet {

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
  // May exceed 65535 in a malformed mapping: backends check (fw_check_mapping).
  int container_last() const { return container_port + count() - 1; }
  // The container's ports are the host's: the DNAT need not touch the port.
  bool keeps_port() const { return host_port == container_port; }
};

// Network-level rules: outbound MASQUERADE for the subnet (unless internal) and FORWARD accepts
// for the bridge, in ocinet's chains and in other managers' FORWARD chains where those exist.
// Identified by the network name; shared by all endpoints of that network.
struct NetworkRules {
  std::string name;         // network name, validated [A-Za-z0-9][A-Za-z0-9_.-]*
  std::string bridge;       // bridge device, e.g. ocinet0
  std::string subnet;       // IPv4 CIDR, e.g. 172.17.0.0/16
  bool internal = false;
  std::string subnet6{};    // IPv6 CIDR of a dual-stack network (rules in the IPv6 tables too), else ""
};

// Per-endpoint rules: DNAT of each published port to the container address. Tagged with the
// container's short id so teardown removes exactly these.
struct EndpointRules {
  std::string tag;            // first 12 chars of the container id, [0-9A-Za-z_.-]
  std::string container_ip;   // IPv4 dotted quad
  std::string bridge;         // bridge the container is on
  std::vector<PortMapping> ports;
  std::string container_ip6{};  // on a dual-stack network, else "": ports are published over IPv6 too
  std::string host_port{};      // the host end of the container's veth (the bridge port), if known
};

class FirewallBackend {
 public:
  virtual ~FirewallBackend() = default;
  virtual const char* name() const = 0;
  // Whether the backend drops IPv6 coming in from the bridge port of a container of an IPv4-only
  // network (EndpointRules::host_port), Docker's "no IPv6 there" done on the bridge. When it
  // does not, setup turns IPv6 off inside such a container instead.
  virtual bool filters_ipv6_of_v4only_ports() const { return false; }
  // Whether add_endpoint drops what comes in from the network's bridge addressed to or from
  // 127/8: only then may the bridge get route_localnet (enable_route_localnet), which ports
  // published on 127.0.0.1 need and which otherwise lets containers at the host's loopback.
  virtual bool guards_loopback() const { return true; }
  // Ensures the network's rules exist (idempotent) and adds the endpoint's rules, all in one
  // commit per table. On failure nothing of this call stays in the kernel, but for the network's
  // accepts in other managers' FORWARD chains (foreign_forward.h says why). Returns true when
  // ocinet's own tables or chains were not there and this call made them: the first endpoint
  // ever, or one after something flushed the ruleset, when every other endpoint's rules are
  // gone too (the caller restores them: restore_firewall).
  virtual bool add_endpoint(const NetworkRules& net, const EndpointRules& ep) = 0;
  // add_endpoint for many endpoints (a restore), in as few commits as the backend can.
  virtual void add_endpoints(const std::vector<std::pair<NetworkRules, EndpointRules>>& eps) {
    for (const auto& [net, ep] : eps) add_endpoint(net, ep);
  }
  // Removes every rule tagged with `tag`. Absent rules, chains or tables are success. Used when
  // only the container id is known (no endpoint record): may scan the backend's state.
  virtual void remove_endpoint(const std::string& tag) = 0;
  // Removes exactly what add_endpoint(…, ep) added for this endpoint, from the recorded values
  // (teardown's fast path: a backend with keyed sets deletes by key, without listing anything).
  // Absent entries are success. Returns true when ocinet's own tables or chains were not there
  // at all (flushed: the other endpoints' rules are gone too).
  virtual bool remove_endpoint_rules(const EndpointRules& ep) {
    remove_endpoint(ep.tag);
    return false;
  }
  // Removes the network's own rules, its accepts in other managers' FORWARD chains included
  // (used when the network itself goes away). With the last network's rules gone, ocinet's own
  // tables/chains go too, unless `tables_in_use`: the caller (holding the allocation lock, under
  // which every setup takes its leases before it touches the firewall) saw containers on other
  // networks, which hold rules or may be adding them now.
  virtual void remove_network(const std::string& name, bool tables_in_use) = 0;
};

// "auto" (nftables where the kernel has nf_tables, else iptables), "nftables" (libnftables),
// "iptables" (libiptc, legacy x_tables) or "none". Throws ocinet::Error for an unknown name.
std::unique_ptr<FirewallBackend> make_firewall(const std::string& backend);
std::unique_ptr<FirewallBackend> make_iptables_backend();
std::unique_ptr<FirewallBackend> make_nftables_backend();
// Whether the running kernel (in the current netns) accepts nf_tables commands.
bool nftables_available();
// The nftables backend when the kernel accepts nf_tables commands, else null; probes with the
// backend's own socket (one netfilter socket per hook: see NftablesBackend::netlink).
std::unique_ptr<FirewallBackend> make_nftables_backend_if_available();

}  // namespace ocinet
