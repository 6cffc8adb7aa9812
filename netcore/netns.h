// Network namespace handles. The container netns is held as an fd; the hook switches into it
// only to open a netlink socket there (sockets stay bound to the netns they were created in).
#pragma once
#include <string>

#include "netcore/fsutil.h"

namespace ocinet {

class Netns {
 public:
  // Opens a netns file (/proc/<pid>/ns/net or a bind-mounted path). Invalid when the path does
  // not exist or is not a network namespace.
  static Netns open(const std::string& path);
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // True when this is the netns the hook itself runs in (device and inode compared).
  bool is_current() const;
  // "dev:ino" of the namespace: tells it apart from a later one at the same /proc path.
  std::string identity() const;

 private:
  Netns(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// Switches the calling thread into `target` and back on destruction. A failed switch back would
// leave the hook configuring the wrong namespace, so it aborts the process instead.
class ScopedNetns {
 public:
  explicit ScopedNetns(const Netns& target);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

 private:
  UniqueFd orig_;
};

}  // namespace ocinet
