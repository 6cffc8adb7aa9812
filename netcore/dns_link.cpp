#include "netcore/dns_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dns/control.h"
#include "netcore/dns_feed.h"
#include "base/error.h"
#include "netcore/networks.h"

namespace ocinet {
namespace {

struct Link {
  UniqueFd conn;      // to the server, or to the launcher's server-to-be (a socketpair)
  UniqueFd launch;    // write end of the launcher's pipe; one byte execs the server
  std::string server, run_dir, lib_dir;
};
Link& link() {
  static Link l;
  return l;
}

UniqueFd connect_control(const std::string& run_dir) { return UniqueFd(dns_control_connect(run_dir)); }

bool send_message(int fd, const std::string& op, const std::string& id, const int* fds, int nfds) {
  return dns_send(fd, op, id, fds, nfds);
}

// In a child, first thing: stdio on /dev/null. A runtime waits for the hook's pipes to close,
// so nothing that may outlive the hook may hold them.
void detach_stdio() {
  int null = ::open("/dev/null", O_RDWR);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(null, 2) < 0) _exit(0);
}

// Descriptors from `keep_below` on closed, a session of its own, then the server.
[[noreturn]] void exec_server(const std::vector<std::string>& argv, unsigned keep_below) {
  ::close_range(keep_below, ~0U, 0);
  ::setsid();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  _exit(127);
}

// The launcher: forked before the hook confines itself, so it may still exec. It holds the
// server's end of the socketpair as fd 3 and waits for one byte; end of file (the hook is done
// and needed no server) makes it exit.
[[noreturn]] void run_launcher(int server_end, int pipe_in, const std::vector<std::string>& argv) {
  detach_stdio();
  int high = ::fcntl(server_end, F_DUPFD, 10), go = ::fcntl(pipe_in, F_DUPFD, 10);
  if (high < 0 || go < 0 || ::dup2(high, 3) != 3 || ::dup2(go, 4) != 4) _exit(0);
  // Everything else goes now, the pipe's write end (inherited by the fork) above all: held
  // here, it would keep the end of file from ever coming, and the launcher would wait forever.
  ::close_range(5, ~0U, 0);
  char c;
  ssize_t n;
  while ((n = ::read(4, &c, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) _exit(0);
  exec_server(argv, 4);
}

std::vector<std::string> server_argv(const Link& l, bool client_fd) {
  std::vector<std::string> a{l.server};
  if (client_fd) a.insert(a.end(), {"--client-fd", "3"});
  a.insert(a.end(), {"--run-dir", l.run_dir, "--lib-dir", l.lib_dir});
  return a;
}

// The CLI's way (it is not confined): fork twice so that the server is nobody's child here.
bool spawn_server(const Link& l) {
  if (l.server.empty()) return false;
  const std::vector<std::string> argv = server_argv(l, false);
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::fork() != 0) _exit(0);
    detach_stdio();
    exec_server(argv, 3);
  }
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return true;
}

UniqueFd bound_socket(int type, const char* what) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) fail_system("name server: " + std::string(what) + " socket", errno);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (type == SOCK_DGRAM) enlarge_receive_buffer(fd.get());
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  sa.sin_addr.s_addr = htonl(0x7f00000b);  // 127.0.0.11, Docker's address for it
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    fail_system("name server: binding " + std::string(what) + " 127.0.0.11:53 in the container's netns", errno);
  return fd;
}

}  // namespace

void dns_prepare(const std::string& run_dir, const std::string& lib_dir, bool may_launch, const std::string& server_path) {
  Link& l = link();
  l.server = server_path;
  l.run_dir = run_dir;
  l.lib_dir = lib_dir;
  l.conn = connect_control(run_dir);
  if (l.conn || !may_launch || server_path.empty() || !Networks::user_networks_exist(Paths{run_dir, lib_dir})) return;
  int pair[2], pipefd[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return;
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    ::close(pair[0]);
    ::close(pair[1]);
    return;
  }
  const std::vector<std::string> argv = server_argv(l, true);
  pid_t pid = ::fork();
  if (pid == 0) run_launcher(pair[1], pipefd[0], argv);
  ::close(pair[1]);
  ::close(pipefd[0]);
  if (pid < 0) {
    ::close(pair[0]);
    ::close(pipefd[1]);
    return;
  }
  l.conn = UniqueFd(pair[0]);
  l.launch = UniqueFd(pipefd[1]);
}

void enlarge_receive_buffer(int fd) {
  const int size = kDnsReceiveBuffer;
  // FORCE passes net.core.rmem_max (root here); else as much of it as rmem_max allows.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

DnsSockets open_dns_sockets() {
  DnsSockets s;
  s.udp = bound_socket(SOCK_DGRAM, "UDP");
  s.tcp = bound_socket(SOCK_STREAM, "TCP");
  if (::listen(s.tcp.get(), 64) != 0) fail_system("name server: listening on 127.0.0.11:53 (TCP)", errno);
  return s;
}

bool dns_add(const std::string& id, DnsSockets& sockets) {
  Link& l = link();
  if (!l.conn) l.conn = connect_control(l.run_dir);
  if (!l.conn) return false;
  const int fds[2] = {sockets.udp.get(), sockets.tcp.get()};
  if (!send_message(l.conn.get(), "add", id, fds, 2)) return false;
  if (l.launch) {  // the message waits in the socketpair for the server this starts
    const char go = 1;
    bool ok = ::write(l.launch.get(), &go, 1) == 1;
    l.launch = UniqueFd();
    return ok;
  }
  return true;
}

bool dns_notify(const std::string& run_dir, const std::string& lib_dir, const std::string& op, const std::string& id) {
  Link& l = link();
  if (l.run_dir.empty()) {  // the CLI: no dns_prepare
    l.run_dir = run_dir;
    l.lib_dir = lib_dir;
    l.server = dns_server_beside_self();
  }
  if (!l.conn) l.conn = connect_control(run_dir);
  if (!l.conn) return op == "update" && spawn_server(l);  // its start-up reads every record
  return send_message(l.conn.get(), op, id, nullptr, 0);
}

std::string dns_server_beside_self() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, size_t(n));
  auto slash = self.rfind('/');
  return slash == std::string::npos ? "" : self.substr(0, slash) + "/ocinet-dns";
}

}  // namespace ocinet
