#include "netcore/container_files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "netcore/error.h"
#include "netcore/fsutil.h"

namespace ocinet {
namespace {

constexpr off_t kMaxFileBytes = 1 << 20;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// glibc 2.36 has no openat2() wrapper; the syscall is what RESOLVE_IN_ROOT needs.
int sys_openat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return int(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

std::string dir_part(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? "." : rel.substr(0, slash);
}
std::string base_part(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// The directory holding the file, resolved as if the rootfs were "/": symlinks inside the
// rootfs are followed but can never lead out of it, and /proc magic links are refused.
UniqueFd open_parent_in_root(const ContainerFileTarget& t) {
  UniqueFd root(::open(t.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) fail_system("opening rootfs " + t.rootfs, errno);
  std::string dir = dir_part(t.relpath);
  int fd = sys_openat2(root.get(), dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) fail_invalid(t.relpath + ": directory " + dir + " missing in the rootfs");
    if (errno == ENOSYS) fail_system(t.relpath + ": openat2 is not available (Linux >= 5.6 needed)", errno);
    fail_system(t.relpath + ": resolving " + dir, errno);
  }
  return UniqueFd(fd);
}

// The file itself, relative to its directory, following no symlink at all. O_NONBLOCK keeps a
// FIFO from blocking the hook. Returns an invalid fd for a missing file, and for a symlink:
// its target is never read or written; the rename in write_container_file replaces the link
// itself (images ship /etc/resolv.conf as a symlink, Docker mounts over it).
UniqueFd open_leaf(int dirfd, const std::string& name, int flags, const std::string& rel) {
  int fd = sys_openat2(dirfd, name.c_str(), uint64_t(flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), 0,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) {
    if (errno == ENOENT || errno == ELOOP) return UniqueFd();
    if (errno == EISDIR) fail_invalid(rel + ": not a regular file (directory)");
    fail_system(rel + ": opening", errno);
  }
  return UniqueFd(fd);
}

void check_regular(int fd, const std::string& rel) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_system(rel + ": stat", errno);
  if (!S_ISREG(st.st_mode)) fail_invalid(rel + ": not a regular file");
  if (st.st_size > kMaxFileBytes) fail_invalid(rel + ": too large (over 1 MiB)");
}

std::string read_fd(int fd, const std::string& rel) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system(rel + ": reading", errno);
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (out.size() > size_t(kMaxFileBytes)) fail_invalid(rel + ": too large (over 1 MiB)");
  }
  return out;
}

void write_fd(int fd, const std::string& content, const std::string& rel) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system(rel + ": writing", errno);
    off += size_t(n);
  }
}

UniqueFd open_bind_source(const std::string& path, int flags, const std::string& rel) {
  int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) fail_invalid(rel + ": bind-mount source " + path + " is a symlink");
    if (errno == ENOENT) fail_invalid(rel + ": bind-mount source " + path + " does not exist");
    fail_system(rel + ": opening " + path, errno);
  }
  check_regular(fd, rel);
  return UniqueFd(fd);
}

}  // namespace

std::string merge_block(const std::string& existing, const std::vector<std::string>& block_lines) {
  std::vector<std::string> foreign;
  size_t insert_at = 0;
  bool placed = false;
  auto lines = split_lines(existing);
  for (size_t i = 0; i < lines.size(); i++) {
    if (lines[i] == kBlockBegin) {
      auto end = std::find(lines.begin() + long(i) + 1, lines.end(), std::string(kBlockEnd));
      if (end != lines.end()) {
        if (!placed) insert_at = foreign.size();
        placed = true;
        i = size_t(end - lines.begin());
        continue;
      }
      // A begin marker without an end: not ours to interpret; keep the rest as it is.
    }
    foreign.push_back(lines[i]);
  }
  std::vector<std::string> out(foreign.begin(), foreign.begin() + long(insert_at));
  if (!block_lines.empty()) {
    out.push_back(kBlockBegin);
    out.insert(out.end(), block_lines.begin(), block_lines.end());
    out.push_back(kBlockEnd);
  }
  out.insert(out.end(), foreign.begin() + long(insert_at), foreign.end());
  std::string text;
  for (auto& l : out) text += l + "\n";
  return text;
}

std::vector<std::string> hosts_lines(const std::vector<HostsEntry>& entries) {
  std::vector<std::string> out = {"127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"};
  for (const auto& e : entries) {
    std::vector<std::string> names;
    for (const auto& n : e.names)
      if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    if (names.empty() || e.ip.empty()) continue;
    std::string line = e.ip + "\t";
    for (size_t i = 0; i < names.size(); i++) line += (i ? " " : "") + names[i];
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> resolv_lines(const ResolvConf& conf) {
  std::vector<std::string> out;
  for (const auto& ns : conf.nameservers) out.push_back("nameserver " + ns);
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += " " + x;
    return s;
  };
  if (!conf.search.empty()) out.push_back("search" + joined(conf.search));
  if (!conf.options.empty()) out.push_back("options" + joined(conf.options));
  return out;
}

std::vector<std::string> host_nameservers(const std::string& resolv_text) {
  std::vector<std::string> out;
  for (const auto& line : split_lines(resolv_text)) {
    std::istringstream in(line);
    std::string key, addr;
    if (!(in >> key >> addr) || key != "nameserver") continue;
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) {
      if ((ntohl(a4.s_addr) >> 24) == 127) continue;  // a resolver on the host's lo (systemd-resolved)
    } else if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
      if (IN6_IS_ADDR_LOOPBACK(&a6)) continue;
    } else {
      continue;
    }
    out.push_back(addr);
  }
  return out;
}

std::string read_container_file(const ContainerFileTarget& t) {
  if (t.bind_source) {
    auto fd = open_bind_source(*t.bind_source, O_RDONLY, t.relpath);
    return read_fd(fd.get(), t.relpath);
  }
  auto dir = open_parent_in_root(t);
  auto fd = open_leaf(dir.get(), base_part(t.relpath), O_RDONLY, t.relpath);
  if (!fd) return "";
  check_regular(fd.get(), t.relpath);
  return read_fd(fd.get(), t.relpath);
}

void write_container_file(const ContainerFileTarget& t, const std::string& content) {
  if (t.bind_source) {
    // In place: a rename would replace the mount source's directory entry, not what the
    // container sees through the bind mount.
    auto fd = open_bind_source(*t.bind_source, O_WRONLY, t.relpath);
    if (::ftruncate(fd.get(), 0) != 0) fail_system(t.relpath + ": truncating", errno);
    write_fd(fd.get(), content, t.relpath);
    return;
  }
  auto dir = open_parent_in_root(t);
  std::string name = base_part(t.relpath);
  mode_t mode = 0644;
  if (auto cur = open_leaf(dir.get(), name, O_RDONLY, t.relpath)) {
    check_regular(cur.get(), t.relpath);
    struct stat st {};
    if (::fstat(cur.get(), &st) == 0) mode = st.st_mode & 07777;
  }
  std::string tmp = "." + name + ".ocinet-" + std::to_string(::getpid());
  int fd = ::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) fail_system(t.relpath + ": creating temporary file", errno);
  UniqueFd guard(fd);
  try {
    write_fd(fd, content, t.relpath);
    if (::fchmod(fd, mode) != 0) fail_system(t.relpath + ": chmod", errno);
    if (::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) fail_system(t.relpath + ": renaming", errno);
  } catch (...) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    throw;
  }
}

}  // namespace ocinet
