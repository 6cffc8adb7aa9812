#include "netcore/container_files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <cstdint>
#include <cstring>
#include <optional>
#include <sstream>

#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {
namespace {

constexpr off_t kMaxFileBytes = 1 << 20;

// ---- text helpers -------------------------------------------------------------------------

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// Markers are recognised even after an editor added trailing blanks or a CR.
std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}
bool is_begin(const std::string& line) { return rtrim(line) == kBlockBegin; }
bool is_end(const std::string& line) { return rtrim(line) == kBlockEnd; }

// A token for a hosts or resolv.conf line: whitespace would split it, a newline would forge
// extra lines (even our end marker). Callers validate earlier; this is defence in depth.
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? sep : "") + v[i];
  return s;
}

std::vector<std::string> tokens_only(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& x : v)
    if (is_token(x) && std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  return out;
}

// A resolver usable from inside the container: a literal address (a zone id as in
// "fe80::1%eth0" names a host interface) that is neither loopback nor unspecified. Those mean
// "this machine", which inside the container's network namespace is its own lo.
bool is_ipv4(const std::string& a) {
  in_addr x{};
  return inet_pton(AF_INET, a.c_str(), &x) == 1;
}
bool is_ipv6(const std::string& a) {
  in6_addr x{};
  return inet_pton(AF_INET6, a.c_str(), &x) == 1;
}

bool usable_resolver(const std::string& addr) {
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6)) return false;
    if (!IN6_IS_ADDR_V4MAPPED(&a6)) return true;
    std::memcpy(&a4, &a6.s6_addr[12], 4);  // ::ffff:127.0.0.1 is loopback as well
  } else if (inet_pton(AF_INET, addr.c_str(), &a4) != 1) {
    return false;
  }
  uint32_t h = ntohl(a4.s_addr);
  return (h >> 24) != 127 && h != 0;
}

// ---- file helpers -------------------------------------------------------------------------

// glibc here has no openat2() wrapper; the syscall is what RESOLVE_IN_ROOT needs. EAGAIN means
// a concurrent rename raced the lookup (the kernel refuses to guess): simply try again.
int sys_openat2(int dirfd, const std::string& path, int flags, uint64_t resolve) {
  open_how how{};
  how.flags = uint64_t(flags | O_CLOEXEC);
  how.resolve = resolve;
  for (int attempt = 0;; attempt++) {
    int fd = int(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN || attempt == 8) return fd;
  }
}

const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "directory";
  if (S_ISFIFO(m)) return "FIFO";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "device";
  if (S_ISLNK(m)) return "symlink";
  return "special file";
}

// relpath comes from ocinet itself ("etc/hosts"), but the leaf open below relies on its last
// component being a plain name, so say so loudly rather than resolve something odd.
void check_relpath(const std::string& rel) {
  bool ok = !rel.empty() && rel.front() != '/' && rel.back() != '/';
  std::istringstream in(rel);
  for (std::string part; ok && std::getline(in, part, '/');) ok = !part.empty() && part != "." && part != "..";
  if (!ok) fail_invalid(rel + ": not a plain relative path");
}

std::string parent_of(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? "." : rel.substr(0, slash);
}
std::string leaf_of(const std::string& rel) { return rel.substr(rel.rfind('/') + 1); }

// The directory holding the file, resolved as if the rootfs were "/": symlinks inside the
// rootfs are followed but never lead out of it ("..", absolute links), /proc magic links are
// refused.
UniqueFd open_parent_in_root(const ContainerFileTarget& t) {
  UniqueFd root(::open(t.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) fail_system(t.relpath + ": opening rootfs " + t.rootfs, errno);
  std::string dir = parent_of(t.relpath);
  UniqueFd fd(sys_openat2(root.get(), dir, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
  if (!fd) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) fail_invalid(t.relpath + ": no directory /" + dir + " in the rootfs");
    if (err == ELOOP) fail_invalid(t.relpath + ": too many symlinks resolving /" + dir);
    if (err == ENOSYS) fail_system(t.relpath + ": openat2 unavailable (Linux 5.6 or newer needed)", err);
    fail_system(t.relpath + ": resolving /" + dir, err);
  }
  return fd;
}

// Looks at `path` without opening what it names: an O_PATH descriptor never triggers a device
// driver's open or blocks on a FIFO. With O_NOFOLLOW a symlink yields the link itself, which
// is refused (it could point at the host's files) unless `link_is_absent`: then the link counts
// as no file at all, so its target is never read and the rename in write_in_rootfs replaces the
// link itself (images ship /etc/resolv.conf as a symlink; Docker mounts over it). Returns false
// when nothing is there.
bool stat_regular(int dirfd, const std::string& path, uint64_t resolve, const std::string& rel, struct stat* st,
                  bool link_is_absent = false) {
  UniqueFd fd(sys_openat2(dirfd, path, O_PATH | O_NOFOLLOW, resolve));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return false;
    if ((err == ELOOP || err == EXDEV) && link_is_absent) return false;
    if (err == ELOOP || err == EXDEV) fail_invalid(rel + ": refusing symlink");
    fail_system(rel + ": opening", err);
  }
  if (::fstat(fd.get(), st) != 0) fail_system(rel + ": stat", errno);
  if (S_ISLNK(st->st_mode) && link_is_absent) return false;
  if (S_ISLNK(st->st_mode)) fail_invalid(rel + ": refusing symlink");
  if (!S_ISREG(st->st_mode)) fail_invalid(rel + ": not a regular file (" + file_kind(st->st_mode) + ")");
  return true;
}

// Opens for I/O what stat_regular() approved, and checks it is still that file: the name may
// have been swapped in between by whoever else can write the directory.
UniqueFd open_same(int dirfd, const std::string& path, int flags, uint64_t resolve, const struct stat& want,
                   const std::string& rel) {
  UniqueFd fd(sys_openat2(dirfd, path, flags | O_NOFOLLOW | O_NONBLOCK, resolve));
  if (!fd) {
    int err = errno;
    if (err == ELOOP || err == EXDEV) fail_invalid(rel + ": refusing symlink");
    fail_system(rel + ": opening", err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_system(rel + ": stat", errno);
  if (st.st_dev != want.st_dev || st.st_ino != want.st_ino || !S_ISREG(st.st_mode))
    fail_invalid(rel + ": file replaced while opening it");
  return fd;
}

std::string read_all(int fd, const struct stat& st, const std::string& rel) {
  if (st.st_size > kMaxFileBytes) fail_invalid(rel + ": too large (over 1 MiB)");
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system(rel + ": reading", errno);
    if (n == 0) return out;
    out.append(buf, size_t(n));
    // The file may grow after fstat; the limit holds for what we actually read.
    if (out.size() > size_t(kMaxFileBytes)) fail_invalid(rel + ": too large (over 1 MiB)");
  }
}

void write_all(int fd, const std::string& content, const std::string& rel) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_system(rel + ": writing", errno);
    off += size_t(n);
  }
}

// Leaf lookups under the parent fd: a single name, no symlink of any kind.
constexpr uint64_t kLeafResolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
// The bind source is a host path chosen by the runtime; only its last component is checked
// (O_NOFOLLOW), magic links are refused all the same.
constexpr uint64_t kBindResolve = RESOLVE_NO_MAGICLINKS;

struct stat stat_bind_source(const ContainerFileTarget& t) {
  struct stat st {};
  if (!stat_regular(AT_FDCWD, *t.bind_source, kBindResolve, t.relpath, &st))
    fail_invalid(t.relpath + ": bind-mount source " + *t.bind_source + " does not exist");
  return st;
}

std::string random_suffix() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  static unsigned counter = 0;
  unsigned char raw[8] = {};
  if (::getrandom(raw, sizeof raw, GRND_NONBLOCK) != ssize_t(sizeof raw)) {
    // Uniqueness, not secrecy, is what matters here: O_EXCL and the retry do the rest.
    uint64_t v = (uint64_t(::getpid()) << 20) ^ counter++;
    std::memcpy(raw, &v, sizeof raw);
  }
  std::string s;
  for (auto b : raw) s += kChars[b % (sizeof kChars - 1)];
  return s;
}

// A new file in `dirfd` that nobody else can have opened: O_EXCL refuses any existing entry,
// symlinks included.
UniqueFd create_temp(int dirfd, const std::string& name, const std::string& rel, std::string* tmp_name) {
  for (int attempt = 0; attempt < 16; attempt++) {
    *tmp_name = name + ".ocinet-tmp-" + random_suffix();
    int fd = ::openat(dirfd, tmp_name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EEXIST) fail_system(rel + ": creating temporary file", errno);
  }
  fail_system(rel + ": creating temporary file", EEXIST);
}

// Ownership and mode for the new file: those of the file it replaces, else the directory's
// owner (a user-namespaced container's root, not the host's) with 0644. Set-id bits are
// never carried over: root writes this file.
void set_owner_and_mode(int fd, uid_t uid, gid_t gid, mode_t mode, const std::string& rel) {
  // Unprivileged (tests, rootless runtimes) we cannot give files away; the file stays ours.
  // The new file is ours already: nothing to change when the old one was too.
  if ((uid != ::geteuid() || gid != ::getegid()) && ::fchown(fd, uid, gid) != 0 && errno != EPERM)
    fail_system(rel + ": chown", errno);
  if (::fchmod(fd, mode & 0777) != 0) fail_system(rel + ": chmod", errno);
}

// What a lookup of a file under its directory found: its owner and mode, or nothing there.
struct Seen {
  bool exists = false;
  struct stat st {};
};

Seen look_in_dir(int dirfd, const ContainerFileTarget& t) {
  Seen s;
  s.exists = stat_regular(dirfd, leaf_of(t.relpath), kLeafResolve, t.relpath, &s.st, /*link_is_absent=*/true);
  return s;
}

void write_in_rootfs(int dirfd, const ContainerFileTarget& t, const Seen& seen, const std::string& content) {
  std::string name = leaf_of(t.relpath);
  struct stat cur = seen.st;
  if (!seen.exists) {
    struct stat dst {};
    if (::fstat(dirfd, &dst) != 0) fail_system(t.relpath + ": stat of its directory", errno);
    cur.st_uid = dst.st_uid;
    cur.st_gid = dst.st_gid;
    cur.st_mode = 0644;
  }
  std::string tmp;
  UniqueFd fd = create_temp(dirfd, name, t.relpath, &tmp);
  try {
    set_owner_and_mode(fd.get(), cur.st_uid, cur.st_gid, cur.st_mode, t.relpath);
    write_all(fd.get(), content, t.relpath);
    // rename replaces the directory entry, whatever it has become meanwhile: were it swapped
    // for a symlink, the link is replaced, its target never touched.
    if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) fail_system(t.relpath + ": renaming", errno);
  } catch (...) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    throw;
  }
}

}  // namespace

std::string merge_block(const std::string& existing, const std::vector<std::string>& block_lines) {
  auto lines = split_lines(existing);
  std::vector<std::string> foreign;
  std::optional<size_t> block_at;  // index into `foreign` where the first block stood
  for (size_t i = 0; i < lines.size(); i++) {
    if (is_begin(lines[i])) {
      auto end = std::find_if(lines.begin() + long(i) + 1, lines.end(), is_end);
      if (end != lines.end()) {
        if (!block_at) block_at = foreign.size();  // later (stray) blocks are dropped
        i = size_t(end - lines.begin());
        continue;
      }
      // A begin marker without an end: not ours to interpret, so it and the rest of the file
      // stay as foreign text.
    }
    foreign.push_back(lines[i]);
  }
  std::vector<std::string> block;
  if (!block_lines.empty()) {
    block.push_back(kBlockBegin);
    for (const auto& l : block_lines)  // a line with a newline or a marker would break the block
      if (l.find_first_of("\r\n") == std::string::npos && !is_begin(l) && !is_end(l)) block.push_back(l);
    block.push_back(kBlockEnd);
  }
  // At the top by default: resolvers and host names listed first take precedence.
  auto at = foreign.begin() + long(block_at.value_or(0));
  foreign.insert(at, block.begin(), block.end());
  std::string text;
  for (const auto& l : foreign) text += l + "\n";
  return text;
}

std::string resolv_for_name_server(const std::string& resolv_text) {
  std::vector<std::string> block, lines = split_lines(resolv_text);
  auto begin = std::find_if(lines.begin(), lines.end(), is_begin);
  auto end = begin == lines.end() ? lines.end() : std::find_if(begin + 1, lines.end(), is_end);
  if (end != lines.end()) block.assign(begin + 1, end);
  ResolvConf rc = parse_resolv_conf(join(block, "\n"), /*keep_loopback=*/true);
  if (rc.nameservers == std::vector<std::string>{"127.0.0.11"}) return resolv_text;
  rc.nameservers = {"127.0.0.11"};
  if (std::none_of(rc.options.begin(), rc.options.end(), [](const std::string& o) { return o.rfind("ndots:", 0) == 0; }))
    rc.options.push_back("ndots:0");
  return merge_block(resolv_text, resolv_lines(rc));
}

std::vector<std::string> hosts_lines(const std::vector<HostsEntry>& entries) {
  std::vector<std::string> out = {"127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"};
  for (const auto& e : entries) {
    auto names = tokens_only(e.names);
    if (names.empty() || !is_token(e.ip)) continue;
    out.push_back(e.ip + "\t" + join(names, " "));
  }
  return out;
}

std::vector<std::string> resolv_lines(const ResolvConf& conf) {
  std::vector<std::string> out;
  for (const auto& ns : tokens_only(conf.nameservers)) out.push_back("nameserver " + ns);
  if (auto s = tokens_only(conf.search); !s.empty()) out.push_back("search " + join(s, " "));
  if (auto o = tokens_only(conf.options); !o.empty()) out.push_back("options " + join(o, " "));
  return out;
}

std::vector<std::string> host_nameservers(const std::string& resolv_text, bool keep_loopback) {
  std::vector<std::string> out;
  for (const auto& line : split_lines(resolv_text)) {
    std::istringstream in(line);  // >> skips leading blanks; "#nameserver" is no keyword
    std::string key, addr;
    if (!(in >> key >> addr) || key != "nameserver") continue;
    if (!usable_resolver(addr) && !(keep_loopback && (is_ipv4(addr) || is_ipv6(addr)))) continue;
    if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  return out;
}

ResolvConf parse_resolv_conf(const std::string& resolv_text, bool keep_loopback) {
  ResolvConf rc;
  rc.nameservers = host_nameservers(resolv_text, keep_loopback);
  for (const auto& line : split_lines(resolv_text)) {
    std::istringstream in(line);
    std::string key, word;
    if (!(in >> key) || (key != "search" && key != "domain" && key != "options")) continue;
    std::vector<std::string> words;
    while (in >> word && word[0] != '#' && word[0] != ';') words.push_back(word);
    if (key == "options")
      rc.options.insert(rc.options.end(), words.begin(), words.end());
    else
      rc.search = words;  // the last of search/domain wins
  }
  return rc;
}

ResolvConf host_resolv_conf(bool keep_loopback, bool replace_stub, const std::string& resolv_conf,
                            const std::string& resolved_conf) {
  // A host file that is not a regular one, or huge, counts as absent: no container setup
  // should fail over it (Docker's fallback servers apply then).
  auto read = [](const std::string& path) {
    try {
      return read_regular_file(path, 64 * 1024).value_or("");
    } catch (const Error&) {
      return std::string();
    }
  };
  const std::string text = read(resolv_conf);
  ResolvConf rc = parse_resolv_conf(text, keep_loopback);
  const bool stub_only = keep_loopback ? replace_stub && rc.nameservers == std::vector<std::string>{"127.0.0.53"}
                                       : rc.nameservers.empty() && text.find("127.0.0.53") != std::string::npos;
  if (stub_only) {
    auto upstreams = host_nameservers(read(resolved_conf), keep_loopback);
    if (!upstreams.empty() || !keep_loopback) rc.nameservers = std::move(upstreams);
  }
  return rc;
}

struct ContainerFiles::Cache {
  std::map<std::string, UniqueFd> dirs;  // rootfs + '\0' + parent -> the parent, resolved in the rootfs
  std::map<std::string, Seen> seen;      // rootfs + '\0' + relpath -> what the last read found

  int dir(const ContainerFileTarget& t) {
    auto& fd = dirs[t.rootfs + '\0' + parent_of(t.relpath)];
    if (!fd) fd = open_parent_in_root(t);
    return fd.get();
  }
};

ContainerFiles::ContainerFiles() : cache_(std::make_unique<Cache>()) {}
ContainerFiles::~ContainerFiles() = default;

std::string ContainerFiles::read(const ContainerFileTarget& t) {
  check_relpath(t.relpath);
  if (t.bind_source) {
    struct stat st = stat_bind_source(t);
    UniqueFd fd = open_same(AT_FDCWD, *t.bind_source, O_RDONLY, kBindResolve, st, t.relpath);
    return read_all(fd.get(), st, t.relpath);
  }
  int dir = cache_->dir(t);
  Seen s = look_in_dir(dir, t);
  cache_->seen[t.rootfs + '\0' + t.relpath] = s;
  if (!s.exists) return "";
  UniqueFd fd = open_same(dir, leaf_of(t.relpath), O_RDONLY, kLeafResolve, s.st, t.relpath);
  return read_all(fd.get(), s.st, t.relpath);
}

void ContainerFiles::write(const ContainerFileTarget& t, const std::string& content) {
  check_relpath(t.relpath);
  if (!t.bind_source) {
    int dir = cache_->dir(t);
    auto it = cache_->seen.find(t.rootfs + '\0' + t.relpath);
    return write_in_rootfs(dir, t, it != cache_->seen.end() ? it->second : look_in_dir(dir, t), content);
  }
  // In place: a rename would replace the mount source's directory entry, not the inode the
  // container sees through its bind mount. No O_CREAT: the runtime mounted an existing file.
  struct stat st = stat_bind_source(t);
  UniqueFd fd = open_same(AT_FDCWD, *t.bind_source, O_WRONLY, kBindResolve, st, t.relpath);
  if (::ftruncate(fd.get(), 0) != 0) fail_system(t.relpath + ": truncating", errno);
  write_all(fd.get(), content, t.relpath);
}

std::string read_container_file(const ContainerFileTarget& t) { return ContainerFiles().read(t); }

void write_container_file(const ContainerFileTarget& t, const std::string& content) {
  ContainerFiles().write(t, content);
}

}  // namespace ocinet
