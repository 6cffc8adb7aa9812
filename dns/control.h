// The name server's control protocol, both sides. Messages are one JSON object per
// SOCK_SEQPACKET message on RUN/dns/control.sock (mode 0600: root only), file descriptors ride
// along with SCM_RIGHTS:
//   {"op":"add","id":ID}     + [UDP socket, TCP listening socket] bound to 127.0.0.11:53 in the
//                              container's netns: serve the record ID on them
//   {"op":"update","id":ID}  reload the record (networks, aliases changed)
//   {"op":"remove","id":ID}  stop serving ID and close its sockets
//   {"op":"status"}          the server replies with one JSON message
//   {"op":"adopt"}           + [a connected control socket]: serve it as a control connection
//   {"op":"remote","network":N}  RUN/dns/remote/N.json changed: other hosts' containers on
//                              overlay network N (the agent writes it; netcore/dns_feed.h)
// The client side is here too, for the hook and the CLI: no exceptions, errno-style results, and
// no dependency on the DNS library (the hook links this part only).
#pragma once
#include <optional>
#include <string>

namespace ocinet::dns {

inline constexpr size_t kMaxControlMessage = 4096;
inline constexpr int kMaxControlFds = 2;

std::string control_dir(const std::string& run_dir);   // RUN/dns
std::string control_path(const std::string& run_dir);  // RUN/dns/control.sock
std::string lock_path(const std::string& run_dir);     // RUN/dns/server.lock

struct ControlMessage {
  std::string op;  // add, update, remove, status, adopt, remote (unknown ops come through, to be logged)
  std::string id;  // add/update/remove: a valid container id
  std::string network;  // remote: a valid network name
};

// Parses and validates one message; nullopt with `why` set when it is malformed.
std::optional<ControlMessage> parse_control(const char* data, size_t len, std::string* why);

}  // namespace ocinet::dns

// C-ish entry points for the hook and the CLI.
namespace ocinet {
// A non-blocking connection to the server of `run_dir`; -1 (errno set) when none listens.
int dns_control_connect(const std::string& run_dir);
// Sends {"op":op,"id":id} (id omitted when empty) with `nfds` descriptors; never blocks.
// False (errno set) when the message could not be sent whole.
bool dns_send(int fd, const std::string& op, const std::string& id, const int* fds, int nfds);
// Tells the server of `run_dir` that network's remote endpoints changed (one message, no
// reply awaited); false (errno set) when none listens.
bool dns_tell_remote(const std::string& run_dir, const std::string& network);
// Asks the server of `run_dir` for its status: 0 and the JSON text in `out`, or -errno
// (-ECONNREFUSED/-ENOENT: no server, -ETIMEDOUT: no reply within `timeout_ms`).
int dns_status(const std::string& run_dir, std::string& out, int timeout_ms = 2000);
}  // namespace ocinet
