// What the name server (dns/) learns about overlay networks, whose definitions and endpoints live
// in etcd, which the server never talks to. Files under RUN/dns, both written atomically:
//   networks/<name>.json  the overlay network's definition (NetworkDef JSON), beside LIB/networks
//                         for local ones: written by the hook when a container joins (so the
//                         server knows it when the container's "add" arrives) and by the agent,
//                         which also removes it with the network
//   remote/<name>.json    {"network":N,"endpoints":[{"id","name","hostname","aliases","ip"}]}:
//                         the containers of other hosts on N, written by the agent from its etcd
//                         watch, followed by the control message {"op":"remote","network":N}
//                         (dns_tell_remote, dns/control.h)
// Files, not messages alone: a server (re)started later reads them, and a message lost to a
// server that was down costs nothing. The server reads a remote file only while one of its own
// containers is on that network, and validates everything it reads (other hosts wrote it).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "netcore/network_store.h"

namespace ocinet {

// One file's bounds: 64 Ki endpoints of ~200 bytes each.
inline constexpr size_t kMaxRemoteFile = 16 << 20;
inline constexpr size_t kMaxRemoteEndpoints = 65536;
inline constexpr size_t kMaxRemoteAliases = 32;

struct RemoteEndpoint {
  std::string id, name, hostname, ip;  // ip: IPv4 (overlay networks are IPv4-only)
  std::vector<std::string> aliases;
  bool operator==(const RemoteEndpoint& o) const {
    return id == o.id && name == o.name && hostname == o.hostname && ip == o.ip && aliases == o.aliases;
  }
};

std::string dns_networks_dir(const std::string& run_dir);  // RUN/dns/networks
std::string dns_remote_dir(const std::string& run_dir);    // RUN/dns/remote

// Writes the overlay definition for the server unless the file says the same already (an
// unchanged file is not replaced: the server re-reads every record when a definition changes).
void cache_network_for_dns(const std::string& run_dir, const NetworkDef& n);
void uncache_network_for_dns(const std::string& run_dir, const std::string& name);
// The cached definition of overlay network `name`; nullopt when absent or not a valid overlay
// definition of that name (Invalid/System are caught: the server goes on without it).
std::optional<NetworkDef> load_cached_network(const std::string& run_dir, const std::string& name);

// Names of the networks with a cached definition or a remote file (the agent removes those of
// networks gone from etcd).
std::vector<std::string> fed_networks(const std::string& run_dir);

std::string remote_endpoints_json(const std::string& network, const std::vector<RemoteEndpoint>& eps);
// True when the file changed (then the server is to be told).
bool write_remote_endpoints(const std::string& run_dir, const std::string& network, const std::vector<RemoteEndpoint>& eps);
bool remove_remote_endpoints(const std::string& run_dir, const std::string& network);
// The endpoints of a remote file's text for `network`: nullopt when the text is not such a file
// (not JSON, another network, too many entries); entries with a bad id or address are skipped
// and counted in `skipped`, bad names and aliases dropped from their entry. Pure (unit-tested).
std::optional<std::vector<RemoteEndpoint>> parse_remote_endpoints(const std::string& text, const std::string& network,
                                                                  size_t* skipped);

}  // namespace ocinet
