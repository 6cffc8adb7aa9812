#include "config/ports.h"

#include <algorithm>

#include "config/validate.h"
#include "base/error.h"

namespace ocinet {
namespace {

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  fail_invalid("io.ocinet.ports: \"" + spec + "\": " + why);
}

uint16_t parse_port(const std::string& spec, const std::string& s) {
  if (s.empty() || s.size() > 5) bad(spec, "invalid port \"" + s + "\"");
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') bad(spec, "invalid port \"" + s + "\"");
    v = v * 10 + unsigned(c - '0');
  }
  if (v == 0 || v > 65535) bad(spec, "port " + s + " out of range 1-65535");
  return uint16_t(v);
}

// "a" or "a-b" with a <= b.
void parse_range(const std::string& spec, const std::string& s, uint16_t& lo, uint16_t& hi) {
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    lo = hi = parse_port(spec, s);
    return;
  }
  lo = parse_port(spec, s.substr(0, dash));
  hi = parse_port(spec, s.substr(dash + 1));
  if (lo > hi) bad(spec, "range " + s + " is reversed");
}

}  // namespace

PortSpec parse_port_spec(const std::string& spec) {
  if (spec.empty()) bad(spec, "empty port spec");
  PortSpec p;
  std::string rest = spec;
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    p.proto = rest.substr(slash + 1);
    rest.resize(slash);
    if (p.proto != "tcp" && p.proto != "udp" && p.proto != "sctp")
      bad(spec, "protocol must be tcp, udp or sctp");
  }
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      bad(spec, "IPv6 host address must be written [addr]:hostPort:containerPort");
    auto v6 = canonical_ipv6(rest.substr(1, close - 1));
    if (!v6) bad(spec, "invalid IPv6 host address \"" + rest.substr(1, close - 1) + "\"");
    // [::1] is accepted here; whether this host can publish on it is the setup's to say
    // (netcore/setup.cpp: not while br_netfilter hands bridged IPv6 to the host's netfilter).
    p.host_ip = *v6;  // "::" = every IPv6 address of the host
    rest = rest.substr(close + 2);
    if (rest.find(':') == std::string::npos) bad(spec, "missing container port");
  } else if (std::count(rest.begin(), rest.end(), ':') == 2) {
    auto colon = rest.find(':');
    p.host_ip = rest.substr(0, colon);
    if (!parse_ipv4(p.host_ip)) bad(spec, "invalid host address \"" + p.host_ip + "\"");
    if (p.host_ip == "0.0.0.0") p.host_ip.clear();  // Docker's spelling of "every address"
    rest = rest.substr(colon + 1);
  }
  auto colon = rest.find(':');
  std::string host_part, ct_part = rest;
  if (colon != std::string::npos) {
    host_part = rest.substr(0, colon);
    ct_part = rest.substr(colon + 1);
    if (ct_part.find(':') != std::string::npos) bad(spec, "too many ':'");
  }
  parse_range(spec, ct_part, p.ct_start, p.ct_end);
  if (!host_part.empty()) {
    parse_range(spec, host_part, p.host_start, p.host_end);
    int host_n = p.host_end - p.host_start + 1;
    // Docker: equal ranges map one to one; one container port with a host range takes the
    // first free host port of the range.
    if (host_n != p.count() && p.count() != 1)
      bad(spec, "host and container port ranges differ in size");
  }
  return p;
}

std::vector<PortSpec> parse_port_list(const std::string& value) {
  std::vector<PortSpec> out;
  size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out.push_back(parse_port_spec(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace ocinet
