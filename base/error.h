// Error model shared by every layer: one exception type carrying the kind (which picks the
// exit status) and a message already shaped as "<what failed>: <why>". Library code throws;
// only main() logs and prints, once.
#pragma once
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ocinet {

enum class ErrorKind { Invalid = 1, System = 2 };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what, int err = 0) : std::runtime_error(what), kind_(kind), errno_(err) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }
  // The errno of a system failure (0 when none): lets a caller that knows what the request was
  // turn a bare kernel reason into one the user can act on.
  int sys_errno() const { return errno_; }

 private:
  ErrorKind kind_;
  int errno_;
};

// A request the user can fix (annotation, policy, conflict): exit status 1.
[[noreturn]] inline void fail_invalid(const std::string& what) { throw Error(ErrorKind::Invalid, what); }

// The system failed (netlink, firewall, disk): exit status 2. `err` is an errno value.
[[noreturn]] inline void fail_system(const std::string& what, int err) {
  throw Error(ErrorKind::System, err ? what + ": " + std::strerror(err) : what, err);
}

}  // namespace ocinet
