#include "netcore/firewall/firewall.h"

#include "netcore/firewall/fw_input.h"

#include <algorithm>

#include "base/error.h"
#include "netcore/netlink.h"

namespace ocinet {
namespace {

// For hosts whose firewall is managed elsewhere: ocinet changes no rule at all.
class NoFirewall final : public FirewallBackend {
 public:
  const char* name() const override { return "none"; }
  bool guards_loopback() const override { return false; }
  void remove_endpoint(const std::string&) override {}
  void remove_network(const std::string&, bool) override {}

 protected:
  bool add_rules(const NetworkRules&, const EndpointRules&) override { return false; }
};

std::optional<in6_addr> parse_ipv6(const std::string& s) {
  in6_addr a{};
  if (s.size() > 45 || inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  return a;
}

std::string ip_text(int af, const void* addr) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(af, addr, buf, sizeof buf);
  return buf;
}

// Where `host_ip` publishes; false when it does not parse.
bool parse_host(const std::string& host_ip, PublishedPort& p) {
  if (host_ip.empty()) return true;  // Docker publishes on 0.0.0.0 and, for IPv6 containers, on [::]
  if (host_ip.find(':') == std::string::npos) {
    const auto a = parse_ipv4(host_ip);
    if (!a) return false;
    if (*a != INADDR_ANY) p.on = PublishedPort::On::addr4, p.addr4.s_addr = htonl(*a);  // 0.0.0.0: every address
    return true;
  }
  const auto a = parse_ipv6(host_ip);
  if (!a) return false;
  p.on = IN6_IS_ADDR_UNSPECIFIED(&*a) ? PublishedPort::On::every6 : PublishedPort::On::addr6;
  p.addr6 = *a;
  return true;
}

std::optional<Proto> parse_proto(const std::string& p) {
  if (p == "tcp") return Proto::tcp;
  if (p == "udp") return Proto::udp;
  if (p == "sctp") return Proto::sctp;
  return std::nullopt;
}

// Ports as both backends accept them: none 0, a range that is not reversed and whose container
// end stays within 65535. "" when they are.
std::string ports_problem(const PortMapping& m) {
  if (m.host_port == 0 || m.container_port == 0) return "port mapping with port 0";
  if ((m.host_port_end != 0 && m.host_port_end < m.host_port) || m.container_last() > 65535)
    return "port range " + std::to_string(m.host_port) + "-" + std::to_string(m.host_port_end) + " -> " +
           std::to_string(m.container_port) + " is reversed or runs past port 65535";
  return "";
}

}  // namespace

template <>
FwValue<in_addr>::FwValue(const std::string& text) {
  if (auto a = parse_ipv4(text)) value_ = in_addr{htonl(*a)};
  else bad_ = text;
}
template <>
FwValue<in6_addr>::FwValue(const std::string& text) {
  if (text.empty()) return;
  value_ = parse_ipv6(text);
  if (!value_) bad_ = text;
}
// Host bits are cleared: the kernel's matches and interval sets want the network.
template <>
FwValue<Ipv4Net>::FwValue(const std::string& text) {
  value_ = parse_ipv4_net(text, /*strict=*/false);
  if (!value_) bad_ = text;
}
template <>
FwValue<Ipv6Net>::FwValue(const std::string& text) {
  if (text.empty()) return;
  value_ = parse_ipv6_net(text, /*strict=*/false);
  if (!value_) bad_ = text;
}

const char* proto_name(Proto p) {
  switch (p) {
    case Proto::tcp: return "tcp";
    case Proto::udp: return "udp";
    case Proto::sctp: return "sctp";
  }
  return "?";
}

PublishedPort::PublishedPort(const PortMapping& m)
    : host_port(m.host_port), host_last(m.host_last()), container_port(m.container_port) {
  if (auto p = parse_proto(m.proto)) {
    proto = *p;
    bad = ports_problem(m);
  } else {
    bad = "unsupported protocol \"" + m.proto + "\" (tcp, udp or sctp)";
  }
  if (!parse_host(m.host_ip, *this)) bad_host = m.host_ip;
}

std::string PublishedPort::host_ports() const {
  return std::to_string(host_port) + (is_range() ? "-" + std::to_string(host_last) : "");
}

void fw_check(const NetworkRules& net) {
  if (!net.subnet.has_value())
    fail_invalid("firewall: subnet \"" + net.subnet.bad_text() + "\" is not an IPv4 CIDR");
  if (!net.subnet6.bad_text().empty())
    fail_invalid("firewall: IPv6 subnet \"" + net.subnet6.bad_text() + "\" is not an IPv6 CIDR");
}

void fw_check(const EndpointRules& ep) {
  if (!ep.container_ip.has_value())
    fail_invalid("firewall: container address \"" + ep.container_ip.bad_text() + "\" is not an IPv4 address");
  if (!ep.container_ip6.bad_text().empty())
    fail_invalid("firewall: container IPv6 address \"" + ep.container_ip6.bad_text() + "\" is not an IPv6 address");
  for (const PublishedPort& p : ep.ports)
    if (!p.bad.empty()) fail_invalid("firewall: " + p.bad);
}

PortHosts fw_port_hosts(const PublishedPort& p, bool container_has_ip6) {
  if (!p.bad_host.empty()) {
    const bool v6 = p.bad_host.find(':') != std::string::npos;
    fail_invalid("firewall: host address \"" + p.bad_host + "\" is not an " + (v6 ? "IPv6" : "IPv4") + " address");
  }
  PortHosts h;
  h.v4 = p.on == PublishedPort::On::every || p.on == PublishedPort::On::addr4;
  h.v6 = p.on == PublishedPort::On::every ? container_has_ip6 : !h.v4;
  if (p.on == PublishedPort::On::addr4) h.addr4 = p.addr4;
  if (p.on == PublishedPort::On::addr6) h.addr6 = p.addr6;
  if (h.v6 && !h.v4 && !container_has_ip6)
    fail_invalid("firewall: port " + p.host_ports() + " is published on IPv6 address " +
                 (p.on == PublishedPort::On::addr6 ? ip_text(AF_INET6, &p.addr6) : std::string("::")) +
                 " but the container has no IPv6 address");
  return h;
}

bool FirewallBackend::add_endpoint(const NetworkRules& net, const EndpointRules& ep) {
  auto any = [&](auto on_loopback) { return std::any_of(ep.ports.begin(), ep.ports.end(), on_loopback); };
  // (A container without IPv6 cannot publish on ::1: the rules below refuse it.) A bridge that
  // is not there has nothing to route through.
  if (ep.container_ip6.has_value() && any([](const PublishedPort& p) { return p.on_loopback6(); })) {
    NlSocket nl;
    if (int index = link_index(nl, net.bridge)) add_loopback_route6(nl, index, net.bridge);
  }
  const bool made = add_rules(net, ep);
  if (guards_loopback() && any([](const PublishedPort& p) { return p.on_loopback4(); })) enable_route_localnet(net.bridge);
  return made;
}

std::unique_ptr<FirewallBackend> make_firewall(const std::string& backend) {
  if (backend == "auto") {
    if (auto nft = make_nftables_backend_if_available()) return nft;
    return make_iptables_backend();
  }
  if (backend == "nftables") return make_nftables_backend();
  if (backend == "iptables") return make_iptables_backend();
  if (backend == "none") return std::make_unique<NoFirewall>();
  fail_invalid("unknown firewall_backend \"" + backend + "\" (want auto, nftables, iptables or none)");
}

}  // namespace ocinet
