#include "dns/upstreams.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace ocinet::dns {

namespace {

std::optional<uint16_t> parse_port(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  unsigned long p = std::stoul(s);
  if (p == 0 || p > 65535) return std::nullopt;
  return uint16_t(p);
}

}  // namespace

std::optional<Upstream> parse_upstream(const std::string& text) {
  std::string host = text;
  uint16_t port = 53;
  if (!host.empty() && host[0] == '[') {
    auto close = host.find(']');
    if (close == std::string::npos) return std::nullopt;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return std::nullopt;
      auto p = parse_port(host.substr(close + 2));
      if (!p) return std::nullopt;
      port = *p;
    }
    host = host.substr(1, close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    auto p = parse_port(host.substr(host.find(':') + 1));
    if (!p) return std::nullopt;
    port = *p;
    host = host.substr(0, host.find(':'));
  }
  Upstream u;
  u.text = text;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&u.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&u.addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    u.len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    u.len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return u;
}

UpstreamChoice choose_upstreams(const Member& m, const NetworkLookup& networks, const std::vector<std::string>& host) {
  UpstreamChoice c;
  c.forward = std::any_of(m.nets.begin(), m.nets.end(), [](const NetPresence& p) { return !p.internal; });
  if (!c.forward) return c;
  std::vector<std::string> names = m.dns;
  if (names.empty())
    for (const auto& p : m.nets)
      if (const NetworkDef* def = networks(p.network))
        for (const auto& s : def->dns_servers)
          if (std::find(names.begin(), names.end(), s) == names.end()) names.push_back(s);
  if (names.empty()) names = host;
  for (const auto& n : names)
    if (auto u = parse_upstream(n)) c.servers.push_back(std::move(*u));
  return c;
}

}  // namespace ocinet::dns
