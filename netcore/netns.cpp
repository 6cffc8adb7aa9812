#include "netcore/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "base/error.h"

namespace ocinet {

Netns Netns::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) fail_invalid("network namespace " + path + " does not exist");
    fail_system("opening network namespace " + path, errno);
  }
  UniqueFd guard(fd);
  // setns with CLONE_NEWNET on a non-netns fd fails; check cheaply up front via the nsfs magic.
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_system("stat " + path, errno);
  return Netns(std::move(guard), path);
}

bool Netns::is_current() const {
  struct stat mine {}, theirs {};
  if (::stat("/proc/thread-self/ns/net", &mine) != 0) fail_system("stat /proc/thread-self/ns/net", errno);
  if (::fstat(fd(), &theirs) != 0) fail_system("stat " + path_, errno);
  return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

std::string Netns::identity() const {
  struct stat st {};
  if (::fstat(fd(), &st) != 0) fail_system("stat " + path_, errno);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

ScopedNetns::ScopedNetns(const Netns& target) {
  orig_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!orig_) fail_system("opening own network namespace", errno);
  if (::setns(target.fd(), CLONE_NEWNET) != 0) {
    if (errno == EINVAL) fail_invalid(target.path() + " is not a network namespace");
    fail_system("entering network namespace " + target.path(), errno);
  }
}

ScopedNetns::~ScopedNetns() {
  if (::setns(orig_.get(), CLONE_NEWNET) != 0) {
    std::fputs("ocinet: fatal: cannot return to the original network namespace\n", stderr);
    std::abort();
  }
}

}  // namespace ocinet
