#include "dns/listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "netcore/dns_link.h"

namespace ocinet::dns {

namespace {

constexpr const char* kServerAddress = "127.0.0.11";
constexpr uint16_t kServerPort = 53;

sockaddr_in server_address() {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kServerPort);
  ::inet_pton(AF_INET, kServerAddress, &sa.sin_addr);
  return sa;
}

UniqueFd bound_socket(int type, std::string* why) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  sockaddr_in sa = server_address();
  if (fd && type == SOCK_DGRAM) enlarge_receive_buffer(fd.get());  // as the hook's (dns_link.h says why)
  if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (type == SOCK_STREAM && ::listen(fd.get(), 64) != 0)) {
    *why = std::string(type == SOCK_STREAM ? "tcp" : "udp") + " 127.0.0.11:53: " + std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

int sockopt(int fd, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0 ? v : -1;
}

bool is_server_socket(int fd, int type) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  sockaddr_in want = server_address();
  if (sockopt(fd, SO_DOMAIN) != AF_INET || sockopt(fd, SO_TYPE) != type) return false;
  if (type == SOCK_STREAM && sockopt(fd, SO_ACCEPTCONN) != 1) return false;
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 && sa.sin_port == want.sin_port &&
         sa.sin_addr.s_addr == want.sin_addr.s_addr;
}

std::string socket_netns(int fd) {
  UniqueFd ns(::ioctl(fd, SIOCGSKNS));
  return ns ? ns_identity(ns.get()) : "";
}

}  // namespace

std::string ns_identity(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::optional<Listeners> listen_in_netns(const std::string& path, const std::string& netns_id, int host_ns,
                                         std::string* why) {
  // O_NONBLOCK: a record naming a FIFO must not hang the server.
  UniqueFd ns(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!ns) {
    *why = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string id = ns_identity(ns.get());
  if (id.empty() || id != netns_id) {
    *why = path + " is no longer the container's netns";
    return std::nullopt;
  }
  if (id == ns_identity(host_ns)) {
    *why = path + " is the server's own netns";
    return std::nullopt;
  }
  if (::setns(ns.get(), CLONE_NEWNET) != 0) {
    *why = "entering " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  Listeners l;
  l.udp = bound_socket(SOCK_DGRAM, why);
  if (l.udp) l.tcp = bound_socket(SOCK_STREAM, why);
  if (::setns(host_ns, CLONE_NEWNET) != 0) {
    spdlog::critical("cannot return to the host network namespace: {}", std::strerror(errno));
    std::abort();
  }
  if (!l.udp || !l.tcp) return std::nullopt;
  return l;
}

bool check_handed_sockets(const Listeners& l, const std::string& netns_id, std::string* why) {
  if (!is_server_socket(l.udp.get(), SOCK_DGRAM) || !is_server_socket(l.tcp.get(), SOCK_STREAM)) {
    *why = "the sockets are not UDP and listening TCP on 127.0.0.11:53";
    return false;
  }
  if (socket_netns(l.udp.get()) != netns_id || socket_netns(l.tcp.get()) != netns_id) {
    *why = "the sockets are not in the container's netns " + netns_id;
    return false;
  }
  for (int fd : {l.udp.get(), l.tcp.get()}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return true;
}

}  // namespace ocinet::dns
