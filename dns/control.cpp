#include "dns/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "config/validate.h"

namespace ocinet::dns {

std::string control_dir(const std::string& run_dir) { return run_dir + "/dns"; }
std::string control_path(const std::string& run_dir) { return control_dir(run_dir) + "/control.sock"; }
std::string lock_path(const std::string& run_dir) { return control_dir(run_dir) + "/server.lock"; }

std::optional<ControlMessage> parse_control(const char* data, size_t len, std::string* why) {
  if (len == 0 || len > kMaxControlMessage) {
    *why = "message of " + std::to_string(len) + " bytes";
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(data, data + len, nullptr, false);
  if (!j.is_object() || !j.contains("op") || !j["op"].is_string()) {
    *why = "not a JSON object with an \"op\"";
    return std::nullopt;
  }
  ControlMessage m;
  m.op = j["op"].get<std::string>();
  if (m.op.size() > 32 || has_control_chars(m.op)) {
    *why = "bad op";
    return std::nullopt;
  }
  if (m.op == "add" || m.op == "update" || m.op == "remove") {
    auto id = j.find("id");
    if (id == j.end() || !id->is_string() || !is_valid_name(id->get<std::string>(), kMaxLegacyIdLen)) {
      *why = "op " + m.op + " without a valid id";
      return std::nullopt;
    }
    m.id = id->get<std::string>();
  } else if (m.op == "remote") {
    auto net = j.find("network");
    if (net == j.end() || !net->is_string() || !is_valid_name(net->get<std::string>())) {
      *why = "op remote without a valid network";
      return std::nullopt;
    }
    m.network = net->get<std::string>();
  }
  return m;
}

}  // namespace ocinet::dns

namespace ocinet {

namespace {

bool unix_address(const std::string& path, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (path.size() >= sizeof sa->sun_path) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memcpy(sa->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

int dns_control_connect(const std::string& run_dir) {
  sockaddr_un sa;
  if (!unix_address(dns::control_path(run_dir), &sa)) return -1;
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

namespace {

bool send_json(int fd, const nlohmann::json& j, const int* fds, int nfds) {
  try {
    std::string text = j.dump();
    if (nfds < 0 || nfds > dns::kMaxControlFds || text.size() > dns::kMaxControlMessage) {
      errno = EINVAL;
      return false;
    }
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * dns::kMaxControlFds)];
    if (nfds > 0) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == ssize_t(text.size());
  } catch (const std::exception&) {
    errno = ENOMEM;
    return false;
  }
}

}  // namespace

bool dns_send(int fd, const std::string& op, const std::string& id, const int* fds, int nfds) {
  try {
    nlohmann::json j{{"op", op}};
    if (!id.empty()) j["id"] = id;
    return send_json(fd, j, fds, nfds);
  } catch (const std::exception&) {
    errno = ENOMEM;
    return false;
  }
}

bool dns_tell_remote(const std::string& run_dir, const std::string& network) {
  int fd = dns_control_connect(run_dir);
  if (fd < 0) return false;
  bool sent = false;
  try {
    sent = send_json(fd, nlohmann::json{{"op", "remote"}, {"network", network}}, nullptr, 0);
  } catch (const std::exception&) {
    errno = ENOMEM;
  }
  int err = errno;
  ::close(fd);
  errno = err;
  return sent;
}

int dns_status(const std::string& run_dir, std::string& out, int timeout_ms) {
  int fd = dns_control_connect(run_dir);
  if (fd < 0) return -errno;
  int ret = -ETIMEDOUT;
  if (!dns_send(fd, "status", "", nullptr, 0)) {
    ret = -errno;
  } else {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) == 1) {
      std::string buf(1 << 20, '\0');  // the status of 10,000 containers is large
      ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        buf.resize(size_t(n));
        out = std::move(buf);
        ret = 0;
      } else {
        ret = n == 0 ? -ECONNRESET : -errno;
      }
    }
  }
  ::close(fd);
  return ret;
}

}  // namespace ocinet
