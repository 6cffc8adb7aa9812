// Root-only check of the nftables backend against the real kernel. It first moves itself into a
// fresh network namespace, so only that namespace's ruleset is ever touched, never the host's.
// The `nft` and `ip` binaries are used here to look and to build a topology; the backend itself
// never runs them. Exit status: 0 all passed, 1 a check failed, 77 skipped (not root, no
// namespaces, no nf_tables).
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "hook/confine.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "tests/integration/fw_check.h"

using namespace ocinet;
using Clock = std::chrono::steady_clock;

namespace {

using namespace fwcheck;  // check, run, throws, succeeds, passed, failed

std::string ruleset() { return run("nft list ruleset 2>&1"); }

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

void check_has(const std::string& text, const std::string& needle) { check(count(text, needle) == 1, "ruleset has: " + needle); }
void check_lacks(const std::string& text, const std::string& needle) { check(count(text, needle) == 0, "ruleset lacks: " + needle); }

long micros(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()); }

long median(std::vector<long> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---------------------------------------------------------------------------------------------
// Namespaces are held by file descriptors only: no /run/netns entry, no process; they vanish
// with this one.

int home_ns = -1;  // the test's own namespace, the "host"

// A fresh namespace, left again at once; the descriptor keeps it alive.
int new_netns() {
  if (unshare(CLONE_NEWNET) != 0) return -1;
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  setns(home_ns, CLONE_NEWNET);
  return fd;
}

// Sockets keep the namespace they were made in.
template <class F>
auto in_ns(int ns, F f) {
  setns(ns, CLONE_NEWNET);
  auto r = f();
  setns(home_ns, CLONE_NEWNET);
  return r;
}

std::string ns_path(int ns) { return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(ns); }

void sh_in(int ns, const std::string& cmds) {
  in_ns(ns, [&] { return std::system(cmds.c_str()); });
}

// ---------------------------------------------------------------------------------------------
// Hooks are separate processes.

// Runs f in a child process inside namespace `ns`; its exit status (0 = f returned true).
int in_child(int ns, const std::function<bool()>& f) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (setns(ns, CLONE_NEWNET) != 0) _exit(3);
    try {
      _exit(f() ? 0 : 4);
    } catch (const std::exception& e) {
      std::printf("      error: %s\n", e.what());
      std::fflush(stdout);
      _exit(1);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Zombie children of this process (state Z in /proc/PID/stat, parent = us). Plain file reads:
// it runs under the hook's seccomp filter, where no program can be started.
int zombie_children() {
  int n = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    FILE* f = std::fopen(("/proc/" + std::string(e->d_name) + "/stat").c_str(), "r");
    if (!f) continue;
    char buf[512] = {};
    size_t len = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string line(buf, len);
    auto paren = line.rfind(')');  // the command name may hold spaces and parentheses
    char state = 0;
    int ppid = 0;
    if (paren != std::string::npos && std::sscanf(line.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 &&
        state == 'Z' && ppid == getpid())
      ++n;
  }
  closedir(d);
  return n;
}

bool libnftables_loaded() { return dlopen("libnftables.so.1", RTLD_LAZY | RTLD_NOLOAD) != nullptr; }

// In a confined child in `ns`: `first`, a network's first endpoint, sets up the network (and
// creates the tables); 0 when it went well.
int first_endpoint(int ns, const NetworkRules& net, const EndpointRules& first) {
  return in_child(ns, [&] {
    if (!confine_hook()) return false;
    make_nftables_backend()->add_endpoint(net, first);
    return true;
  });
}

// In a confined child in `ns`, on a network that is set up: `ep` added, removed and added
// again; 0 when none of it loaded libnftables (the netlink fast path did it all).
int fast_path_round_trip(int ns, const NetworkRules& net, const EndpointRules& ep) {
  return in_child(ns, [&] {
    if (!confine_hook()) return false;
    auto fw = make_nftables_backend();
    fw->add_endpoint(net, ep);
    fw->remove_endpoint_rules(ep);
    fw->add_endpoint(net, ep);
    return !libnftables_loaded();
  });
}

// The backend as the hook runs it: a fresh process, under the hook's own seccomp filter. A
// container on a network that is already set up must not even load libnftables (the netlink
// fast path); anything else loads it under the filter. In a namespace of its own.
void hook_like_processes(int ns) {
  NetworkRules net{"scnet", "ocsc0", "10.66.0.0/24", false};
  // With their bridge ports (IPv4-only network: an element in the bridge table's v4only_ports).
  EndpointRules ep{"seccomp1", "10.66.0.2", "ocsc0", {{"", 8080, 80, "tcp"}, {"10.66.0.1", 8081, 81, "udp"}}, "", "vseccomp1"};
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          make_nftables_backend()->add_endpoint(net, EndpointRules{"first", "10.66.0.9", "ocsc0", {}, "", "vfirst"});
          return libnftables_loaded();
        }) == 0,
        "confined process: a network's first endpoint (table created) loads libnftables");
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          auto fw = make_nftables_backend();
          fw->add_endpoint(net, ep);
          fw->remove_endpoint_rules(ep);
          fw->add_endpoint(net, ep);
          return !libnftables_loaded();
        }) == 0,
        "confined process: add_endpoint, remove_endpoint_rules on a set-up network without libnftables");
  // A long-lived process (ocinet gc, the agent) removing endpoints one after another: each
  // removal hands its socket's last close to a child, and the process reaps the earlier ones
  // that are done (each is, a grace period later: 100 ms apart here) when it starts the next.
  const int reap_status = in_child(ns, [&] {
          if (!confine_hook()) return false;
          for (int i = 0; i < 6; i++) {
            EndpointRules e{"reap" + std::to_string(i), "10.66.0." + std::to_string(30 + i), "ocsc0",
                            {{"", uint16_t(9100 + i), 80, "tcp"}}, "", "vreap" + std::to_string(i)};
            auto fw = make_nftables_backend();
            fw->add_endpoint(net, e);
            fw->remove_endpoint_rules(e);
            fw.reset();  // the last close of its socket goes to a child
            usleep(100 * 1000);
          }
          usleep(200 * 1000);  // the last closer has exited by now too
          int zombies = zombie_children();
          std::printf("      zombie children after 6 removals: %d\n", zombies);
          std::fflush(stdout);
          return zombies <= 1;
        });
  check(reap_status == 0, "a process removing 6 endpoints one after another reaps its socket closers (at most the last "
                          "is left; status " + std::to_string(reap_status) + ")");
  if (!run("command -v nft").empty()) {
    std::string s = in_ns(ns, [] {
      return run("nft list map ip ocinet pub_any; nft list map ip ocinet pub_addr; nft list set bridge ocinet v4only_ports");
    });
    check(count(s, "tcp . 8080 comment \"ocinet:seccomp1\" : 10.66.0.2 . 80") == 1 &&
              count(s, "10.66.0.1 . udp . 8081 comment \"ocinet:seccomp1\" : 10.66.0.2 . 81") == 1 &&
              count(s, "\"vseccomp1\" comment \"ocinet:seccomp1\"") == 1,
          "  nft lists the fast path's elements as its own (ports, and the bridge port)");
  }
  check(in_ns(ns, [] { return run("nft list tables"); }).find("table bridge ocinet") != std::string::npos,
        "  an IPv4-only network's first endpoint made the bridge table");
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          auto fw = make_nftables_backend();
          fw->remove_endpoint(ep.tag);
          fw->remove_endpoint("first");
          fw->remove_network(net.name, false);
          return true;
        }) == 0,
        "confined process: remove_endpoint(tag) and remove_network (libnftables)");
}

// The same for a dual-stack network: the first endpoint creates both tables, the next ones
// add their IPv4 and IPv6 elements in one netlink batch (no libnftables), and nft reads the
// IPv6 elements back as its own; removing everything takes both tables away.
void dual_stack_processes(int ns) {
  NetworkRules net{"dual", "ocd0", "10.67.0.0/24", false, "fd67::/64"};
  EndpointRules ep{"dual1", "10.67.0.2", "ocd0",
                   {{"", 8080, 80, "tcp"}, {"fd67::1", 8081, 81, "udp"}, {"::", 8082, 82, "sctp"}, {"10.67.0.1", 8083, 83, "tcp"},
                    {"::1", 8084, 84, "tcp"}},
                   "fd67::2"};
  check(first_endpoint(ns, net, EndpointRules{"dual0", "10.67.0.9", "ocd0", {}, "fd67::9"}) == 0,
        "dual stack, confined process: a network's first endpoint creates both tables");
  check(fast_path_round_trip(ns, net, ep) == 0,
        "dual stack, confined process: add/remove/add of IPv4 and IPv6 ports without libnftables");
  if (!run("command -v nft").empty()) {
    std::string v4 = in_ns(ns, [] { return run("nft list table ip ocinet"); });
    std::string v6 = in_ns(ns, [] { return run("nft list table ip6 ocinet"); });
    check(count(v4, "tcp . 8080 comment \"ocinet:dual1\" : 10.67.0.2 . 80") == 1 &&
              count(v4, "10.67.0.1 . tcp . 8083 comment \"ocinet:dual1\" : 10.67.0.2 . 83") == 1 &&
              count(v4, "8081") == 0 && count(v4, "8082") == 0,
          "  IPv4 table: 8080 (no host address) and 10.67.0.1:8083 only");
    check(count(v6, "tcp . 8080 comment \"ocinet:dual1\" : fd67::2 . 80") == 1 &&
              count(v6, "fd67::1 . udp . 8081 comment \"ocinet:dual1\" : fd67::2 . 81") == 1 &&
              count(v6, "sctp . 8082 comment \"ocinet:dual1\" : fd67::2 . 82") == 1 && count(v6, "8083") == 0,
          "  IPv6 table: 8080 (no host address), [fd67::1]:8081, [::]:8082, not 10.67.0.1:8083");
    const std::string lo6 = in_ns(ns, [] { return run("nft list map ip6 ocinet pub_lo6"); });
    check(count(lo6, "tcp . 8084 comment \"ocinet:dual1\" : fd67::2 . 84") == 1 && count(v6, "8084") == 1 &&
              count(v4, "8084") == 0,
          "  [::1]:8084 in pub_lo6 only");
    check(count(v6, "ip6 daddr ::1 dnat ip6 to meta l4proto . th dport map @pub_lo6\n") == 1 &&
              count(v6, "ip6 saddr ::1 oifname @bridges masquerade") == 1,
          "  IPv6 table: ::1 DNAT'd through pub_lo6 alone, and masqueraded out of the bridges");
    check(count(v6, "ip6 daddr ::1 iifname @bridges ct direction original drop") == 1,
          "  IPv6 table: new connections from the bridges to ::1 dropped");
    check(count(v6, "fd67::/64 comment \"ocinet-net:dual\"") == 2 && count(v6, "\"ocd0\" comment \"ocinet-net:dual\"") == 3,
          "  IPv6 table: the network's subnet (subnets, masq_subnets) and bridge (bridges, closed_bridges, same_bridge)");
  }
  std::string why;
  const bool refused = throws(
      [&] { make_nftables_backend()->add_endpoint(net, EndpointRules{"nov6", "10.67.0.5", "ocd0", {{"fd67::1", 9, 9, "tcp"}}, ""}); },
      ErrorKind::Invalid, &why);
  check(refused, "IPv6 host address for a container without IPv6 -> Invalid: " + why);
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          auto fw = make_nftables_backend();
          fw->remove_endpoint(ep.tag);
          fw->remove_endpoint_rules(EndpointRules{"dual0", "10.67.0.9", "ocd0", {}, "fd67::9"});
          fw->remove_network(net.name, false);
          return true;
        }) == 0,
        "dual stack, confined process: remove_endpoint(tag) and remove_network");
  if (!run("command -v nft").empty()) check(in_ns(ns, [] { return run("nft list ruleset"); }).empty(), "  both tables gone");
}

// Eight hooks set up containers at once in a namespace without the table: exactly one of them
// creates it (the others get EEXIST and add their elements to it), and every one succeeds.
void concurrent_first_use(int ns) {
  constexpr int kHooks = 8;
  int go[2];
  if (pipe(go) != 0) return;
  std::fflush(stdout);
  std::vector<pid_t> pids;
  for (int i = 0; i < kHooks; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      char c;
      if (setns(ns, CLONE_NEWNET) != 0 || read(go[0], &c, 1) != 0) _exit(3);  // EOF = start
      try {
        NetworkRules net{"race" + std::to_string(i % 2), "ocrace" + std::to_string(i % 2),
                         "10.5" + std::to_string(i % 2) + ".0.0/16", false};
        make_nftables_backend()->add_endpoint(
            net, EndpointRules{"race" + std::to_string(i), "10.5" + std::to_string(i % 2) + ".0." + std::to_string(i + 2),
                               net.bridge, {{"", static_cast<uint16_t>(7000 + i), 80, "tcp"}}});
      } catch (const std::exception& e) {
        std::printf("      error: %s\n", e.what());
        std::fflush(stdout);
        _exit(1);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  close(go[0]);
  close(go[1]);
  int ok = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  check(ok == kHooks, std::to_string(ok) + " of 8 concurrent first setups succeeded");
  if (!run("command -v nft").empty()) {
    std::string s = in_ns(ns, [] { return run("nft list ruleset"); });
    check(count(s, "table ip ocinet") == 1 && count(s, "jump published") == 2 && count(s, "masquerade") == 3,
          "  one table, its rules once");
    check(count(s, "comment \"ocinet:race") == kHooks && count(s, "comment \"ocinet-net:race") == 12,
          "  every endpoint's element and both networks' elements");
  }
}

// ---------------------------------------------------------------------------------------------
// Real traffic: rules that load but do nothing would pass every check above.

sockaddr_in sockaddr_of(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

int listen_in(int ns, const std::string& ip, int port) {
  return in_ns(ns, [&] {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = sockaddr_of(ip, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  });
}

// A UDP datagram from `src` (an address of `ns`) to ip:port; returns the source the receiving
// socket `udp` saw, or "" when nothing came within timeout_ms (UDP: a forged source needs no answer).
std::string datagram_seen(int ns, const std::string& src, const std::string& ip, int port, int udp, int timeout_ms) {
  in_ns(ns, [&] {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in from = sockaddr_of(src, 0), to = sockaddr_of(ip, port);
    if (bind(s, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0)
      sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    close(s);
    return 0;
  });
  pollfd p{udp, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return "";
  char buf[16];
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  if (recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen) < 0) return "";
  char text[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
}

// Connects from `ns` and returns the client address the listener saw, or "" when the
// connection did not reach that listener within the timeout.
std::string peer_seen(int ns, const std::string& ip, int port, int listener, int timeout_ms) {
  int c = in_ns(ns, [] { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); });
  sockaddr_in a = sockaddr_of(ip, port);
  connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{c, POLLOUT, 0};
  int err = -1;
  socklen_t len = sizeof err;
  if (poll(&p, 1, timeout_ms) == 1) getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len);
  std::string seen;
  pollfd l{listener, POLLIN, 0};
  if (err == 0 && poll(&l, 1, timeout_ms) == 1) {
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    int s = accept(listener, reinterpret_cast<sockaddr*>(&peer), &plen);
    if (s >= 0) {
      char buf[INET_ADDRSTRLEN];
      seen = inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof buf);
      close(s);
    }
  }
  close(c);
  return seen;
}

// A table made by an ocinet from before localnet_bridges (same table, without that set and
// the chain using it), holding a network and a container: the next setup adds both, once,
// and keeps what was there.
void upgrade_of_an_older_table(int ns) {
  std::string out = in_ns(ns, [] {
    return run(R"(nft -f - 2>&1 <<'EOF'
table ip ocinet {
	map pub_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
	set bridges { type ifname; elements = { "ocold" comment "ocinet-net:old" } }
	set internal_bridges { type ifname; }
	set same_bridge { type ifname . ifname; elements = { "ocold" . "ocold" comment "ocinet-net:old" } }
	set subnets { type ipv4_addr; flags interval; elements = { 10.66.0.0/24 comment "ocinet-net:old" } }
	set masq_subnets { type ipv4_addr; flags interval; elements = { 10.66.0.0/24 comment "ocinet-net:old" } }
	chain published {
		dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
		dnat ip to meta l4proto . th dport map @pub_any
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump published
	}
}
EOF
nft add element ip ocinet pub_any '{ tcp . 7001 comment "ocinet:olda" : 10.66.0.2 . 80 }')");
  });
  check(out.empty(), "upgrade: an older table in place " + out);
  const bool ok = in_ns(ns, [] {
    auto fw = make_nftables_backend();
    NetworkRules old{"old", "ocold", "10.66.0.0/24", false};
    // The older container set up again first: its key is taken (by itself), so the elements
    // are replaced, on the upgraded table.
    return succeeds([&] { fw->add_endpoint(old, EndpointRules{"olda", "10.66.0.2", "ocold", {{"", 7001, 80, "tcp"}}}); }) &&
           succeeds([&] { fw->add_endpoint(old, EndpointRules{"oldb", "10.66.0.3", "ocold", {{"", 7002, 80, "tcp"}}}); }) &&
           succeeds([&] { fw->add_endpoint(old, EndpointRules{"oldc", "10.66.0.4", "ocold", {{"", 7003, 80, "tcp"}}}); });
  });
  check(ok, "upgrade: the older container set up again, then two new ones, on the older table");
  const std::string s = in_ns(ns, [] { return run("nft list table ip ocinet"); });
  check(count(s, "ip daddr 127.0.0.0/8 iifname @bridges drop") == 1 && count(s, "ip saddr 127.0.0.0/8 iifname @bridges drop") == 1 &&
            count(s, "ip daddr 127.0.0.0/8 iifname @bridges ct direction original drop") == 1,
        "upgrade: the localnet rules, once");
  const std::string lb = in_ns(ns, [] { return run("nft list set ip ocinet localnet_bridges; nft list set ip ocinet closed_bridges"); });
  check(count(lb, "\"ocold\" comment \"ocinet-net:old\"") == 2, "upgrade: ocold in localnet_bridges and closed_bridges");
  check(count(s, "oifname @bridges ct status dnat accept") == 1 && count(s, "iifname @bridges oifname @bridges drop") == 1 &&
            count(s, "\toifname @bridges drop") == 1 && count(s, "chain forward") == 1,
        "upgrade: the forward chain as a new table has it, once");
  check(count(s, "ocinet:olda") == 1 && count(s, "ocinet:oldb") == 1 && count(s, "ocinet:oldc") == 1,
        "upgrade: the older container's port kept, the new ones added");
  in_ns(ns, [] { return run("nft delete table ip ocinet"); });
}

// An ip6 table of an ocinet from before [::1] publication (no pub_lo6, ::1 left out of output,
// no ::1 masquerade or guard), holding a dual-stack network: a setup publishing on [::1] brings
// it up to date once, in its own transaction, and keeps what was there.
void upgrade_of_an_older_ip6_table(int ns) {
  std::string out = in_ns(ns, [] {
    return run(R"(nft -f - 2>&1 <<'EOF'
table ip6 ocinet {
	map pub_addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv6_addr . inet_service; elements = { tcp . 7201 comment "ocinet:v6old" : fd66::2 . 80 } }
	set bridges { type ifname; elements = { "ocold6" comment "ocinet-net:old6" } }
	set internal_bridges { type ifname; }
	set same_bridge { type ifname . ifname; elements = { "ocold6" . "ocold6" comment "ocinet-net:old6" } }
	set subnets { type ipv6_addr; flags interval; elements = { fd66::/64 comment "ocinet-net:old6" } }
	set masq_subnets { type ipv6_addr; flags interval; elements = { fd66::/64 comment "ocinet-net:old6" } }
	chain published {
		dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub_addr
		dnat ip6 to meta l4proto . th dport map @pub_any
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr != ::1 fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip6 daddr != ::1 fib daddr type local jump published
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 saddr @masq_subnets oifname != @bridges masquerade
		ct status dnat ip6 saddr @subnets oifname @bridges masquerade
	}
}
EOF
)");
  });
  check(out.empty(), "ip6 upgrade: an older ip6 table in place " + out);
  const bool ok = in_ns(ns, [] {
    auto fw = make_nftables_backend();
    NetworkRules net{"old6", "ocold6", "10.68.0.0/24", false, "fd66::/64"};
    return succeeds([&] { fw->add_endpoint(net, EndpointRules{"v6new", "10.68.0.3", "ocold6", {{"::1", 7202, 80, "tcp"}}, "fd66::3"}); }) &&
           succeeds([&] { fw->add_endpoint(net, EndpointRules{"v6nex", "10.68.0.4", "ocold6", {{"::1", 7203, 80, "tcp"}}, "fd66::4"}); });
  });
  check(ok, "ip6 upgrade: two [::1] publications on the older ip6 table");
  const std::string s = in_ns(ns, [] { return run("nft list table ip6 ocinet"); });
  check(count(s, "ip6 daddr ::1 dnat ip6 to meta l4proto . th dport map @pub_lo6\n") == 1 &&
            count(s, "ip6 daddr ::1 dnat to meta l4proto . th dport map @pub_lo6_range\n") == 1 &&
            count(s, "dnat to ip6 daddr . meta l4proto . th dport map @pub_addr_range\n") == 1 &&
            count(s, "ip6 daddr != ::1 fib daddr type local jump published") == 2 &&
            count(s, "ip6 saddr ::1 oifname @bridges masquerade") == 1 &&
            count(s, "ip6 saddr @masq_subnets oifname != @bridges masquerade") == 1 &&
            count(s, "ct status dnat ip6 saddr @subnets oifname @bridges masquerade") == 1 &&
            count(s, "ip6 daddr ::1 iifname @bridges ct direction original drop") == 1,
        "ip6 upgrade: output, postrouting and the ::1 guard as a new table has them, each once");
  check(count(s, "tcp . 7201 comment \"ocinet:v6old\" : fd66::2 . 80") == 1 &&
            count(s, "tcp . 7202 comment \"ocinet:v6new\" : fd66::3 . 80") == 1 &&
            count(s, "tcp . 7203 comment \"ocinet:v6nex\" : fd66::4 . 80") == 1,
        "ip6 upgrade: the older container's port kept, the [::1] ones in pub_lo6");
  in_ns(ns, [] { return run("nft delete table ip6 ocinet; nft delete table ip ocinet; nft delete table bridge ocinet 2>/dev/null; true"); });
}

// Port ranges. One whose container ports are its host ports is one element of a *_range map,
// DNAT'd to the address alone, however long it is; a shifted one is one element per port of the
// port-keyed maps (nft has no port offset), all in the same netlink batch. Both go the netlink
// fast path, replace themselves on a second setup, collide with each other's ports, and go away
// by key and by tag.
void ranges(int ns) {
  NetworkRules net{"rnet", "ocr0", "10.69.0.0/24", false, "fd69::/64"};
  const std::vector<PortMapping> ports = {{"", 8000, 8000, "tcp", 8999},     {"", 9000, 80, "tcp", 9009},
                                          {"10.69.0.1", 1, 1, "udp", 65535}, {"::1", 7000, 7000, "tcp", 7099},
                                          {"fd69::1", 6000, 6000, "sctp", 6009}};
  EndpointRules ep{"rng1", "10.69.0.2", "ocr0", ports, "fd69::2"};
  check(first_endpoint(ns, net, EndpointRules{"rng0", "10.69.0.9", "ocr0", {}, "fd69::9"}) == 0,
        "ranges: a network's first endpoint creates the tables");
  check(fast_path_round_trip(ns, net, ep) == 0,
        "ranges: add/remove/add of 8000-8999, 9000-9009->80-89, 10.69.0.1:1-65535/udp, [::1]:7000-7099, "
        "[fd69::1]:6000-6009/sctp without libnftables (netlink fast path)");
  auto table = [&](const char* family) {
    return in_ns(ns, [&] { return run(std::string("nft list table ") + family + " ocinet"); });
  };
  std::string v4 = table("ip"), v6 = table("ip6");
  check(count(v4, "tcp . 8000-8999 comment \"ocinet:rng1\" : 10.69.0.2") == 1 &&
            count(v4, "10.69.0.1 . udp . 1-65535 comment \"ocinet:rng1\" : 10.69.0.2") == 1,
        "ranges: IPv4, one element each for 8000-8999 and 10.69.0.1:1-65535/udp, to the address alone");
  check(count(v4, "tcp . 9000 comment \"ocinet:rng1\" : 10.69.0.2 . 80") == 1 &&
            count(v4, "tcp . 9009 comment \"ocinet:rng1\" : 10.69.0.2 . 89") == 1 && count(v4, "comment \"ocinet:rng1\"") == 12,
        "ranges: IPv4, 9000-9009->80-89 as 10 port elements (12 in all)");
  check(count(v6, "tcp . 8000-8999 comment \"ocinet:rng1\" : fd69::2") == 1 &&
            count(v6, "fd69::1 . sctp . 6000-6009 comment \"ocinet:rng1\" : fd69::2") == 1 &&
            count(v6, "tcp . 9005 comment \"ocinet:rng1\" : fd69::2 . 85") == 1 && count(v6, "comment \"ocinet:rng1\"") == 13,
        "ranges: IPv6, 8000-8999, [fd69::1]:6000-6009/sctp, [::1]:7000-7099 one element each, 9000-9009 ten");
  check(count(in_ns(ns, [] { return run("nft list map ip6 ocinet pub_lo6_range"); }),
              "tcp . 7000-7099 comment \"ocinet:rng1\" : fd69::2") == 1,
        "ranges: [::1]:7000-7099 in pub_lo6_range");

  // A second setup of the same container with another address replaces its elements.
  ep.container_ip = "10.69.0.3";
  const bool again = in_ns(ns, [&] { return succeeds([&] { make_nftables_backend()->add_endpoint(net, ep); }); });
  v4 = table("ip");
  check(again && count(v4, "tcp . 8000-8999 comment \"ocinet:rng1\" : 10.69.0.3") == 1 &&
            count(v4, "tcp . 9009 comment \"ocinet:rng1\" : 10.69.0.3 . 89") == 1 && count(v4, "10.69.0.2") == 0 &&
            count(v4, "comment \"ocinet:rng1\"") == 12,
        "ranges: setting the endpoint up again with a new address replaces every element");
  // Another endpoint's range over part of it is refused, naming the holder; nothing of it stays.
  std::string why;
  const bool refused = in_ns(ns, [&] {
    return throws(
        [&] {
          make_nftables_backend()->add_endpoint(
              net, EndpointRules{"rng2", "10.69.0.4", "ocr0", {{"", 8990, 8990, "tcp", 9100}}, "fd69::4"});
        },
        ErrorKind::Invalid, &why);
  });
  check(refused && why.find("8990-9100 is already published by ocinet:rng1") != std::string::npos,
        "ranges: an overlapping range of another endpoint -> Invalid: " + why);
  check(count(table("ip") + table("ip6"), "ocinet:rng2") == 0, "  and nothing of it stays");

  // Removal by tag alone reads the intervals back from a listing.
  check(in_ns(ns, [&] { return succeeds([&] { make_nftables_backend()->remove_endpoint("rng1"); }); }) &&
            count(table("ip") + table("ip6"), "ocinet:rng1") == 0,
        "ranges: remove_endpoint(tag) takes every element, intervals included");

  // What one more range costs: add + remove, in-process, against one port (medians of 15).
  auto cost = [&](const std::vector<PortMapping>& p) {
    return in_ns(ns, [&] {
      std::vector<long> t;
      for (int i = 0; i < 15; i++) {
        EndpointRules e{"cost", "10.69.0.5", "ocr0", p, "fd69::5"};
        auto t0 = Clock::now();
        auto fw = make_nftables_backend();
        fw->add_endpoint(net, e);
        fw->remove_endpoint_rules(e);
        fw.reset();
        t.push_back(micros(Clock::now() - t0));
      }
      return median(t);
    });
  };
  const long one = cost({{"", 5000, 5000, "tcp"}}), kept = cost({{"", 5000, 5000, "tcp", 5999}}),
             shifted = cost({{"", 5000, 80, "tcp", 5999}});
  std::printf("      info: add+remove in-process, both families: one port %ld us, 1000-port range %ld us, "
              "1000-port shifted range %ld us\n",
              one, kept, shifted);
  check(kept < 2 * one + 200, "ranges: a 1000-port range costs what one port does (" + std::to_string(kept) + " vs " +
                                  std::to_string(one) + " us)");
  check(in_ns(ns,
              [&] {
                return succeeds([&] {
                  auto fw = make_nftables_backend();
                  fw->remove_endpoint("rng0");
                  fw->remove_network(net.name, false);
                });
              }) &&
            in_ns(ns, [] { return run("nft list ruleset"); }).empty(),
        "ranges: everything removed, tables gone");
}

// A table as the release before port ranges made it (no *_range maps, two rules in
// `published`), with a container's port: the first setup publishing a range brings it up to
// date, once, and keeps what was there; closed_bridges still marks the network as set up.
void upgrade_for_ranges(int ns) {
  const std::string out = in_ns(ns, [] {
    return run(R"(nft -f - 2>&1 <<'EOF'
table ip ocinet {
	map pub_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; elements = { tcp . 7301 comment "ocinet:prev" : 10.70.0.2 . 80 } }
	set bridges { type ifname; elements = { "ocprev" comment "ocinet-net:prev" } }
	set internal_bridges { type ifname; }
	set localnet_bridges { type ifname; elements = { "ocprev" comment "ocinet-net:prev" } }
	set closed_bridges { type ifname; elements = { "ocprev" comment "ocinet-net:prev" } }
	set same_bridge { type ifname . ifname; elements = { "ocprev" . "ocprev" comment "ocinet-net:prev" } }
	set subnets { type ipv4_addr; flags interval; elements = { 10.70.0.0/24 comment "ocinet-net:prev" } }
	set masq_subnets { type ipv4_addr; flags interval; elements = { 10.70.0.0/24 comment "ocinet-net:prev" } }
	chain published {
		dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
		dnat ip to meta l4proto . th dport map @pub_any
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump published
	}
}
EOF
)");
  });
  check(out.empty(), "range upgrade: a table of the release before ranges in place " + out);
  NetworkRules prev{"prev", "ocprev", "10.70.0.0/24", false};
  const bool ok = in_ns(ns, [&] {
    auto fw = make_nftables_backend();
    return succeeds([&] { fw->add_endpoint(prev, EndpointRules{"prevb", "10.70.0.3", "ocprev", {{"", 7302, 80, "tcp"}}}); }) &&
           succeeds([&] {
             fw->add_endpoint(prev, EndpointRules{"prevc", "10.70.0.4", "ocprev", {{"", 7400, 7400, "tcp", 7499}}});
           }) &&
           succeeds([&] {
             fw->add_endpoint(prev, EndpointRules{"prevd", "10.70.0.5", "ocprev", {{"", 7500, 7500, "udp", 7599}}});
           });
  });
  check(ok, "range upgrade: a port, then two ranges, on the older table");
  const std::string s = in_ns(ns, [] { return run("nft list table ip ocinet"); });
  check(count(s, "map pub_any_range {") == 1 && count(s, "map pub_addr_range {") == 1 &&
            count(s, "dnat to meta l4proto . th dport map @pub_any_range\n") == 1 &&
            count(s, "dnat to ip daddr . meta l4proto . th dport map @pub_addr_range\n") == 1 &&
            count(s, "dnat ip to meta l4proto . th dport map @pub_any\n") == 1 &&
            count(s, "dnat ip to ip daddr . meta l4proto . th dport map @pub_addr\n") == 1,
        "range upgrade: the range maps and their rules in `published`, each once");
  check(count(s, "tcp . 7301 comment \"ocinet:prev\" : 10.70.0.2 . 80") == 1 &&
            count(s, "tcp . 7302 comment \"ocinet:prevb\" : 10.70.0.3 . 80") == 1 &&
            count(s, "tcp . 7400-7499 comment \"ocinet:prevc\" : 10.70.0.4") == 1 &&
            count(s, "udp . 7500-7599 comment \"ocinet:prevd\" : 10.70.0.5") == 1,
        "range upgrade: the older container's port kept, the new port and ranges added");
  // A record of the older container (one port, no range) still tears down; so do the others.
  const bool down = in_ns(ns, [&] {
    auto fw = make_nftables_backend();
    return succeeds([&] {
             fw->remove_endpoint_rules(EndpointRules{"prev", "10.70.0.2", "ocprev", {{"", 7301, 80, "tcp"}}});
           }) &&
           succeeds([&] {
             fw->remove_endpoint_rules(EndpointRules{"prevc", "10.70.0.4", "ocprev", {{"", 7400, 7400, "tcp", 7499}}});
           }) &&
           succeeds([&] { fw->remove_endpoint("prevb"); }) && succeeds([&] { fw->remove_endpoint("prevd"); });
  });
  check(down && count(in_ns(ns, [] { return run("nft list table ip ocinet"); }), "comment \"ocinet:") == 0,
        "range upgrade: every endpoint's elements removed again");
  in_ns(ns, [] { return run("nft delete table ip ocinet; nft delete table bridge ocinet 2>/dev/null; true"); });
}

void traffic_checks(FirewallBackend& fw) {
  const int ctr = new_netns(), client = new_netns(), other = new_netns(), rogue = new_netns();
  if (home_ns < 0 || ctr < 0 || client < 0 || other < 0 || rogue < 0) {
    check(false, "traffic: creating namespaces");
    return;
  }
  // host: bridge octr0 (10.77.0.1) with the container, bridge octr1 (10.78.0.1, internal) with
  // `other`, and an uplink (192.168.77.1) to `client`, which plays the outside world.
  sh_in(home_ns,
        "ip link set lo up; echo 1 > /proc/sys/net/ipv4/ip_forward;"
        "ip link add octr0 type bridge; ip addr add 10.77.0.1/24 dev octr0; ip link set octr0 up;"
        "echo 1 > /proc/sys/net/ipv4/conf/octr0/route_localnet;"
        "ip link add octr1 type bridge; ip addr add 10.78.0.1/24 dev octr1; ip link set octr1 up;"
        "ip link add vctr type veth peer name eth0 netns " + ns_path(ctr) + "; ip link set vctr master octr0 up;"
        // As the bridge driver does: with br_netfilter, a hairpin DNAT is bridged back out
        // of the port it came in through.
        "ip link set vctr type bridge_slave hairpin on;"
        "ip link add voth type veth peer name eth0 netns " + ns_path(other) + "; ip link set voth master octr1 up;"
        "ip link add vrog type veth peer name eth0 netns " + ns_path(rogue) + "; ip link set vrog master octr0 up;"
        "ip link add vcli type veth peer name eth0 netns " + ns_path(client) + ";"
        "ip addr add 192.168.77.1/24 dev vcli; ip link set vcli up");
  auto guest = [&](int ns, const std::string& addr, const std::string& gw) {
    sh_in(ns, "ip link set lo up; ip addr add " + addr + " dev eth0; ip link set eth0 up; ip route add default via " + gw);
  };
  guest(ctr, "10.77.0.2/24", "10.77.0.1");
  guest(other, "10.78.0.2/24", "10.78.0.1");
  guest(client, "192.168.77.2/24", "192.168.77.1");
  guest(rogue, "10.77.0.9/24", "10.77.0.1");
  // A hostile container on octr0 (where route_localnet is on): it sends packets for 127.0.0.1
  // to its gateway, after the host's services bound to loopback.
  sh_in(rogue,
        "ip link set lo down; ip addr flush dev lo; ip route add 127.0.0.0/8 via 10.77.0.1 dev eth0;"
        "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet; ip addr add 127.0.0.5/32 dev eth0");
  // A hostile neighbour: it sends packets for 127.0.0.1 to the host's MAC address.
  sh_in(client,
        "ip link set lo down; ip addr flush dev lo; ip route add 127.0.0.0/8 via 192.168.77.1 dev eth0;"
        "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet");

  NetworkRules net{"trafnet", "octr0", "10.77.0.0/24", false};
  NetworkRules inet{"trafint", "octr1", "10.78.0.0/24", true};
  EndpointRules ep{"traf1", "10.77.0.2", "octr0",
                   {{"", 8080, 80, "tcp"}, {"127.0.0.1", 8081, 80, "tcp"}, {"", 8100, 8100, "tcp", 8199}, {"", 9000, 80, "tcp", 9009}}};
  // A port-less neighbour first, so that traf1's ports go in through the netlink fast path.
  check(succeeds([&] { fw.add_endpoint(net, EndpointRules{"traf0", "10.77.0.3", "octr0", {}}); }) &&
            succeeds([&] { fw.add_endpoint(net, ep); }) &&
            succeeds([&] { fw.add_endpoint(inet, EndpointRules{"traf2", "10.78.0.2", "octr1", {}}); }),
        "traffic: endpoints on octr0 (tcp 8080->80, 127.0.0.1:8081->80, 8100-8199, 9000-9009->80-89) and on internal octr1");

  const int web = listen_in(ctr, "0.0.0.0", 80);
  const int kept = listen_in(ctr, "0.0.0.0", 8150), shifted = listen_in(ctr, "0.0.0.0", 85);
  const int outside = listen_in(client, "0.0.0.0", 9000);
  const int other_l = listen_in(other, "0.0.0.0", 80);
  const int gw_l = listen_in(home_ns, "10.78.0.1", 9100);
  const int host_lo = listen_in(home_ns, "127.0.0.1", 9200);  // a host service on loopback only
  // A host UDP service on every address (as syslog or statsd may be, trusting 127/8 sources).
  const int host_udp = in_ns(home_ns, [] {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a = sockaddr_of("0.0.0.0", 9201);
    return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? fd : (close(fd), -1);
  });
  check(web >= 0 && kept >= 0 && shifted >= 0 && outside >= 0 && other_l >= 0 && gw_l >= 0 && host_lo >= 0 && host_udp >= 0,
        "traffic: listeners");
  auto expect = [&](const std::string& what, int from, const std::string& ip, int port, int listener,
                    const std::string& want) {
    std::string seen = peer_seen(from, ip, port, listener, want.empty() ? 500 : 3000);
    check(seen == want, "traffic: " + what + (want.empty() ? " is blocked" : " arrives from " + want) +
                            (seen.empty() ? "" : " (seen from " + seen + ")"));
  };
  expect("outside client -> 192.168.77.1:8080 (prerouting DNAT)", client, "192.168.77.1", 8080, web, "192.168.77.2");
  expect("outside client -> 192.168.77.1:8150 (range 8100-8199, port kept)", client, "192.168.77.1", 8150, kept, "192.168.77.2");
  expect("outside client -> 192.168.77.1:9005 (range 9000-9009 -> 80-89)", client, "192.168.77.1", 9005, shifted, "192.168.77.2");
  expect("outside client -> 192.168.77.1:9000 (range 9000-9009 -> 80-89)", client, "192.168.77.1", 9000, web, "192.168.77.2");
  expect("host -> 10.77.0.1:8150 (range, output DNAT)", home_ns, "10.77.0.1", 8150, kept, "10.77.0.1");
  expect("container -> 192.168.77.1:8150, its own range (hairpin)", ctr, "192.168.77.1", 8150, kept, "10.77.0.1");
  expect("host -> 10.77.0.1:8080 (output DNAT)", home_ns, "10.77.0.1", 8080, web, "10.77.0.1");
  expect("host -> 127.0.0.1:8081 (loopback-published)", home_ns, "127.0.0.1", 8081, web, "10.77.0.1");
  expect("container -> 192.168.77.1:8080, its own port (hairpin)", ctr, "192.168.77.1", 8080, web, "10.77.0.1");
  expect("container -> outside (masquerade)", ctr, "192.168.77.2", 9000, outside, "192.168.77.1");
  expect("container -> container on another network (isolation)", ctr, "10.78.0.2", 80, other_l, "");
  expect("internal container -> its gateway", other, "10.78.0.1", 9100, gw_l, "10.78.0.2");
  expect("internal container -> outside", other, "192.168.77.2", 9000, outside, "");
  expect("internal container -> container on another network", other, "10.77.0.2", 80, web, "");
  expect("outside client -> 192.168.77.1:8081 (published on 127.0.0.1 only)", client, "192.168.77.1", 8081, web, "");
  expect("outside client -> 127.0.0.1:8081 routed to the host", client, "127.0.0.1", 8081, web, "");
  expect("container -> the host's 127.0.0.1:9200 through its gateway (route_localnet bridge)", rogue, "127.0.0.1", 9200,
         host_lo, "");
  check(datagram_seen(rogue, "127.0.0.5", "10.77.0.1", 9201, host_udp, 500).empty(),
        "traffic: a container's datagram from a forged 127.0.0.5 to the host's UDP service is dropped");
  check(datagram_seen(rogue, "10.77.0.9", "10.77.0.1", 9201, host_udp, 3000) == "10.77.0.9",
        "traffic: control, the same datagram from its own address arrives");

  check(succeeds([&] { fw.remove_endpoint_rules(ep); }), "traffic: remove_endpoint_rules traf1");
  expect("after removal, outside client -> 192.168.77.1:8080", client, "192.168.77.1", 8080, web, "");
  expect("after removal, outside client -> 192.168.77.1:8150", client, "192.168.77.1", 8150, kept, "");
  expect("after removal, outside client -> 192.168.77.1:9005", client, "192.168.77.1", 9005, shifted, "");
  check(succeeds([&] { fw.remove_endpoint("traf2"); }) && succeeds([&] { fw.remove_endpoint("traf0"); }) &&
            succeeds([&] { fw.remove_network("trafnet", false); }) &&
            succeeds([&] { fw.remove_network("trafint", false); }),
        "traffic: remove the rest");
  // Control: with ocinet's rules gone and route_localnet still on, the same packets get in.
  expect("control, no ocinet rules: container -> the host's 127.0.0.1:9200", rogue, "127.0.0.1", 9200, host_lo,
         "10.77.0.9");
  check(datagram_seen(rogue, "127.0.0.5", "10.77.0.1", 9201, host_udp, 3000) == "127.0.0.5",
        "traffic: control, no ocinet rules: the forged 127.0.0.5 datagram arrives");

  for (int fd : {web, kept, shifted, outside, other_l, gw_l, host_lo, host_udp, ctr, client, other, rogue}) close(fd);
  // The veths went with their namespaces.
  sh_in(home_ns, "ip link del octr0; ip link del octr1");
}

// Beside another manager's FORWARD chain with policy DROP (foreign_forward.h), written through
// `tool` (iptables-nft: nf_tables `ip filter`/`ip6 filter`; iptables-legacy: x_tables): a
// network's first endpoint puts the network's accepts there, in IPv6 too for a dual-stack network;
// a container on a set-up network adds nothing and loads no library; remove_network takes out
// exactly those. All in confined processes, as the hook runs the backend.
void other_managers_forward(int ns, const std::string& tool) {
  const std::string tool6 = "ip6" + tool.substr(2);
  const std::string saves = tool + "-save 2>&1 | grep -v '^#'; " + tool6 + "-save 2>&1 | grep -v '^#'";
  sh_in(ns, tool + " -w -P FORWARD DROP; " + tool + " -w -A FORWARD -s 192.0.2.0/24 -j ACCEPT; " + tool6 +
                " -w -P FORWARD DROP");
  const std::string before = in_ns(ns, [&] { return run(saves); });
  NetworkRules dual{"fwdnet", "ocfw0", "10.69.0.0/24", false, "fd69::/64"};
  NetworkRules internal{"fwdint", "ocfw1", "10.70.0.0/24", true};
  EndpointRules ep1{"fwd1", "10.69.0.2", "ocfw0", {{"", 8080, 80, "tcp"}}, "fd69::2"};
  EndpointRules ep2{"fwd2", "10.69.0.3", "ocfw0", {{"", 8081, 80, "tcp"}}, "fd69::3"};
  EndpointRules ep3{"fwd3", "10.70.0.2", "ocfw1", {}, "", "vfwd3"};
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          auto fw = make_nftables_backend();
          fw->add_endpoint(dual, ep1);
          fw->add_endpoint(internal, ep3);
          return true;
        }) == 0,
        tool + ", confined process: the first endpoints of a dual-stack and an internal network");
  in_ns(ns, [&] {
    check_forward_accepts(tool, "ocfw0", "fwdnet", false);
    check_forward_accepts(tool6, "ocfw0", "fwdnet", false);
    check_forward_accepts(tool, "ocfw1", "fwdint", true);
    const std::string v4 = forward_rules(tool), v6 = forward_rules(tool6);
    const std::string other = "\n-A FORWARD -s 192.0.2.0/24 -j ACCEPT\n";
    check(v4.rfind("-P FORWARD DROP\n", 0) == 0 && v4.size() > other.size() &&
              v4.compare(v4.size() - other.size(), other.size(), other) == 0,
          tool + ": policy still DROP, the other rule kept, after ocinet's");
    check(v6.find("ocinet-net:fwdint") == std::string::npos, tool6 + ": nothing of the IPv4-only network");
    check(run(saves).find("incompatible") == std::string::npos, tool + "-save reads every table");
    return 0;
  });
  const std::string chain = in_ns(ns, [&] { return run(tool + " -w -S FORWARD; " + tool6 + " -w -S FORWARD"); });
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          make_nftables_backend()->add_endpoint(dual, ep2);
          return !libnftables_loaded();
        }) == 0,
        tool + ", confined process: a second endpoint on the set-up network loads no library");
  check(in_ns(ns, [&] { return run(tool + " -w -S FORWARD; " + tool6 + " -w -S FORWARD"); }) == chain,
        tool + ": a second endpoint changes nothing in FORWARD");
  check(in_child(ns, [&] {
          if (!confine_hook()) return false;
          auto fw = make_nftables_backend();
          for (const EndpointRules* e : {&ep1, &ep2, &ep3}) fw->remove_endpoint_rules(*e);
          fw->remove_network(dual.name, false);
          fw->remove_network(internal.name, false);
          return true;
        }) == 0,
        tool + ", confined process: remove the endpoints and networks");
  check(in_ns(ns, [&] { return run(saves); }) == before, tool + ": after remove_network every table is as before");
  check(in_ns(ns, [&] { return run("nft list tables"); }).find("ocinet") == std::string::npos, "  and ocinet's tables are gone");
}

// Where no other manager has a FORWARD chain, ocinet creates none: no nf_tables `filter` table,
// no x_tables table (opening one would create it).
void no_other_manager(int ns) {
  NetworkRules dual{"fwdnone", "ocfw2", "10.71.0.0/24", false, "fd71::/64"};
  check(in_child(ns, [&] {
          auto fw = make_nftables_backend();
          fw->add_endpoint(dual, EndpointRules{"fwn1", "10.71.0.2", "ocfw2", {}, "fd71::2"});
          fw->remove_network(dual.name, true);
          return true;
        }) == 0,
        "no other manager: a network's first endpoint and remove_network");
  in_ns(ns, [&] {
    check(run("nft list tables").find("filter") == std::string::npos, "  no nf_tables filter table made");
    check(run("cat /proc/net/ip_tables_names /proc/net/ip6_tables_names 2>/dev/null").empty(), "  no x_tables table made");
    run("nft flush ruleset");
    return 0;
  });
}

}  // namespace

int main() {
  if (geteuid() != 0) {
    std::printf("SKIP: needs root\n");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::printf("SKIP: unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
    return 77;
  }
  {
    auto t0 = Clock::now();
    bool ok = nftables_available();
    for (int i = 0; i < 999; ++i) ok = nftables_available() && ok;
    long per_call = micros(Clock::now() - t0) / 1000;
    if (!ok) {
      std::printf("SKIP: the kernel does not answer nf_tables requests\n");
      return 77;
    }
    check(per_call < 200, "nftables_available() is cheap: " + std::to_string(per_call) + " us per call");
  }
  const bool have_nft = !run("command -v nft").empty();
  if (!have_nft) std::printf("note: no nft binary, ruleset checks are skipped\n");

  home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  {
    const int scratch = new_netns();
    hook_like_processes(scratch);
    close(scratch);
  }
  {
    const int scratch = new_netns();
    dual_stack_processes(scratch);
    close(scratch);
  }
  {
    const int scratch = new_netns();
    concurrent_first_use(scratch);
    close(scratch);
  }
  // Before anything here loads libnftables in this process (the children would inherit it).
  if (have_nft) {
    for (const char* tool : {"iptables-nft", "iptables-legacy"}) {
      if (run(std::string("command -v ") + tool).empty()) {
        std::printf("note: no %s, FORWARD beside it is not checked\n", tool);
        continue;
      }
      const int scratch = new_netns();
      other_managers_forward(scratch, tool);
      close(scratch);
    }
    const int scratch = new_netns();
    no_other_manager(scratch);
    close(scratch);
  }
  // Its fast-path checks run in children before it loads libnftables here itself (a second
  // setup with other addresses, a refused overlap): it comes after every test that checks no
  // child loads the library.
  if (have_nft) {
    const int scratch = new_netns();
    ranges(scratch);
    close(scratch);
  }

  if (have_nft) {
    const int scratch = new_netns();
    upgrade_of_an_older_table(scratch);
    close(scratch);
  }
  if (have_nft) {
    const int scratch = new_netns();
    upgrade_of_an_older_ip6_table(scratch);
    close(scratch);
  }
  if (have_nft) {
    const int scratch = new_netns();
    upgrade_for_ranges(scratch);
    close(scratch);
  }

  auto fw = make_nftables_backend();
  check(std::string(fw->name()) == "nftables", "name() is nftables");

  NetworkRules net{"testnet", "ocinet0", "172.17.0.0/16", false};
  EndpointRules ep1{"abc123", "172.17.0.2", "ocinet0", {{"", 8080, 80, "tcp"}, {"127.0.0.1", 5353, 53, "udp"}}};

  // An empty namespace: nothing to remove is success, and nothing gets created.
  check(succeeds([&] { fw->remove_endpoint("abc123"); }), "remove_endpoint on an empty netns");
  check(succeeds([&] { fw->remove_endpoint_rules(ep1); }), "remove_endpoint_rules on an empty netns");
  check(succeeds([&] { fw->remove_network("testnet", false); }), "remove_network on an empty netns");
  if (have_nft) check(ruleset().empty(), "removal created nothing");

  // Someone else's table must survive everything below untouched.
  run("nft add table inet foreign; nft add set inet foreign s '{ type ipv4_addr; }';"
      "nft add element inet foreign s '{ 10.0.0.1 }';"
      "nft add chain inet foreign fw_chain '{ type filter hook forward priority 0; policy accept; }';"
      "nft add rule inet foreign fw_chain ip daddr @s drop");
  const std::string foreign = run("nft list table inet foreign");

  check(succeeds([&] { fw->add_endpoint(net, ep1); }), "add_endpoint abc123 (tcp 8080->80, udp 127.0.0.1:5353->53), first use");
  if (have_nft) {
    std::string s = ruleset();
    check_has(s, "table ip ocinet {");
    check_has(s, "tcp . 8080 comment \"ocinet:abc123\" : 172.17.0.2 . 80");
    check_has(s, "127.0.0.1 . udp . 5353 comment \"ocinet:abc123\" : 172.17.0.2 . 53");
    check(count(run("nft list set ip ocinet bridges"), "\"ocinet0\" comment \"ocinet-net:testnet\"") == 1,
          "bridges has ocinet0 with its comment");
    check_has(s, "\"ocinet0\" . \"ocinet0\" comment \"ocinet-net:testnet\"");
    check(count(s, "172.17.0.0/16 comment \"ocinet-net:testnet\"") == 2, "subnet in subnets and masq_subnets");
    check_has(s, "ip daddr != 127.0.0.0/8 fib daddr type local jump published");
    check(count(s, "fib daddr type local jump published") == 2, "prerouting and output jump to published");
    check_has(s, "dnat ip to ip daddr . meta l4proto . th dport map @pub_addr\n");
    check_has(s, "dnat ip to meta l4proto . th dport map @pub_any\n");
    check_has(s, "dnat to ip daddr . meta l4proto . th dport map @pub_addr_range\n");
    check_has(s, "dnat to meta l4proto . th dport map @pub_any_range\n");
    check_has(s, "ip saddr @masq_subnets oifname != @bridges masquerade");
    check_has(s, "ct status dnat ip saddr @subnets oifname @bridges masquerade");
    check_has(s, "iifname @bridges oifname @bridges drop");
    check_has(s, "ip daddr 127.0.0.0/8 iifname @bridges drop");
    check_has(s, "ip saddr 127.0.0.0/8 iifname @bridges drop");
    check_has(s, "ip daddr 127.0.0.0/8 iifname @bridges ct direction original drop");
    check_has(s, "type filter hook prerouting priority raw; policy accept;");
    check(count(run("nft list set ip ocinet localnet_bridges"), "\"ocinet0\" comment \"ocinet-net:testnet\"") == 1,
          "localnet_bridges has ocinet0 with its comment");
  }

  // Second endpoint on the same network: only its own elements are new.
  const std::string rules_before = run("nft -a list chain ip ocinet forward; nft -a list chain ip ocinet postrouting");
  EndpointRules ep2{"def456", "172.17.0.3", "ocinet0",
                    {{"0.0.0.0", 8081, 81, "tcp"}, {"", 9999, 99, "sctp"}, {"127.0.0.1", 5354, 54, "udp"}}};
  check(succeeds([&] { fw->add_endpoint(net, ep2); }),
        "add_endpoint def456 (tcp 0.0.0.0:8081->81, sctp 9999->99, udp 127.0.0.1:5354->54)");
  if (have_nft) {
    std::string s = ruleset();
    check_has(s, "tcp . 8081 comment \"ocinet:def456\" : 172.17.0.3 . 81");
    check_has(s, "sctp . 9999 comment \"ocinet:def456\" : 172.17.0.3 . 99");
    check_has(s, "127.0.0.1 . udp . 5354 comment \"ocinet:def456\" : 172.17.0.3 . 54");
    check_has(s, "tcp . 8080 comment \"ocinet:abc123\" : 172.17.0.2 . 80");
    check(count(s, "comment \"ocinet-net:testnet\"") == 6, "network elements not duplicated");
    check(run("nft -a list chain ip ocinet forward; nft -a list chain ip ocinet postrouting") == rules_before,
          "no rule added or changed");
  }

  // Setting up the same endpoint again replaces its elements rather than failing or stacking.
  ep1.container_ip = "172.17.0.4";
  check(succeeds([&] { fw->add_endpoint(net, ep1); }), "add_endpoint abc123 again with a new address");
  check(succeeds([&] { fw->add_endpoint(net, ep1); }), "add_endpoint abc123 a third time, unchanged");
  if (have_nft) {
    std::string s = ruleset();
    check_has(s, "tcp . 8080 comment \"ocinet:abc123\" : 172.17.0.4 . 80");
    check_has(s, "127.0.0.1 . udp . 5353 comment \"ocinet:abc123\" : 172.17.0.4 . 53");
    check_lacks(s, "172.17.0.2 .");
  }

  // A key another endpoint holds is a conflict, and nothing of the call stays.
  {
    EndpointRules clash{"xyz999", "172.17.0.9", "ocinet0", {{"", 7777, 77, "tcp"}, {"", 8080, 80, "tcp"}}};
    std::string why;
    const bool refused = throws([&] { fw->add_endpoint(net, clash); }, ErrorKind::Invalid, &why);
    check(refused, "port held by abc123 -> Invalid: " + why);
    if (have_nft) {
      std::string s = ruleset();
      check_lacks(s, "ocinet:xyz999");
      check_has(s, "tcp . 8080 comment \"ocinet:abc123\" : 172.17.0.4 . 80");
    }
  }

  // A refusal by the kernel (an overlapping subnet) is a System error, and the endpoint's
  // elements, in the same transaction, are not left behind.
  {
    NetworkRules overlap{"overlap", "ocinet9", "172.16.0.0/12", false};
    std::string why;
    const bool refused = throws(
        [&] { fw->add_endpoint(overlap, EndpointRules{"ovl1", "172.16.0.2", "ocinet9", {{"", 6000, 60, "tcp"}}}); },
        ErrorKind::System, &why);
    check(refused, "overlapping subnet -> System: " + why);
    check(why.rfind("firewall: adding endpoint ovl1: ", 0) == 0 && why.find('\n') == std::string::npos,
          "  the message is one line naming the call");
    if (have_nft) {
      std::string s = ruleset();
      check_lacks(s, "ocinet:ovl1");
      check_lacks(s, "ocinet-net:overlap");
    }
  }

  // Invalid requests are refused before the kernel sees anything, injection attempts included.
  {
    const std::string before = have_nft ? ruleset() : "";
    EndpointRules bad{"bad1", "172.17.0.300", "ocinet0", {}};
    auto invalid = [&](const NetworkRules& n, const EndpointRules& e, const std::string& what) {
      check(throws([&] { fw->add_endpoint(n, e); }, ErrorKind::Invalid), what + " -> Invalid");
    };
    invalid(net, bad, "bad container address");
    bad.container_ip = "172.17.0.5";
    bad.ports = {{"::1", 8082, 82, "tcp"}};
    invalid(net, bad, "non-IPv4 host address");
    bad.ports = {{"1.2.3.4 . 6 . 1 : 1.1.1.1 . 1 } ; flush ruleset ; add element ip ocinet pub_addr { 1.2.3.4", 8082, 82, "tcp"}};
    invalid(net, bad, "host address carrying nft syntax");
    bad.ports = {{"", 8082, 82, "icmp"}};
    invalid(net, bad, "unknown protocol");
    bad.ports = {{"", 0, 82, "tcp"}};
    invalid(net, bad, "host port 0");
    bad.ports = {};
    bad.tag = "a b";
    invalid(net, bad, "tag with a space");
    bad.tag = "a\" } ; flush ruleset ; #";
    invalid(net, bad, "tag with a quote");
    bad.tag = std::string(200, 'a');
    invalid(net, bad, "over-long tag");
    bad.tag = "bad1";
    NetworkRules badnet = net;
    badnet.subnet = "172.17.0.0/33";
    invalid(badnet, bad, "bad subnet");
    badnet = net;
    badnet.bridge = "averyveryverylongbridge";
    invalid(badnet, bad, "over-long bridge name");
    badnet.bridge = "oc\"0";
    invalid(badnet, bad, "bridge name with a quote");
    badnet.bridge = "oc*";
    invalid(badnet, bad, "bridge name with a wildcard");
    badnet = net;
    badnet.name = "test net";
    invalid(badnet, bad, "network name with a space");
    check(throws([&] { fw->remove_endpoint("x;y"); }, ErrorKind::Invalid), "remove_endpoint with a bad tag -> Invalid");
    check(throws([&] { fw->remove_network("x\"y", false); }, ErrorKind::Invalid), "remove_network with a bad name -> Invalid");
    if (have_nft) check(ruleset() == before, "refused requests changed nothing");
  }

  // An internal network: no masquerade, and its bridge is marked internal.
  NetworkRules inet{"intnet", "ocinet1", "10.99.0.0/24", true};
  EndpointRules ep3{"ghi789", "10.99.0.2", "ocinet1", {}};
  check(succeeds([&] { fw->add_endpoint(inet, ep3); }), "add_endpoint on an internal network, no ports");
  if (have_nft) {
    auto in_set = [](const char* set, const std::string& elem) {
      return count(run(std::string("nft list set ip ocinet ") + set), elem + " comment \"ocinet-net:intnet\"") == 1;
    };
    check(in_set("subnets", "10.99.0.0/24") && !in_set("masq_subnets", "10.99.0.0/24"),
          "internal: subnet in subnets, not in masq_subnets");
    check(in_set("bridges", "\"ocinet1\"") && in_set("internal_bridges", "\"ocinet1\""),
          "internal: bridge in bridges and internal_bridges");
  }

  // Removal by the record's keys takes exactly that endpoint's elements.
  check(succeeds([&] { fw->remove_endpoint_rules(ep1); }), "remove_endpoint_rules abc123");
  if (have_nft) {
    std::string s = ruleset();
    check_lacks(s, "ocinet:abc123");
    check(count(s, "ocinet:def456") == 3, "def456 elements kept");
    check(count(s, "comment \"ocinet-net:testnet\"") == 6, "testnet elements kept");
  }
  check(succeeds([&] { fw->remove_endpoint_rules(ep1); }), "remove_endpoint_rules abc123 a second time");
  check(succeeds([&] { fw->remove_endpoint("abc123"); }), "remove_endpoint abc123 after that");

  // A record whose key is now another endpoint's must not take that endpoint's element.
  {
    EndpointRules now{"new111", "172.17.0.7", "ocinet0", {{"", 8080, 80, "tcp"}}};
    EndpointRules old{"old000", "172.17.0.6", "ocinet0", {{"", 8080, 80, "tcp"}, {"", 8082, 82, "tcp"}}};
    check(succeeds([&] { fw->add_endpoint(net, now); }), "add_endpoint new111 (tcp 8080)");
    check(succeeds([&] { fw->remove_endpoint_rules(old); }), "remove_endpoint_rules of a stale record for the same key");
    if (have_nft) check_has(ruleset(), "tcp . 8080 comment \"ocinet:new111\" : 172.17.0.7 . 80");
    check(succeeds([&] { fw->remove_endpoint_rules(now); }), "remove_endpoint_rules new111");
  }

  // Removal by tag only (no record): the comment decides, a prefix is a different tag.
  check(succeeds([&] { fw->remove_endpoint("def45"); }), "remove_endpoint def45 (prefix of def456)");
  if (have_nft) check(count(ruleset(), "ocinet:def456") == 3, "def456 survives removal of a prefix tag");
  check(succeeds([&] { fw->remove_endpoint("def456"); }), "remove_endpoint def456");
  check(succeeds([&] { fw->remove_endpoint("def456"); }), "remove_endpoint def456 a second time");
  if (have_nft) check_lacks(ruleset(), "ocinet:def456");

  check(succeeds([&] { fw->remove_network("testnet", false); }), "remove_network testnet");
  check(succeeds([&] { fw->remove_network("testnet", false); }), "remove_network testnet a second time");
  if (have_nft) {
    std::string s = ruleset();
    check_lacks(s, "ocinet-net:testnet");
    check(count(s, "ocinet-net:intnet") == 6, "intnet elements kept");
  }
  check(succeeds([&] { fw->remove_network("intnet", false); }), "remove_network intnet");
  check(succeeds([&] { fw->remove_endpoint("ghi789"); }), "remove_endpoint ghi789 (had no elements)");

  // Scale: the cost of one more container stays flat.
  {
    NetworkRules big{"scale", "ocscale", "172.18.0.0/16", false};
    auto endpoint = [](int i) {
      char ip[32];
      std::snprintf(ip, sizeof ip, "172.18.%d.%d", 1 + i / 250, 1 + i % 250);
      return EndpointRules{"s" + std::to_string(i), ip, "ocscale", {{"", static_cast<uint16_t>(20000 + i), 80, "tcp"}}};
    };
    auto timed_add = [&](int i) {
      auto t0 = Clock::now();
      fw->add_endpoint(big, endpoint(i));
      return micros(Clock::now() - t0);
    };
    bool ok = succeeds([&] {
      std::vector<long> first, last;
      for (int i = 0; i < 1000; ++i) {
        long us = timed_add(i);
        if (i < 10) first.push_back(us);
      }
      for (int i = 1000; i < 1010; ++i) last.push_back(timed_add(i));
      long f = median(first), l = median(last);
      check(l < 3 * f, "add at 1000 endpoints costs " + std::to_string(l) + " us, the first ones " + std::to_string(f) +
                           " us (median of 10)");
      auto t0 = Clock::now();
      fw->remove_endpoint_rules(endpoint(500));
      long by_key = micros(Clock::now() - t0);
      t0 = Clock::now();
      fw->remove_endpoint("s501");
      long by_tag = micros(Clock::now() - t0);
      std::printf("      info: at 1000 endpoints, remove_endpoint_rules %ld us, remove_endpoint(tag) %ld us\n", by_key, by_tag);
    });
    check(ok, "1010 endpoints added and two removed");
    if (have_nft) check(count(ruleset(), "comment \"ocinet:s") == 1008, "1008 endpoint elements listed");
    check(succeeds([&] {
            for (int i = 0; i < 1010; ++i) fw->remove_endpoint_rules(endpoint(i));
            fw->remove_network(big.name, true);
          }),
          "all removed again, the last network with tables_in_use");
    if (have_nft) {
      // Containers on other networks (the caller saw their leases): the table stays for them,
      // although no element is left in it; without them it goes.
      check_has(run("nft list tables"), "table ip ocinet");
      check(succeeds([&] { fw->remove_network(big.name, false); }), "remove_network of the last network again");
      check_lacks(run("nft list tables"), "table ip ocinet");
    }
  }

  traffic_checks(*fw);

  if (have_nft) {
    std::string s = ruleset();
    check(count(s, "comment \"ocinet") == 0, "no ocinet element left");
    check(run("nft list table inet foreign") == foreign, "the foreign table is untouched");
  }

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
