#include "dns/forward.h"

#include <netinet/in.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

extern "C" {
#include <libknot/libknot.h>
}

namespace ocinet::dns {

struct Forwarder::Pending : Watch {
  Forwarder* owner = nullptr;
  ClientRef client;
  size_t client_udp_limit = 512;
  uint16_t client_id = 0, id = 0;
  Question question;
  std::vector<uint8_t> query;  // as the client sent it; the ID is rewritten per upstream
  std::vector<Upstream> upstreams;
  size_t next = 0;     // the upstream being asked is upstreams[next - 1]
  bool tcp = false;    // asking it over TCP (a TCP client, or a truncated UDP answer)
  bool client_tcp = false;
  bool connected = false;
  UniqueFd fd;
  std::vector<uint8_t> in;  // TCP: 2-byte length + answer as it arrives
  size_t have = 0;
  Clock::time_point try_deadline, deadline;

  void on_event(uint32_t events) override {
    if (tcp) owner->on_tcp(this, events);
    else owner->on_udp(this);
  }
};

Forwarder::Forwarder(Loop& loop, Responder& responder, Deliver deliver)
    : loop_(loop), responder_(responder), deliver_(std::move(deliver)), buf_(KNOT_WIRE_MAX_PKTSIZE) {}

Forwarder::~Forwarder() = default;

// IDs come from the kernel's CSPRNG, read in batches: guessing them is what a spoofer needs.
uint16_t Forwarder::random_id() {
  if (random_used_ + 2 > sizeof random_) {
    if (::getrandom(random_, sizeof random_, 0) != ssize_t(sizeof random_)) std::memset(random_, 0, sizeof random_);
    random_used_ = 0;
  }
  uint16_t id;
  std::memcpy(&id, random_ + random_used_, 2);
  random_used_ += 2;
  return id;
}

void Forwarder::start(const ClientRef& client, const uint8_t* query, size_t len, const std::vector<Upstream>& upstreams) {
  auto p = std::make_unique<Pending>();
  p->owner = this;
  p->client = client;
  p->client_tcp = client.conn != 0;
  p->client_udp_limit = responder_.client_udp_limit();
  p->question = responder_.question();
  p->client_id = knot_wire_get_id(query);
  p->query.assign(query, query + len);
  p->deadline = Clock::now() + kForwardTimeout;
  size_t& mine = per_endpoint_[client.endpoint];
  Pending* raw = p.get();
  pending_.emplace(raw, std::move(p));
  mine++;
  if (upstreams.empty() || len > kMaxForwardedQuery || pending_.size() > kMaxInFlight || mine > kMaxInFlightPerEndpoint) {
    if (!upstreams.empty()) spdlog::debug("forwarding refused for {}: {} in flight", client.endpoint, pending_.size());
    fail(raw);
    return;
  }
  raw->upstreams = upstreams;
  try_next(raw);
}

void Forwarder::close_upstream(Pending* p) {
  if (!p->fd) return;
  loop_.remove(p->fd.get());
  p->fd = UniqueFd();
}

// The next upstream, over the client's transport; SERVFAIL when none is left or time is up.
void Forwarder::try_next(Pending* p) {
  close_upstream(p);
  auto now = Clock::now();
  while (p->next < p->upstreams.size() && now < p->deadline) {
    p->next++;
    p->tcp = p->client_tcp;
    p->id = random_id();
    p->try_deadline = std::min(now + kUpstreamTimeout, p->deadline);
    next_check_ = std::min(next_check_, p->try_deadline);
    if (p->tcp ? open_tcp(p) : send_udp(p)) return;
    close_upstream(p);
  }
  fail(p);
}

static UniqueFd upstream_socket(const Upstream& u, int type) {
  UniqueFd fd(::socket(u.addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&u.addr), u.len) != 0 && errno != EINPROGRESS) return UniqueFd();
  return fd;
}

// A connected UDP socket of its own: the kernel picks a random source port and drops datagrams
// from anyone but the upstream.
bool Forwarder::send_udp(Pending* p) {
  const Upstream& u = p->upstreams[p->next - 1];
  p->fd = upstream_socket(u, SOCK_DGRAM);
  if (!p->fd) return false;
  knot_wire_set_id(p->query.data(), p->id);
  if (::send(p->fd.get(), p->query.data(), p->query.size(), 0) != ssize_t(p->query.size())) return false;
  return loop_.add(p->fd.get(), EPOLLIN, p);
}

bool Forwarder::open_tcp(Pending* p) {
  const Upstream& u = p->upstreams[p->next - 1];
  p->fd = upstream_socket(u, SOCK_STREAM);
  if (!p->fd) return false;
  p->connected = false;
  p->have = 0;
  return loop_.add(p->fd.get(), EPOLLOUT, p);
}

void Forwarder::on_udp(Pending* p) {
  ssize_t n = ::recv(p->fd.get(), buf_.data(), buf_.size(), 0);
  if (n < 0) {
    if (errno == ECONNREFUSED) try_next(p);  // ICMP port unreachable: nobody serves there
    return;
  }
  on_answer(p, buf_.data(), size_t(n));
}

// Connect, send the length-prefixed query in one go (it is small), then read the answer.
void Forwarder::on_tcp(Pending* p, uint32_t events) {
  if (!p->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(p->fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return try_next(p);
    knot_wire_set_id(p->query.data(), p->id);
    uint8_t prefix[2] = {uint8_t(p->query.size() >> 8), uint8_t(p->query.size())};
    iovec iov[2] = {{prefix, 2}, {p->query.data(), p->query.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (::sendmsg(p->fd.get(), &msg, MSG_NOSIGNAL) != ssize_t(p->query.size() + 2)) return try_next(p);
    p->connected = true;
    p->in.resize(2);
    loop_.modify(p->fd.get(), EPOLLIN, p);
    return;
  }
  ssize_t n = ::recv(p->fd.get(), p->in.data() + p->have, p->in.size() - p->have, 0);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) try_next(p);
    return;
  }
  p->have += size_t(n);
  if (p->have < p->in.size()) return;
  if (p->in.size() == 2) {
    size_t len = size_t(p->in[0]) << 8 | p->in[1];
    if (len < KNOT_WIRE_HEADER_SIZE) return try_next(p);
    p->in.resize(2 + len);
    return;
  }
  on_answer(p, p->in.data() + 2, p->in.size() - 2);
}

void Forwarder::on_answer(Pending* p, const uint8_t* msg, size_t len) {
  Question q;
  if (len < KNOT_WIRE_HEADER_SIZE || knot_wire_get_id(msg) != p->id || !knot_wire_get_qr(msg) ||
      !responder_.read_question(msg, len, &q) || !(q == p->question)) {
    if (p->tcp) try_next(p);  // a TCP stream that answers something else is useless
    return;                   // UDP: not our answer (late, or spoofed); keep waiting
  }
  if (knot_wire_get_rcode(msg) == KNOT_RCODE_REFUSED && p->next < p->upstreams.size()) return try_next(p);
  if (knot_wire_get_tc(msg) && !p->tcp) {
    // Truncated: the same upstream again over TCP, within the same deadline.
    close_upstream(p);
    p->tcp = true;
    p->id = random_id();
    if (!open_tcp(p)) try_next(p);
    return;
  }
  finish(p, msg, len);
}

void Forwarder::finish(Pending* p, const uint8_t* msg, size_t len) {
  std::vector<uint8_t>& out = p->query;  // no longer needed: reuse it for the answer
  if (!p->client_tcp && len > p->client_udp_limit) {
    // Too big for the client's UDP size (came over TCP): TC tells it to ask us over TCP.
    size_t n = 0;
    uint8_t hdr[512];
    if (responder_.empty_reply(p->query.data(), p->query.size(), knot_wire_get_rcode(msg), true, hdr, sizeof hdr, &n)) {
      knot_wire_set_id(hdr, p->client_id);
      deliver_(p->client, hdr, n);
    }
  } else {
    out.assign(msg, msg + len);
    knot_wire_set_id(out.data(), p->client_id);
    deliver_(p->client, out.data(), out.size());
  }
  release(p);
}

void Forwarder::release(Pending* p) {
  close_upstream(p);
  auto it = per_endpoint_.find(p->client.endpoint);
  if (it != per_endpoint_.end() && --it->second == 0) per_endpoint_.erase(it);
  auto node = pending_.extract(p);
  loop_.retire(std::move(node.mapped()));
}

// SERVFAIL: no upstream, none answered in time, or too much in flight.
void Forwarder::fail(Pending* p) {
  uint8_t out[512];
  size_t n = 0;
  knot_wire_set_id(p->query.data(), p->client_id);
  if (!responder_.empty_reply(p->query.data(), p->query.size(), KNOT_RCODE_SERVFAIL, false, out, sizeof out, &n))
    n = header_reply(p->query.data(), KNOT_RCODE_SERVFAIL, out);
  deliver_(p->client, out, n);
  release(p);
}

int Forwarder::expire() {
  auto now = Clock::now();
  if (now < next_check_) {
    if (next_check_ == Clock::time_point::max()) return -1;
    return int(std::chrono::duration_cast<std::chrono::milliseconds>(next_check_ - now).count()) + 1;
  }
  next_check_ = Clock::time_point::max();
  std::vector<Pending*> late;
  for (auto& [raw, p] : pending_) {
    if (now >= p->try_deadline) late.push_back(raw);
    else next_check_ = std::min(next_check_, p->try_deadline);
  }
  for (Pending* p : late) try_next(p);
  return expire();
}

}  // namespace ocinet::dns
