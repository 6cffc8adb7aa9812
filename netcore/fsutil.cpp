#include "netcore/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "base/error.h"

namespace ocinet {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

static std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

void make_dirs(const std::string& path, int mode) {
  if (path.empty() || path == "/") return;
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return;
  if (errno != ENOENT) fail_system("creating " + path, errno);
  make_dirs(dirname_of(path), mode);
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) fail_system("creating " + path, errno);
}

FileLock::FileLock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == ENOENT) {
    make_dirs(dirname_of(path));
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) fail_system("opening lock " + path, errno);
  fd_ = UniqueFd(fd);
  while (::flock(fd, LOCK_EX) != 0)
    if (errno != EINTR) fail_system("locking " + path, errno);
}

std::optional<FileLock> FileLock::try_lock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == ENOENT) {
    make_dirs(dirname_of(path));
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) fail_system("opening lock " + path, errno);
  UniqueFd guard(fd);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::nullopt;
    if (errno != EINTR) fail_system("locking " + path, errno);
  }
  FileLock lock;
  lock.fd_ = std::move(guard);
  return lock;
}

std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail_system("reading " + path, errno);
  }
  UniqueFd guard(fd);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system("reading " + path, errno);
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

static std::string size_text(size_t bytes) {
  return bytes % (1 << 20) == 0 ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

std::optional<std::string> read_regular_file(const std::string& path, size_t limit) {
  UniqueFd where(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!where) {
    if (errno == ENOENT) return std::nullopt;
    fail_system("reading " + path, errno);
  }
  struct stat st{};
  if (::fstat(where.get(), &st) != 0) fail_system("reading " + path, errno);
  if (!S_ISREG(st.st_mode)) fail_invalid(path + " is not a regular file");
  if (uint64_t(st.st_size) > limit) fail_invalid(path + " is larger than " + size_text(limit));
  // The inode just checked, not the name again (which may point elsewhere by now).
  const std::string self = "/proc/self/fd/" + std::to_string(where.get());
  UniqueFd fd(::open(self.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd) fail_system("reading " + path + " (through " + self + ")", errno);
  std::string out;
  char buf[16384];
  while (out.size() <= limit) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, limit + 1 - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system("reading " + path, errno);
    if (n == 0) return out;
    out.append(buf, size_t(n));
  }
  fail_invalid(path + " is larger than " + size_text(limit));
}

static void write_all(int fd, const std::string& content, const std::string& path) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system("writing " + path, errno);
    off += size_t(n);
  }
}

void write_file_atomic(const std::string& path, const std::string& content, bool durable) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == ENOENT) {
    make_dirs(dirname_of(path));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) fail_system("writing " + path, errno);
  {
    UniqueFd guard(fd);
    try {
      write_all(fd, content, path);
      if (durable && ::fsync(fd) != 0) fail_system("syncing " + path, errno);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail_system("renaming " + tmp, e);
  }
  if (durable) {
    UniqueFd dir(::open(dirname_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
  }
}

bool create_owner_mark(const std::string& path, const std::string& owner) {
  int rc = ::symlink(owner.c_str(), path.c_str());
  if (rc != 0 && errno == ENOENT) {
    make_dirs(dirname_of(path));
    rc = ::symlink(owner.c_str(), path.c_str());
  }
  if (rc == 0) return true;
  if (errno == EEXIST) return false;
  fail_system("creating " + path, errno);
}

void replace_owner_mark(const std::string& path, const std::string& owner) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  if (!create_owner_mark(tmp, owner)) fail_system("creating " + tmp, EEXIST);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail_system("renaming " + tmp, e);
  }
}

std::optional<std::string> read_owner_mark(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EINVAL) return std::string();  // not a mark (a stray regular file): no owner
    fail_system("reading " + path, errno);
  }
  return std::string(buf, size_t(n));
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_system("removing " + path, errno);
}

namespace {
// Calls fn(path, name, lstat) for every non-directory entry below `dir`, recursively (the
// state directories are shallow: ipam/<net>/v6, ports/<proto>/<port>/<addr>).
template <typename F>
void for_each_file(const std::string& dir, F&& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string path = dir + "/" + n;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      for_each_file(path, fn);
    else
      fn(path, n, st);
  }
  ::closedir(d);
}
}  // namespace

void remove_owned_files(const std::string& dir, const std::string& owner) {
  for_each_file(dir, [&](const std::string& path, const std::string&, const struct stat& st) {
    if (!S_ISLNK(st.st_mode)) return;
    auto holder = read_owner_mark(path);
    if (holder && *holder == owner) remove_file(path);
  });
}

void remove_stale_temps(const std::string& dir) {
  for_each_file(dir, [](const std::string& path, const std::string& n, const struct stat&) {
    auto at = n.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= n.size() || n.find_first_not_of("0123456789", at + 5) != std::string::npos)
      return;
    pid_t pid = pid_t(std::stol(n.substr(at + 5)));
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(path.c_str());
  });
}

}  // namespace ocinet
