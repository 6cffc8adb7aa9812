// ocinet-dns: one process per host, one thread, one epoll loop. It serves every container with
// an address on a network with embedded DNS, on sockets inside that container's netns (made by
// the hook and handed over, or made here by entering the netns), and keeps its view of names in
// step with the endpoint records: through control messages at once, through a sweep every 2 s
// as a safety net (and after a restart, from the records alone).
#pragma once
#include <sys/stat.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dns/answer.h"
#include "dns/control.h"
#include "dns/forward.h"
#include "dns/listeners.h"
#include "dns/loop.h"
#include "dns/upstreams.h"
#include "dns/view.h"
#include "netcore/container_files.h"
#include "netcore/endpoint_record.h"
#include "netcore/fsutil.h"
#include "netcore/network_store.h"

namespace ocinet::dns {

struct ServerOptions {
  std::string run_dir, lib_dir;
  std::string resolv_conf = kHostResolvConf;
  std::string resolved_conf = kResolvedConf;
  int client_fd = -1;  // a control connection from the hook that started us
};

// Identity of a file's current version: records and definitions are replaced by rename.
struct FileSig {
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  off_t size = -1;
  bool operator==(const FileSig& o) const { return ino == o.ino && mtime_ns == o.mtime_ns && size == o.size; }
};
std::optional<FileSig> file_sig(const std::string& path);

// Network definitions as the view needs them, re-read only when their file changed: local ones
// from LIB/networks, overlay ones (kept in etcd) from the hook's and agent's copies in
// RUN/dns/networks (netcore/dns_feed.h). A local definition wins, as in setup.
class NetworkCache {
 public:
  NetworkCache(std::string lib_dir, std::string run_dir)
      : store_(lib_dir), dir_(lib_dir + "/networks"), run_dir_(std::move(run_dir)) {}
  const NetworkDef* get(const std::string& name);
  // Re-reads changed definitions; true when any changed or went away.
  bool refresh();
  NetworkLookup lookup() {
    return [this](const std::string& n) { return get(n); };
  }

 private:
  struct Entry {
    std::optional<NetworkDef> def;
    std::optional<FileSig> sig, overlay_sig;
  };
  std::optional<FileSig> overlay_sig(const std::string& name) const;
  NetworkStore store_;
  std::string dir_, run_dir_;
  std::unordered_map<std::string, Entry> cache_;
};

class Server {
 public:
  Server(ServerOptions opts, FileLock lock);
  ~Server();
  // Binds the control socket, serves every running container, then loops until SIGTERM.
  int run();

 private:
  struct Endpoint;
  struct TcpConn;
  struct ControlConn;
  struct Parked;
  template <class F> struct FnWatch;

  // start-up
  void bind_control();
  void setup_signals_and_timer();
  // records and endpoints
  void sweep();
  void sync_record(const std::string& id, std::optional<Listeners> handed);
  void serve(const Member& m, std::optional<Listeners> handed);
  void unserve(const std::string& id);
  void forget(const std::string& id);
  void check_netns_alive();
  void refresh_upstreams();
  // other hosts' containers on overlay networks (netcore/dns_feed.h)
  void want_remote(const Member& m);
  void load_remote(const std::string& network);
  void drop_remote(const std::string& network);
  void sweep_remote();
  // queries
  void on_udp(Endpoint& e);
  void on_accept(Endpoint& e);
  void on_conn(TcpConn& c, uint32_t events);
  void conn_query(TcpConn& c);
  void conn_write(TcpConn& c, const uint8_t* msg, size_t len);
  void close_conn(uint64_t serial);
  void deliver(const ClientRef& c, const uint8_t* msg, size_t len);
  // control
  void on_control_accept();
  void add_control(UniqueFd fd);
  void on_control(ControlConn& c);
  void handle(ControlConn& c, const ControlMessage& m, std::vector<UniqueFd>& fds);
  std::string status_json() const;

  ServerOptions opts_;
  FileLock lock_;
  RecordStore records_;
  NetworkCache networks_;
  Loop loop_;
  View view_;
  Responder responder_;
  Forwarder forwarder_;
  UniqueFd host_ns_, control_, timer_, signals_;
  std::vector<std::unique_ptr<Watch>> fixed_watches_;
  std::unordered_map<std::string, std::unique_ptr<Endpoint>> endpoints_;
  std::unordered_map<uint64_t, std::unique_ptr<TcpConn>> conns_;
  std::unordered_map<ControlConn*, std::unique_ptr<ControlConn>> controls_;
  std::unordered_map<std::string, std::unique_ptr<Parked>> parked_;
  struct Known {
    FileSig sig;
    bool suppressed = false;  // removed by a control message or found dead: not until it changes
    // Binding in its netns failed this many times: retried with a growing delay, so records
    // that cannot be served (lo down, someone else on 127.0.0.11:53) cost little per sweep.
    int failures = 0;
    Clock::time_point retry_at{};
  };
  std::unordered_map<std::string, Known> known_;
  // Overlay networks with a container of this host on them: the remote members loaded for each.
  struct RemoteNet {
    std::optional<FileSig> sig;
    std::vector<std::string> keys;  // their ids in the view
  };
  std::unordered_map<std::string, RemoteNet> remote_;
  std::vector<std::string> host_upstreams_;
  std::optional<FileSig> resolv_sig_, resolved_sig_;
  uint64_t next_serial_ = 1;
  bool stop_ = false;
};

}  // namespace ocinet::dns
