// Where a container's names that are not local go: its own upstreams (io.ocinet.dns), else its
// DNS networks' (--dns), else the host's resolvers. The server runs in the host's network
// namespace, so host resolvers on loopback (127.0.0.1, 127.0.0.53) are reachable as they are.
#pragma once
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "dns/view.h"

namespace ocinet::dns {

struct Upstream {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;
};

// "IP", "IPv4:port" or "[IPv6]:port" (port 53 by default); nullopt when it is not an address.
std::optional<Upstream> parse_upstream(const std::string& text);

// The host's resolvers come from netcore's host_resolv_conf (container_files.h), loopback ones
// kept, systemd-resolved's stub alone replaced by its upstreams.

struct UpstreamChoice {
  // False when every DNS network of the container is --internal: Docker forwards nothing for
  // them and answers SERVFAIL (libnetwork's resolver, proxyDNS off), so do we.
  bool forward = true;
  std::vector<Upstream> servers;
};

UpstreamChoice choose_upstreams(const Member& m, const NetworkLookup& networks, const std::vector<std::string>& host);

}  // namespace ocinet::dns
