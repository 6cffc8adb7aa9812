#include "netcore/firewall/ipt_table.h"

#include <sys/file.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace ocinet::ipt {
namespace {

// The lock iptables-legacy and iptables-legacy-restore take; without it a concurrent run could
// commit a table it read before our commit and silently drop our rules, or we theirs.
constexpr const char* kLockPath = "/run/xtables.lock";
constexpr auto kLockWait = std::chrono::seconds(5);

}  // namespace

XtablesLock::XtablesLock() {
  fd_ = open(kLockPath, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) fail_system(std::string("firewall: opening ") + kLockPath, errno);
  // Polling with a short, growing sleep rather than a blocking flock: a blocking call could
  // not be bounded in time without a signal, and a stuck iptables must not hang the hook.
  auto deadline = std::chrono::steady_clock::now() + kLockWait;
  auto pause = std::chrono::milliseconds(1);
  while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      close(fd_);
      if (err == EWOULDBLOCK)
        fail_system(std::string("firewall: ") + kLockPath + " still held by another process after 5 s", 0);
      fail_system(std::string("firewall: locking ") + kLockPath, err);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace ocinet::ipt
