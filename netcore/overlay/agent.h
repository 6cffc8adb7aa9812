// `ocinet agent`: one per host, for overlay networks. See overlay.h for the division of work.
#pragma once
#include <string>

#include "config/admin_config.h"
#include "config/options.h"

namespace ocinet::overlay {

struct AgentOptions {
  std::string advertise_address;  // this host's underlay IPv4 address ("" = detect)
  int lease_ttl = 10;             // seconds: how long a dead host's endpoints linger
};

// Runs until SIGTERM or SIGINT; returns the exit status. Throws Error for a bad configuration.
int run_agent(const GlobalOptions& opts, const AdminConfig& cfg, const AgentOptions& ao);

// The underlay address that routes to `url`'s host (a UDP connect: no packet is sent).
// "" when the host is not an IPv4 literal or the route leaves through loopback.
std::string detect_vtep(const std::string& url);

}  // namespace ocinet::overlay
