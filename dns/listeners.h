// The server's sockets inside containers: UDP and TCP on 127.0.0.11:53 of a container's netns,
// made by the server itself (entering the netns, after checking it is the one the record names)
// or handed over by the hook (then checked to be what they claim). The server never listens on
// the host's own interfaces: a netns that is the server's own is refused.
#pragma once
#include <optional>
#include <string>

#include "netcore/fsutil.h"

namespace ocinet::dns {

struct Listeners {
  UniqueFd udp, tcp;
};

// "dev:ino" of the network namespace a file descriptor (nsfs) refers to.
std::string ns_identity(int fd);

// Enters the netns at `path` if it is `netns_id` and not `host_ns`'s, binds both sockets there
// and returns to `host_ns` (aborting if that fails: the server must never go on elsewhere).
// nullopt with `why` when the netns is gone or changed, or binding fails (say, a hook's sockets
// are still bound there, or lo is down).
std::optional<Listeners> listen_in_netns(const std::string& path, const std::string& netns_id, int host_ns,
                                         std::string* why);

// Sockets from a hook: a UDP socket and a listening TCP socket bound to 127.0.0.11:53, both in
// netns `netns_id`. Also makes them non-blocking.
bool check_handed_sockets(const Listeners& l, const std::string& netns_id, std::string* why);

}  // namespace ocinet::dns
