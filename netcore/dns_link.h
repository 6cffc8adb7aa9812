// The hook's and the CLI's side of the embedded name server (ocinet-dns, dns/): the server is
// control plane, so everything here is best effort and never waits on it beyond one message.
//
// The server listens on RUN/dns/control.sock (SOCK_SEQPACKET, one JSON message each):
//   {"op":"add","id":ID}     + 2 fds: UDP and TCP sockets bound to 127.0.0.11:53 in the
//                            container's netns, made by the hook while it is inside (it is
//                            root there); the server answers that container on them
//   {"op":"update","id":ID}  the record changed (connect/disconnect): read it again
//   {"op":"remove","id":ID}  stop answering it and close its sockets (they hold its netns)
// When no server runs, the first setup that needs one starts it (as netavark starts
// aardvark-dns). The hook cannot exec once confined, so it prepares that before confining: a
// launcher child, forked then and waiting on a pipe, execs the server only when told to.
#pragma once
#include <string>

#include "netcore/fsutil.h"

namespace ocinet {

// Docker's address for the embedded name server, on the container's lo.
inline constexpr const char* kEmbeddedDnsAddress = "127.0.0.11";

// Before the hook confines itself: connects to the server, or (may_launch) forks the launcher
// of `server_path` (the ocinet-dns binary).
void dns_prepare(const std::string& run_dir, const std::string& lib_dir, bool may_launch, const std::string& server_path);

// The sockets a container is answered on, bound in the current netns (the container's) to
// 127.0.0.11:53 (lo must be up). Throws System naming what failed.
struct DnsSockets {
  UniqueFd udp, tcp;
};
DnsSockets open_dns_sockets();

// A UDP socket's receive buffer, for the server's sockets in containers. The default (about
// 208 KiB, ~150 queued queries) overflowed under a burst in the bench (38 of 1.1M queries lost);
// 1 MiB is memory only while queries wait, so it stays bounded per container. Best effort.
inline constexpr int kDnsReceiveBuffer = 1 << 20;
void enlarge_receive_buffer(int fd);

// Hands the sockets to the server (starting it if dns_prepare set the launcher up). Returns
// false when no server could be reached: the container runs, unanswered until the server's
// next start re-binds it from its record.
bool dns_add(const std::string& id, DnsSockets& sockets);
// "update" or "remove"; false when no server runs (nothing to tell). The CLI is not confined:
// an update starts the server (beside this program) when none runs.
bool dns_notify(const std::string& run_dir, const std::string& lib_dir, const std::string& op, const std::string& id);

// Where the server binary is expected: beside this program (bin/ in a build, /usr/libexec/ocinet
// when installed).
std::string dns_server_beside_self();

}  // namespace ocinet
