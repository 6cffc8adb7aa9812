// Forwarding of names that are not local: to the asking container's upstreams in order, from
// the host's network namespace, in the server's event loop (non-blocking, bounded in number and
// in time). Each upstream query has a fresh random ID and its own UDP socket, hence a fresh
// random source port, and only an answer with that ID and the same question is taken.
#pragma once
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/answer.h"
#include "dns/loop.h"
#include "dns/upstreams.h"

namespace ocinet::dns {

// Per upstream, then in all: below glibc's 5 s client timeout, so that a client gets SERVFAIL
// instead of timing out (Docker stays silent until it does).
inline constexpr auto kUpstreamTimeout = std::chrono::milliseconds(1000);
inline constexpr auto kForwardTimeout = std::chrono::milliseconds(3000);
inline constexpr size_t kMaxInFlight = 1024;
inline constexpr size_t kMaxInFlightPerEndpoint = 128;
inline constexpr size_t kMaxForwardedQuery = 4096;

// Where the answer goes back to.
struct ClientRef {
  std::string endpoint;
  uint64_t generation = 0;  // of the endpoint's sockets: answers for replaced ones are dropped
  uint64_t conn = 0;        // TCP: serial of the client's connection; 0 = UDP
  sockaddr_storage addr{};  // UDP: the client's address
  socklen_t addrlen = 0;
};

class Forwarder {
 public:
  using Deliver = std::function<void(const ClientRef&, const uint8_t* msg, size_t len)>;
  Forwarder(Loop& loop, Responder& responder, Deliver deliver);
  ~Forwarder();
  // Forwards `query` (its question and client UDP size are the responder's last); answers
  // SERVFAIL at once when there is no upstream or too much is in flight.
  void start(const ClientRef& client, const uint8_t* query, size_t len, const std::vector<Upstream>& upstreams);
  // Moves on from upstreams that timed out; returns the milliseconds until the next deadline.
  int expire();
  size_t in_flight() const { return pending_.size(); }

 private:
  struct Pending;
  void try_next(Pending* p);
  bool send_udp(Pending* p);
  bool open_tcp(Pending* p);
  void on_udp(Pending* p);
  void on_tcp(Pending* p, uint32_t events);
  void on_answer(Pending* p, const uint8_t* msg, size_t len);
  void finish(Pending* p, const uint8_t* msg, size_t len);
  void fail(Pending* p);
  void release(Pending* p);
  void close_upstream(Pending* p);
  uint16_t random_id();

  Loop& loop_;
  Responder& responder_;
  Deliver deliver_;
  std::unordered_map<Pending*, std::unique_ptr<Pending>> pending_;
  std::unordered_map<std::string, size_t> per_endpoint_;
  std::vector<uint8_t> buf_;  // one answer at a time: relayed as soon as it is read
  uint8_t random_[256];
  size_t random_used_ = sizeof random_;
  Clock::time_point next_check_ = Clock::time_point::max();
};

}  // namespace ocinet::dns
