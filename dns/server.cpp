#include "dns/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "netcore/container_files.h"
#include "netcore/dns_feed.h"
#include "base/error.h"

extern "C" {
#include <libknot/libknot.h>
}

namespace ocinet::dns {

namespace {

constexpr int kSweepSeconds = 2;
constexpr size_t kBatch = 32;           // datagrams per recvmmsg/sendmmsg
constexpr size_t kBatchesPerEvent = 4;  // then other sockets get their turn
constexpr size_t kMaxConnsPerEndpoint = 16;
constexpr size_t kMaxConns = 1024;
constexpr size_t kMaxControlConns = 256;
constexpr auto kConnIdle = std::chrono::seconds(10);
constexpr auto kParkedFor = std::chrono::seconds(30);
constexpr size_t kStatusEndpoints = 300;  // one SEQPACKET message must hold the status

// One batch of datagrams in and answers out, allocated once.
struct UdpBatch {
  uint8_t in[kBatch][kMaxUdpAnswer];
  uint8_t out[kBatch][kMaxUdpAnswer];
  sockaddr_storage from[kBatch];
  iovec in_iov[kBatch], out_iov[kBatch];
  mmsghdr in_msg[kBatch], out_msg[kBatch];
};
UdpBatch& batch() {
  static auto* b = new UdpBatch;
  return *b;
}
uint8_t tcp_out[2 + KNOT_WIRE_MAX_PKTSIZE];

}  // namespace

std::optional<FileSig> file_sig(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileSig{st.st_ino, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, st.st_size};
}

static bool same_sig(const std::optional<FileSig>& a, const std::optional<FileSig>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

std::optional<FileSig> NetworkCache::overlay_sig(const std::string& name) const {
  return file_sig(dns_networks_dir(run_dir_) + "/" + name + ".json");
}

const NetworkDef* NetworkCache::get(const std::string& name) {
  auto it = cache_.find(name);
  if (it == cache_.end()) {
    Entry e;
    e.sig = file_sig(dir_ + "/" + name + ".json");
    e.overlay_sig = overlay_sig(name);
    try {
      e.def = store_.load(name);
    } catch (const std::exception& ex) {
      spdlog::warn("network {}: {}", name, ex.what());
    }
    if (!e.sig && e.overlay_sig) e.def = load_cached_network(run_dir_, name);
    it = cache_.emplace(name, std::move(e)).first;
  }
  return it->second.def ? &*it->second.def : nullptr;
}

bool NetworkCache::refresh() {
  bool changed = false;
  for (auto it = cache_.begin(); it != cache_.end();) {
    bool same = same_sig(file_sig(dir_ + "/" + it->first + ".json"), it->second.sig) &&
                same_sig(overlay_sig(it->first), it->second.overlay_sig);
    if (same) {
      ++it;
      continue;
    }
    changed = true;
    it = cache_.erase(it);  // loaded again on next use
  }
  return changed;
}

// A Watch calling a function: for the fixed fds (control socket, timer, signals).
template <class F> struct Server::FnWatch : Watch {
  explicit FnWatch(F f) : fn(std::move(f)) {}
  void on_event(uint32_t events) override { fn(events); }
  F fn;
};

struct Server::Endpoint {
  struct Sock : Watch {
    Server* s;
    Endpoint* e;
    bool tcp;
    Sock(Server* s, Endpoint* e, bool tcp) : s(s), e(e), tcp(tcp) {}
    void on_event(uint32_t) override { tcp ? s->on_accept(*e) : s->on_udp(*e); }
  };
  std::string id, netns_id;
  uint64_t generation = 0;
  Listeners sockets;
  std::unique_ptr<Sock> udp_watch, tcp_watch;
  UpstreamChoice upstreams;
  size_t conns = 0;
};

struct Server::TcpConn : Watch {
  Server* s = nullptr;
  uint64_t serial = 0;
  std::string endpoint;
  uint64_t generation = 0;
  UniqueFd fd;
  std::vector<uint8_t> in = std::vector<uint8_t>(2);
  size_t have = 0;
  std::vector<uint8_t> out;
  size_t sent = 0;
  bool forwarding = false;
  Clock::time_point idle_since = Clock::now();
  void on_event(uint32_t events) override { s->on_conn(*this, events); }
};

struct Server::ControlConn : Watch {
  Server* s = nullptr;
  UniqueFd fd;
  void on_event(uint32_t) override { s->on_control(*this); }
};

// Sockets a hook handed over before its record was ready to serve.
struct Server::Parked {
  Listeners sockets;
  Clock::time_point since = Clock::now();
};

Server::Server(ServerOptions opts, FileLock lock)
    : opts_(std::move(opts)),
      lock_(std::move(lock)),
      records_(opts_.run_dir),
      networks_(opts_.lib_dir, opts_.run_dir),
      forwarder_(loop_, responder_, [this](const ClientRef& c, const uint8_t* m, size_t n) { deliver(c, m, n); }) {
  host_ns_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!host_ns_) fail_system("opening the server's network namespace", errno);
}

Server::~Server() {
  if (control_) ::unlink(control_path(opts_.run_dir).c_str());
}

void Server::bind_control() {
  make_dirs(control_dir(opts_.run_dir), 0700);
  std::string path = control_path(opts_.run_dir);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) fail_invalid("control socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());  // a dead server's: we hold the lock, so no live one uses it
  control_ = UniqueFd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  mode_t old = ::umask(0077);  // 0600 from the start: no window where others may connect
  int rc = control_ ? ::bind(control_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) : -1;
  ::umask(old);
  if (rc != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(control_.get(), 128) != 0)
    fail_system("binding " + path, errno);
  auto w = std::make_unique<FnWatch<std::function<void(uint32_t)>>>([this](uint32_t) { on_control_accept(); });
  loop_.add(control_.get(), EPOLLIN, w.get());
  fixed_watches_.push_back(std::move(w));
}

void Server::setup_signals_and_timer() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signals_ = UniqueFd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  timer_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!signals_ || !timer_) fail_system("signalfd/timerfd", errno);
  itimerspec its{{kSweepSeconds, 0}, {kSweepSeconds, 0}};
  ::timerfd_settime(timer_.get(), 0, &its, nullptr);
  auto on_signal = [this](uint32_t) {
    signalfd_siginfo si;
    while (::read(signals_.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        known_.clear();  // re-read every record on the next sweep
        continue;
      }
      spdlog::info("signal {}: stopping", si.ssi_signo);
      stop_ = true;
    }
  };
  auto on_timer = [this](uint32_t) {
    uint64_t ticks;
    while (::read(timer_.get(), &ticks, sizeof ticks) == sizeof ticks) {}
    sweep();
  };
  auto ws = std::make_unique<FnWatch<std::function<void(uint32_t)>>>(on_signal);
  auto wt = std::make_unique<FnWatch<std::function<void(uint32_t)>>>(on_timer);
  loop_.add(signals_.get(), EPOLLIN, ws.get());
  loop_.add(timer_.get(), EPOLLIN, wt.get());
  fixed_watches_.push_back(std::move(ws));
  fixed_watches_.push_back(std::move(wt));
}

int Server::run() {
  setup_signals_and_timer();
  bind_control();
  sweep();
  if (opts_.client_fd >= 0) add_control(UniqueFd(opts_.client_fd));
  spdlog::info("serving {} containers ({} with sockets), control {}", view_.size(), endpoints_.size(),
               control_path(opts_.run_dir));
  while (!stop_) {
    int timeout = forwarder_.expire();
    loop_.run_once(timeout < 0 ? 1000 : std::min(timeout, 1000));
  }
  return 0;
}

// ---- records and endpoints ----

// Safety net and restart path: every record whose file changed is read again; gone ones are
// dropped; servable ones without sockets are served by entering their netns.
void Server::sweep() {
  if (networks_.refresh()) {
    known_.clear();
    for (auto& [net, r] : remote_) r.sig.reset();  // read again below, against the new definition
  }
  refresh_upstreams();
  std::unordered_set<std::string> seen;
  for (const auto& id : records_.list_ids()) {
    if (!is_valid_name(id, kMaxLegacyIdLen)) continue;
    seen.insert(id);
    auto sig = file_sig(opts_.run_dir + "/endpoints/" + id + ".json");
    if (!sig) continue;
    auto it = known_.find(id);
    if (it != known_.end() && it->second.sig == *sig) {
      const Member* m = view_.find(id);
      bool retry = m && !it->second.suppressed && !endpoints_.count(id) && Clock::now() >= it->second.retry_at;
      if (retry) serve(*m, std::nullopt);
      continue;
    }
    known_[id] = Known{*sig, false};
    sync_record(id, std::nullopt);
  }
  for (auto it = known_.begin(); it != known_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    std::string id = it->first;
    it = known_.erase(it);
    forget(id);
  }
  check_netns_alive();
  sweep_remote();
  auto now = Clock::now();
  for (auto it = parked_.begin(); it != parked_.end();)
    it = now - it->second->since > kParkedFor ? parked_.erase(it) : std::next(it);
  std::vector<uint64_t> idle;
  for (const auto& [serial, c] : conns_)
    if (!c->forwarding && now - c->idle_since > kConnIdle) idle.push_back(serial);
  for (uint64_t s : idle) close_conn(s);
}

// Reads one record again and serves it as it now says: `handed` are a hook's sockets for it.
void Server::sync_record(const std::string& id, std::optional<Listeners> handed) {
  std::optional<EndpointRecord> rec;
  try {
    rec = records_.load(id);
  } catch (const std::exception& e) {
    spdlog::warn("{}: {}", display_id(id), e.what());
  }
  if (auto sig = file_sig(opts_.run_dir + "/endpoints/" + id + ".json")) known_[id].sig = *sig;
  auto m = rec ? member_from_record(*rec, networks_.lookup()) : std::nullopt;
  if (!m || m->netns_id.empty()) {
    if (handed && rec && !rec->removing()) {
      parked_[id] = std::make_unique<Parked>(Parked{std::move(*handed), Clock::now()});
      spdlog::debug("{}: sockets parked until its record is ready", display_id(id));
    }
    forget(id);
    return;
  }
  if (!handed) {
    if (auto p = parked_.find(id); p != parked_.end()) {
      handed = std::move(p->second->sockets);
      parked_.erase(p);
    }
  }
  const Member& stored = view_.put(std::move(*m));
  want_remote(stored);
  if (handed) known_[id].suppressed = false;
  if (!known_[id].suppressed) serve(stored, std::move(handed));
}

// Gives `m` sockets: the handed ones, or, when it has none yet or its netns changed, its own.
void Server::serve(const Member& m, std::optional<Listeners> handed) {
  auto it = endpoints_.find(m.id);
  std::string why;
  if (handed && !check_handed_sockets(*handed, m.netns_id, &why)) {
    spdlog::warn("{}: refusing handed sockets: {}", display_id(m.id), why);
    handed.reset();
  }
  bool fresh = handed || it == endpoints_.end() || it->second->netns_id != m.netns_id;
  if (fresh) {
    if (!handed) {
      if (it != endpoints_.end()) unserve(m.id);  // the old netns: let it go first
      auto l = listen_in_netns(m.netns, m.netns_id, host_ns_.get(), &why);
      if (!l) {
        Known& k = known_[m.id];
        k.failures = std::min(k.failures + 1, 5);
        k.retry_at = Clock::now() + std::chrono::seconds(kSweepSeconds << (k.failures - 1));  // 2 s .. 32 s
        spdlog::debug("{}: not served yet: {}", display_id(m.id), why);
        return;
      }
      known_[m.id].failures = 0;
      handed = std::move(l);
    } else if (it != endpoints_.end()) {
      unserve(m.id);
    }
    auto e = std::make_unique<Endpoint>();
    e->id = m.id;
    e->netns_id = m.netns_id;
    e->generation = next_serial_++;
    e->sockets = std::move(*handed);
    e->udp_watch = std::make_unique<Endpoint::Sock>(this, e.get(), false);
    e->tcp_watch = std::make_unique<Endpoint::Sock>(this, e.get(), true);
    loop_.add(e->sockets.udp.get(), EPOLLIN, e->udp_watch.get());
    loop_.add(e->sockets.tcp.get(), EPOLLIN, e->tcp_watch.get());
    it = endpoints_.insert_or_assign(m.id, std::move(e)).first;
    spdlog::info("{}: serving {} on {} network(s)", display_id(m.id), m.name, m.nets.size());
  }
  it->second->upstreams = choose_upstreams(m, networks_.lookup(), host_upstreams_);
}

// Closes a container's sockets (an open socket keeps its netns alive) and its connections.
void Server::unserve(const std::string& id) {
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return;
  Endpoint& e = *it->second;
  loop_.remove(e.sockets.udp.get());
  loop_.remove(e.sockets.tcp.get());
  loop_.retire(std::move(e.udp_watch));
  loop_.retire(std::move(e.tcp_watch));
  std::vector<uint64_t> mine;
  for (const auto& [serial, c] : conns_)
    if (c->endpoint == id) mine.push_back(serial);
  for (uint64_t s : mine) close_conn(s);
  endpoints_.erase(it);
  spdlog::info("{}: no longer served", display_id(id));
}

void Server::forget(const std::string& id) {
  unserve(id);
  view_.remove(id);
}

// A container whose netns is gone without a teardown (or whose path now names another netns)
// is forgotten until its record changes.
void Server::check_netns_alive() {
  std::vector<std::string> dead;
  view_.for_each([&](const Member& m) {
    if (m.remote) return;
    UniqueFd ns(::open(m.netns.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!ns || ns_identity(ns.get()) != m.netns_id) dead.push_back(m.id);
  });
  for (const auto& id : dead) {
    spdlog::info("{}: its network namespace is gone", display_id(id));
    forget(id);
    known_[id].suppressed = true;
  }
}

void Server::refresh_upstreams() {
  auto a = file_sig(opts_.resolv_conf), b = file_sig(opts_.resolved_conf);
  bool same = a.has_value() == resolv_sig_.has_value() && (!a || *a == *resolv_sig_) &&
              b.has_value() == resolved_sig_.has_value() && (!b || *b == *resolved_sig_);
  if (same && !host_upstreams_.empty()) return;
  resolv_sig_ = a;
  resolved_sig_ = b;
  // Loopback resolvers stay: the server forwards from the host's netns, where they answer.
  auto now = host_resolv_conf(/*keep_loopback=*/true, /*replace_stub=*/true, opts_.resolv_conf, opts_.resolved_conf).nameservers;
  if (now == host_upstreams_) return;
  host_upstreams_ = std::move(now);
  std::string list;
  for (const auto& u : host_upstreams_) list += " " + u;
  spdlog::info("host resolvers:{}", list.empty() ? " none" : list);
  for (auto& [id, e] : endpoints_)
    if (const Member* m = view_.find(id)) e->upstreams = choose_upstreams(*m, networks_.lookup(), host_upstreams_);
}

// ---- other hosts' containers ----

// A container of this host just joined the view: the remote members of its overlay networks
// are loaded now if they are not yet, so that it finds them from its first query.
void Server::want_remote(const Member& m) {
  if (m.remote) return;
  for (const auto& p : m.nets) {
    if (remote_.count(p.network)) continue;
    const NetworkDef* def = networks_.get(p.network);
    if (def && def->driver == Driver::overlay) load_remote(p.network);
  }
}

// (Re)reads RUN/dns/remote/<network>.json: its members replace the network's previous ones.
void Server::load_remote(const std::string& network) {
  RemoteNet& r = remote_[network];
  const std::string path = dns_remote_dir(opts_.run_dir) + "/" + network + ".json";
  r.sig = file_sig(path);
  std::vector<RemoteEndpoint> eps;
  const NetworkDef* def = networks_.get(network);
  if (r.sig && def && has_embedded_dns(*def)) {
    size_t skipped = 0;
    std::optional<std::vector<RemoteEndpoint>> parsed;
    try {
      if (auto text = read_regular_file(path, kMaxRemoteFile)) parsed = parse_remote_endpoints(*text, network, &skipped);
    } catch (const std::exception& e) {
      spdlog::warn("{}: {}", path, e.what());
    }
    if (!parsed) spdlog::warn("{}: not a list of remote endpoints of {}; ignored", path, network);
    if (skipped) spdlog::warn("{}: {} malformed endpoint(s) skipped", path, skipped);
    if (parsed) eps = std::move(*parsed);
  }
  for (const auto& key : r.keys) view_.remove(key);
  r.keys.clear();
  for (const auto& e : eps) r.keys.push_back(view_.put(member_from_remote(e, network)).id);
  spdlog::debug("network {}: {} container(s) on other hosts", network, eps.size());
}

void Server::drop_remote(const std::string& network) {
  auto it = remote_.find(network);
  if (it == remote_.end()) return;
  for (const auto& key : it->second.keys) view_.remove(key);
  remote_.erase(it);
}

// Safety net beside the agent's messages: files that changed are read again; networks none of
// this host's containers is on any more are let go.
void Server::sweep_remote() {
  if (remote_.empty()) return;
  std::unordered_set<std::string> used;
  view_.for_each([&](const Member& m) {
    if (!m.remote)
      for (const auto& p : m.nets) used.insert(p.network);
  });
  std::vector<std::string> unused, changed;
  for (const auto& [net, r] : remote_) {
    if (!used.count(net)) unused.push_back(net);
    else if (!same_sig(file_sig(dns_remote_dir(opts_.run_dir) + "/" + net + ".json"), r.sig)) changed.push_back(net);
  }
  for (const auto& net : unused) drop_remote(net);
  for (const auto& net : changed) load_remote(net);
}

// ---- queries ----

void Server::on_udp(Endpoint& e) {
  const Member* m = view_.find(e.id);
  UdpBatch& b = batch();
  for (size_t round = 0; round < kBatchesPerEvent; round++) {
    for (size_t i = 0; i < kBatch; i++) {
      b.in_iov[i] = {b.in[i], sizeof b.in[i]};
      b.in_msg[i].msg_hdr = msghdr{&b.from[i], sizeof b.from[i], &b.in_iov[i], 1, nullptr, 0, 0};
    }
    int n = ::recvmmsg(e.sockets.udp.get(), b.in_msg, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0 || !m) return;
    unsigned replies = 0;
    for (int i = 0; i < n; i++) {
      if (b.in_msg[i].msg_hdr.msg_flags & MSG_TRUNC) continue;  // larger than any query we take
      size_t len = b.in_msg[i].msg_len, out_len = 0;
      Action a = responder_.respond(view_, *m, e.upstreams.forward, b.in[i], len, true, b.out[replies],
                                    sizeof b.out[replies], &out_len);
      if (a == Action::Reply) {
        b.out_iov[replies] = {b.out[replies], out_len};
        b.out_msg[replies].msg_hdr =
            msghdr{&b.from[i], b.in_msg[i].msg_hdr.msg_namelen, &b.out_iov[replies], 1, nullptr, 0, 0};
        replies++;
      } else if (a == Action::Forward) {
        ClientRef c{e.id, e.generation, 0, b.from[i], b.in_msg[i].msg_hdr.msg_namelen};
        forwarder_.start(c, b.in[i], len, e.upstreams.servers);
      }
    }
    if (replies) ::sendmmsg(e.sockets.udp.get(), b.out_msg, replies, MSG_DONTWAIT);
    if (size_t(n) < kBatch) return;
  }
}

void Server::on_accept(Endpoint& e) {
  for (;;) {
    UniqueFd fd(::accept4(e.sockets.tcp.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (e.conns >= kMaxConnsPerEndpoint || conns_.size() >= kMaxConns) continue;  // closed at once
    auto c = std::make_unique<TcpConn>();
    c->s = this;
    c->serial = next_serial_++;
    c->endpoint = e.id;
    c->generation = e.generation;
    c->fd = std::move(fd);
    if (!loop_.add(c->fd.get(), EPOLLIN, c.get())) continue;
    e.conns++;
    conns_.emplace(c->serial, std::move(c));
  }
}

void Server::close_conn(uint64_t serial) {
  auto it = conns_.find(serial);
  if (it == conns_.end()) return;
  loop_.remove(it->second->fd.get());
  if (auto e = endpoints_.find(it->second->endpoint); e != endpoints_.end() && e->second->conns) e->second->conns--;
  loop_.retire(std::move(it->second));
  conns_.erase(it);
}

// One query at a time per connection: read its 2-byte length, then the query, answer, repeat.
void Server::on_conn(TcpConn& c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) return close_conn(c.serial);
  if (events & EPOLLOUT) {
    conn_write(c, nullptr, 0);
    return;
  }
  if (c.forwarding || c.sent < c.out.size()) return;
  ssize_t n = ::recv(c.fd.get(), c.in.data() + c.have, c.in.size() - c.have, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_conn(c.serial);
  if (n < 0) return;
  c.have += size_t(n);
  c.idle_since = Clock::now();
  if (c.have < c.in.size()) return;
  if (c.in.size() == 2) {
    size_t len = size_t(c.in[0]) << 8 | c.in[1];
    if (len < KNOT_WIRE_HEADER_SIZE) return close_conn(c.serial);
    c.in.resize(2 + len);
    return;
  }
  conn_query(c);
}

void Server::conn_query(TcpConn& c) {
  auto e = endpoints_.find(c.endpoint);
  const Member* m = view_.find(c.endpoint);
  if (e == endpoints_.end() || !m) return close_conn(c.serial);
  size_t len = c.in.size() - 2, out_len = 0;
  Action a = responder_.respond(view_, *m, e->second->upstreams.forward, c.in.data() + 2, len, false, tcp_out + 2,
                                sizeof tcp_out - 2, &out_len);
  if (a == Action::Drop) return close_conn(c.serial);
  if (a == Action::Forward) {
    // Not readable meanwhile: a client sending its next query early must not spin the loop.
    loop_.modify(c.fd.get(), 0, &c);
    c.forwarding = true;
    ClientRef ref{c.endpoint, c.generation, c.serial, {}, 0};
    forwarder_.start(ref, c.in.data() + 2, len, e->second->upstreams.servers);
  } else {
    conn_write(c, tcp_out + 2, out_len);
  }
  c.in.assign(2, 0);
  c.have = 0;
}

// Queues a length-prefixed answer (or, msg == nullptr, flushes what is queued).
void Server::conn_write(TcpConn& c, const uint8_t* msg, size_t len) {
  if (msg) {
    c.out.assign({uint8_t(len >> 8), uint8_t(len)});
    c.out.insert(c.out.end(), msg, msg + len);
    c.sent = 0;
  }
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) {
      loop_.modify(c.fd.get(), EPOLLOUT, &c);
      return;
    }
    if (n <= 0) return close_conn(c.serial);
    c.sent += size_t(n);
  }
  c.out.clear();
  c.sent = 0;
  c.idle_since = Clock::now();
  loop_.modify(c.fd.get(), EPOLLIN, &c);
}

void Server::deliver(const ClientRef& c, const uint8_t* msg, size_t len) {
  auto e = endpoints_.find(c.endpoint);
  if (e == endpoints_.end() || e->second->generation != c.generation) return;  // its sockets went
  if (c.conn == 0) {
    ::sendto(e->second->sockets.udp.get(), msg, len, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&c.addr), c.addrlen);
    return;
  }
  auto it = conns_.find(c.conn);
  if (it == conns_.end()) return;
  it->second->forwarding = false;
  conn_write(*it->second, msg, len);
}

// ---- control ----

void Server::on_control_accept() {
  for (;;) {
    UniqueFd fd(::accept4(control_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    add_control(std::move(fd));
  }
}

void Server::add_control(UniqueFd fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (controls_.size() >= kMaxControlConns || ::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET) {
    spdlog::warn("control connection refused (not SOCK_SEQPACKET, or too many)");
    return;
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  auto c = std::make_unique<ControlConn>();
  c->s = this;
  c->fd = std::move(fd);
  if (!loop_.add(c->fd.get(), EPOLLIN, c.get())) return;
  controls_.emplace(c.get(), std::move(c));
}

void Server::on_control(ControlConn& c) {
  for (int i = 0; i < 16; i++) {  // a few messages per event: other work is not starved
    char data[kMaxControlMessage + 1];
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * (kMaxControlFds + 2))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = ::recvmsg(c.fd.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    std::vector<UniqueFd> fds;  // every descriptor received is owned, so none leaks
    for (cmsghdr* h = CMSG_FIRSTHDR(&msg); n >= 0 && h; h = CMSG_NXTHDR(&msg, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; k++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
    if (n <= 0) {
      loop_.remove(c.fd.get());
      auto node = controls_.extract(&c);
      if (!node.empty()) loop_.retire(std::move(node.mapped()));
      return;
    }
    std::string why;
    std::optional<ControlMessage> m;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) why = "message or descriptors truncated";
    else m = parse_control(data, size_t(n), &why);
    if (!m) {
      spdlog::warn("control message ignored: {}", why);
      continue;
    }
    handle(c, *m, fds);
    if (c.dead) return;
  }
}

void Server::handle(ControlConn& c, const ControlMessage& m, std::vector<UniqueFd>& fds) {
  spdlog::debug("control: {} {}{}", m.op, m.id, m.network);
  if (m.op == "add") {
    if (fds.size() != 2) return spdlog::warn("add {}: expected 2 sockets, got {}", display_id(m.id), fds.size());
    Listeners l{std::move(fds[0]), std::move(fds[1])};
    known_[m.id].suppressed = false;
    sync_record(m.id, std::move(l));
  } else if (m.op == "update") {
    known_[m.id].suppressed = false;
    sync_record(m.id, std::nullopt);
  } else if (m.op == "remove") {
    forget(m.id);
    parked_.erase(m.id);
    auto sig = file_sig(opts_.run_dir + "/endpoints/" + m.id + ".json");
    known_[m.id] = Known{sig ? *sig : FileSig{}, true};  // not served again unless it changes
  } else if (m.op == "remote") {
    if (remote_.count(m.network)) load_remote(m.network);  // else read once a container here joins it
  } else if (m.op == "status") {
    std::string text = status_json();
    if (::send(c.fd.get(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
      spdlog::warn("status reply: {}", std::strerror(errno));
  } else if (m.op == "adopt") {
    if (fds.size() != 1) return spdlog::warn("adopt: expected 1 socket, got {}", fds.size());
    add_control(std::move(fds[0]));
  } else {
    spdlog::warn("control: unknown op \"{}\" ignored", m.op);
  }
}

std::string Server::status_json() const {
  using nlohmann::json;
  json eps = json::array();
  bool truncated = false;
  size_t remote = 0;
  view_.for_each([&](const Member& m) {
    if (m.remote) {
      remote++;
      return;
    }
    if (eps.size() >= kStatusEndpoints) {
      truncated = true;
      return;
    }
    json nets = json::object();
    for (const auto& p : m.nets) nets[p.network] = p.names;
    json e{{"id", m.id}, {"name", m.name}, {"networks", nets}};
    auto it = endpoints_.find(m.id);
    e["served"] = it != endpoints_.end();
    if (it != endpoints_.end()) {
      json ups = json::array();
      for (const auto& u : it->second->upstreams.servers) ups.push_back(u.text);
      e["forward"] = it->second->upstreams.forward;
      e["upstreams"] = ups;
    }
    eps.push_back(e);
  });
  json j{{"pid", ::getpid()},
         {"endpoints", eps},
         {"truncated", truncated},
         {"counts", {{"containers", view_.size() - remote}, {"served", endpoints_.size()}, {"names", view_.name_count()},
                     {"remote_containers", remote}, {"remote_networks", remote_.size()},
                     {"in_flight", forwarder_.in_flight()}, {"tcp_connections", conns_.size()},
                     {"control_connections", controls_.size()}}},
         {"host_upstreams", host_upstreams_}};
  return j.dump();
}

}  // namespace ocinet::dns
