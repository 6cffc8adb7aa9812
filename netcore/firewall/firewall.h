// Firewall backends behind one interface. A backend keeps every rule in ocinet's own chains
// (never flushes anyone else's), but for each network's accepts in another manager's FORWARD
// chain (foreign_forward.h), and applies one invocation's changes in one commit per table.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/ports.h"
#include "config/validate.h"

namespace ocinet {

// The protocols a port is published for, numbered as the kernel's matches and nft's keys want.
enum class Proto : uint8_t { tcp = IPPROTO_TCP, udp = IPPROTO_UDP, sctp = IPPROTO_SCTP };
const char* proto_name(Proto p);

// One address or prefix of the firewall's input, parsed where the input is built, so that the
// backends read values and never parse text. Text that does not parse (a record edited by hand,
// a rule built in a test) is kept: the backend refuses it, naming it, before it changes anything.
template <class T>
class FwValue {
 public:
  FwValue() = default;  // absent
  FwValue(const T& v) : value_(v) {}
  FwValue(const std::string& text);  // "" = absent
  FwValue(const char* text) : FwValue(std::string(text)) {}
  bool present() const { return value_.has_value() || !bad_.empty(); }
  bool has_value() const { return value_.has_value(); }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return &*value_; }
  const std::string& bad_text() const { return bad_; }  // the text that did not parse, else ""

 private:
  std::optional<T> value_;
  std::string bad_;
};
template <> FwValue<in_addr>::FwValue(const std::string& text);
template <> FwValue<in6_addr>::FwValue(const std::string& text);
template <> FwValue<Ipv4Net>::FwValue(const std::string& text);
template <> FwValue<Ipv6Net>::FwValue(const std::string& text);

// A PortMapping as the backends read it. Where it is published (PortMapping says it in text):
// every IPv4 address, and every IPv6 one when the container has IPv6 ("", 0.0.0.0); every IPv6
// address ("::"); or one address.
struct PublishedPort {
  enum class On : uint8_t { every, every6, addr4, addr6 };
  On on = On::every;
  in_addr addr4{};   // On::addr4
  in6_addr addr6{};  // On::addr6
  Proto proto = Proto::tcp;
  uint16_t host_port = 0;  // host_port..host_last to container_port.., pairwise
  uint16_t host_last = 0;
  uint16_t container_port = 0;
  std::string bad;       // why the backends refuse it (protocol, ports), else ""
  std::string bad_host;  // the host address when it does not parse, else ""

  PublishedPort() = default;
  PublishedPort(const PortMapping& m);
  PublishedPort(const std::string& host_ip, uint16_t host_port, uint16_t container_port,
                const std::string& proto = "tcp", uint16_t host_port_end = 0)
      : PublishedPort(PortMapping{host_ip, host_port, container_port, proto, host_port_end}) {}

  int count() const { return host_last - host_port + 1; }
  bool is_range() const { return host_last > host_port; }
  // The container's ports are the host's: the DNAT need not touch the port.
  bool keeps_port() const { return host_port == container_port; }
  // "8080" or "8000-8999": the host ports as messages name them.
  std::string host_ports() const;
  bool on_loopback4() const { return on == On::addr4 && (ntohl(addr4.s_addr) >> 24) == 127; }
  bool on_loopback6() const { return on == On::addr6 && IN6_IS_ADDR_LOOPBACK(&addr6); }
};

// An endpoint's published ports; also built from the mappings of its record.
struct PublishedPorts : std::vector<PublishedPort> {
  using std::vector<PublishedPort>::vector;
  PublishedPorts() = default;
  PublishedPorts(const std::vector<PortMapping>& maps) : vector(maps.begin(), maps.end()) {}
};

// Network-level rules: outbound MASQUERADE for the subnet (unless internal) and FORWARD accepts
// for the bridge, in ocinet's chains and in other managers' FORWARD chains where those exist.
// Identified by the network name; shared by all endpoints of that network.
struct NetworkRules {
  std::string name;         // network name, validated [A-Za-z0-9][A-Za-z0-9_.-]*
  std::string bridge;       // bridge device, e.g. ocinet0
  FwValue<Ipv4Net> subnet;  // e.g. 172.17.0.0/16
  bool internal = false;
  FwValue<Ipv6Net> subnet6{};  // of a dual-stack network (rules in the IPv6 tables too), else absent
};

// Per-endpoint rules: DNAT of each published port to the container address. Tagged with the
// container's short id so teardown removes exactly these.
struct EndpointRules {
  std::string tag;                // first 12 chars of the container id, [0-9A-Za-z_.-]
  FwValue<in_addr> container_ip;  // IPv4
  std::string bridge;             // bridge the container is on
  PublishedPorts ports;
  FwValue<in6_addr> container_ip6{};  // on a dual-stack network, else absent: ports are published over IPv6 too
  std::string host_port{};            // the host end of the container's veth (the bridge port), if known
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
  // Publications on the host's loopback need the kernel's help on the bridge, and only then
  // (most containers publish none): a local route for ::1 before the rules, route_localnet once
  // the rules guarding against what else it lets in are there (guards_loopback). Both are
  // idempotent and outlive a flush of the ruleset, so a restore (add_endpoints) leaves them be.
  bool add_endpoint(const NetworkRules& net, const EndpointRules& ep);
  // add_endpoint for many endpoints (a restore), in as few commits as the backend can.
  virtual void add_endpoints(const std::vector<std::pair<NetworkRules, EndpointRules>>& eps) {
    for (const auto& [net, ep] : eps) add_rules(net, ep);
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

 protected:
  // add_endpoint's rules, without the host settings.
  virtual bool add_rules(const NetworkRules& net, const EndpointRules& ep) = 0;
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
