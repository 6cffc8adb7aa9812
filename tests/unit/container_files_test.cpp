#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "netcore/container_files.h"
#include "netcore/error.h"
#include "test_util.h"

using namespace ocinet;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p) << s; }

const std::string B = std::string(kBlockBegin) + "\n";
const std::string E = std::string(kBlockEnd) + "\n";

// The message of the ocinet::Error `expr` throws ("" when none).
#define ERROR_TEXT(expr) ([&]() -> std::string { try { expr; } catch (const ocinet::Error& e) { return e.what(); } return ""; }())

// Names in a directory, to spot leftover temporary files.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A rootfs with an empty etc/, and a host file it must never be able to reach. The rootfs
// sits three levels down so that even a broken implementation following "../../.." stays in
// the temporary directory.
struct Rootfs {
  TempDir t;
  std::string root = t.path + "/d/d/rootfs";
  std::string etc = root + "/etc";
  std::string outside = t.path + "/outside";
  Rootfs() {
    ::mkdir((t.path + "/d").c_str(), 0755);
    ::mkdir((t.path + "/d/d").c_str(), 0755);
    ::mkdir(root.c_str(), 0755);
    ::mkdir(etc.c_str(), 0755);
    spit(outside, "secret\n");
  }
  ContainerFileTarget hosts() const { return {root, "etc/hosts", std::nullopt}; }
};

}  // namespace

// ---- rendering ----------------------------------------------------------------------------

TEST_CASE("merge_block puts a new block on top and keeps foreign lines in order") {
  std::string user = "# image's own\n10.0.0.9\tlegacy\n\n10.0.0.8\tother";  // no trailing newline
  CHECK(merge_block(user, {"1.2.3.4\tweb"}) == B + "1.2.3.4\tweb\n" + E + "# image's own\n10.0.0.9\tlegacy\n\n10.0.0.8\tother\n");
  CHECK(merge_block("", {"a"}) == B + "a\n" + E);
  CHECK(merge_block("", {}) == "");
  CHECK(merge_block("x", {}) == "x\n");  // trailing newline ensured
}

TEST_CASE("merge_block replaces an existing block in place and drops stray ones") {
  std::string text = "head\n" + B + "old1\nold2\n" + E + "middle\n" + B + "stray\n" + E + "tail\n";
  CHECK(merge_block(text, {"new"}) == "head\n" + B + "new\n" + E + "middle\ntail\n");
  // Markers edited with trailing blanks or CRLF are still recognised.
  std::string crlf = std::string(kBlockBegin) + "\r\nold\r\n" + kBlockEnd + "  \r\nforeign\r\n";
  CHECK(merge_block(crlf, {"new"}) == B + "new\n" + E + "foreign\r\n");
}

TEST_CASE("merge_block with no lines removes the block, restoring the foreign text") {
  std::string user = "# image's own\n10.0.0.9\tlegacy\n";
  auto once = merge_block(user, {"1.2.3.4\tweb"});
  auto twice = merge_block(once, {"5.6.7.8\tweb"});
  CHECK(twice == B + "5.6.7.8\tweb\n" + E + user);
  CHECK(merge_block(twice, {}) == user);
  CHECK(merge_block(user, {}) == user);
}

TEST_CASE("merge_block keeps a begin marker without end, and the rest of the file, as foreign") {
  std::string broken = "a\n" + B + "x\ny\n";
  auto fixed = merge_block(broken, {"new"});
  CHECK(fixed == B + "new\n" + E + broken);
  CHECK(merge_block(fixed, {"newer"}) == B + "newer\n" + E + broken);  // stable on re-runs
  CHECK(merge_block(fixed, {}) == broken);
}

TEST_CASE("merge_block refuses block lines that would forge lines or markers") {
  auto out = merge_block("", {"ok", "evil\n" + std::string(kBlockEnd), kBlockEnd, kBlockBegin});
  CHECK(out == B + "ok\n" + E);
}

TEST_CASE("hosts_lines: localhost lines, then one line per entry") {
  auto h = hosts_lines({{"172.17.0.2", {"web", "web", "host1", "", "web"}},
                        {"172.17.0.3", {}},
                        {"172.17.0.4", {""}},
                        {"172.17.0.5", {"db", "bad name", "evil\n1.2.3.4"}},
                        {"fd00::5", {"v6"}}});
  CHECK(h == std::vector<std::string>{"127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                                      "172.17.0.2\tweb host1", "172.17.0.5\tdb", "fd00::5\tv6"});
  CHECK(hosts_lines({}).size() == 2);
}

TEST_CASE("resolv_lines renders nameservers, search and options") {
  CHECK(resolv_lines({{"1.1.1.1", "fd00::53"}, {"a.example", "b.example"}, {"ndots:2", "edns0"}}) ==
        std::vector<std::string>{"nameserver 1.1.1.1", "nameserver fd00::53", "search a.example b.example",
                                 "options ndots:2 edns0"});
  CHECK(resolv_lines({{"1.1.1.1"}, {}, {}}) == std::vector<std::string>{"nameserver 1.1.1.1"});
  CHECK(resolv_lines({}).empty());
}

TEST_CASE("host_nameservers keeps reachable resolvers only") {
  std::string text =
      "# generated by resolved\n"
      "nameserver 127.0.0.53\n"
      "nameserver ::1\n"
      "nameserver 127.1.2.3\n"
      "nameserver ::ffff:127.0.0.1\n"
      "nameserver 0.0.0.0\n"
      "#nameserver 9.9.9.9\n"
      "; nameserver 8.8.4.4\n"
      "nameserver 10.0.0.2\n"
      "\t nameserver   fd00::53  \n"
      "nameserver fe80::1%eth0\n"
      "nameserver bogus\n"
      "nameserver\n"
      "search example.com\n"
      "nameserver 10.0.0.2\n";
  CHECK(host_nameservers(text) == std::vector<std::string>{"10.0.0.2", "fd00::53"});
  CHECK(host_nameservers("nameserver 127.0.0.53\noptions edns0\n").empty());
  CHECK(host_nameservers("").empty());
}

// ---- files under the rootfs ---------------------------------------------------------------

TEST_CASE("container files: write then read back, no temporary file left") {
  Rootfs r;
  CHECK(read_container_file(r.hosts()).empty());  // missing = ""
  mode_t old = ::umask(077);
  write_container_file(r.hosts(), "a\n");
  ::umask(old);
  CHECK(read_container_file(r.hosts()) == "a\n");
  struct stat st {};
  REQUIRE(::stat((r.etc + "/hosts").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);  // not subject to the hook's umask
  write_container_file(r.hosts(), merge_block(read_container_file(r.hosts()), {"1.2.3.4\tweb"}));
  CHECK(slurp(r.etc + "/hosts") == B + "1.2.3.4\tweb\n" + E + "a\n");
  CHECK(entries(r.etc) == std::vector<std::string>{"hosts"});
}

TEST_CASE("container files: an existing file's mode is kept, set-id bits are not") {
  Rootfs r;
  spit(r.etc + "/hosts", "old\n");
  ::chmod((r.etc + "/hosts").c_str(), 0600);
  write_container_file(r.hosts(), "new\n");
  struct stat st {};
  REQUIRE(::stat((r.etc + "/hosts").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  ::chmod((r.etc + "/hosts").c_str(), 04755);
  write_container_file(r.hosts(), "newer\n");
  REQUIRE(::stat((r.etc + "/hosts").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(slurp(r.etc + "/hosts") == "newer\n");
}

TEST_CASE("container files: a symlinked file is replaced by a regular one, its target untouched") {
  Rootfs r;
  REQUIRE(::symlink(r.outside.c_str(), (r.etc + "/hosts").c_str()) == 0);
  CHECK(read_container_file(r.hosts()).empty());  // the link's target is never read
  write_container_file(r.hosts(), "mine\n");
  CHECK(slurp(r.outside) == "secret\n");
  struct stat st {};
  REQUIRE(::lstat((r.etc + "/hosts").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(slurp(r.etc + "/hosts") == "mine\n");
  CHECK(entries(r.etc) == std::vector<std::string>{"hosts"});

  // A link that stays inside the rootfs is replaced too; what it pointed at is untouched.
  spit(r.etc + "/real", "inside\n");
  ContainerFileTarget rel{r.root, "etc/rel", std::nullopt};
  REQUIRE(::symlink("real", (r.etc + "/rel").c_str()) == 0);
  CHECK(read_container_file(rel).empty());
  write_container_file(rel, "x\n");
  CHECK(slurp(r.etc + "/real") == "inside\n");
  CHECK(slurp(r.etc + "/rel") == "x\n");
}

TEST_CASE("container files: several files through one ContainerFiles, as a setup writes them") {
  Rootfs r;
  spit(r.etc + "/hosts", "127.0.0.1 localhost\n");
  ::chmod((r.etc + "/hosts").c_str(), 0600);
  REQUIRE(::symlink(r.outside.c_str(), (r.etc + "/resolv.conf").c_str()) == 0);
  ContainerFiles files;
  ContainerFileTarget hosts = r.hosts(), resolv{r.root, "etc/resolv.conf", std::nullopt},
                      hostname{r.root, "etc/hostname", std::nullopt};
  files.write(hosts, merge_block(files.read(hosts), {"1.2.3.4\tweb"}));
  CHECK(files.read(resolv).empty());  // a symlink counts as no file: its target is never read
  files.write(resolv, "nameserver 10.0.0.2\n");
  files.write(hostname, "web\n");  // written without a read first
  CHECK(slurp(r.etc + "/hosts") == B + "1.2.3.4\tweb\n" + E + "127.0.0.1 localhost\n");
  CHECK(slurp(r.etc + "/resolv.conf") == "nameserver 10.0.0.2\n");
  CHECK(slurp(r.etc + "/hostname") == "web\n");
  CHECK(slurp(r.outside) == "secret\n");
  struct stat st {};
  REQUIRE(::lstat((r.etc + "/hosts").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);  // the mode seen by the read
  REQUIRE(::lstat((r.etc + "/resolv.conf").c_str(), &st) == 0);
  CHECK((S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644));
  CHECK(entries(r.etc) == std::vector<std::string>{"hostname", "hosts", "resolv.conf"});
  // A second round through the same object sees the files the first one wrote.
  files.write(hosts, merge_block(files.read(hosts), {}));
  CHECK(slurp(r.etc + "/hosts") == "127.0.0.1 localhost\n");
}

TEST_CASE("container files: a symlinked etc never leads out of the rootfs") {
  Rootfs r;
  REQUIRE(::rmdir(r.etc.c_str()) == 0);
  REQUIRE(::symlink("../../..", r.etc.c_str()) == 0);
  // Under RESOLVE_IN_ROOT ".." stops at the rootfs: "etc" is the rootfs itself.
  write_container_file(r.hosts(), "x\n");
  CHECK(slurp(r.root + "/hosts") == "x\n");
  CHECK(entries(r.t.path) == std::vector<std::string>{"d", "outside"});
  CHECK(slurp(r.outside) == "secret\n");

  // An absolute link is resolved against the rootfs, where the host path does not exist.
  REQUIRE(::symlink(r.t.path.c_str(), (r.root + "/abs").c_str()) == 0);
  ContainerFileTarget via_abs{r.root, "abs/outside", std::nullopt};
  CHECK(ERROR_KIND(write_container_file(via_abs, "y\n")) == 1);
  CHECK(ERROR_KIND(read_container_file(via_abs)) == 1);
  CHECK(slurp(r.outside) == "secret\n");
}

TEST_CASE("container files: a missing directory or an odd relpath is an Invalid error") {
  Rootfs r;
  CHECK(ERROR_KIND(write_container_file({r.root, "nodir/hosts", std::nullopt}, "x")) == 1);
  CHECK(ERROR_KIND(read_container_file({r.root, "nodir/hosts", std::nullopt})) == 1);
  CHECK(ERROR_KIND(write_container_file({r.root, "etc/../../outside", std::nullopt}, "x")) == 1);
  CHECK(ERROR_KIND(write_container_file({r.root, "/etc/hosts", std::nullopt}, "x")) == 1);
  CHECK(slurp(r.outside) == "secret\n");
}

TEST_CASE("container files: directories, FIFOs, sockets and huge files are refused") {
  Rootfs r;
  std::string hosts = r.etc + "/hosts";
  REQUIRE(::mkdir(hosts.c_str(), 0755) == 0);
  CHECK(ERROR_TEXT(read_container_file(r.hosts())) == "etc/hosts: not a regular file (directory)");
  CHECK(ERROR_KIND(write_container_file(r.hosts(), "x")) == 1);
  REQUIRE(::rmdir(hosts.c_str()) == 0);

  REQUIRE(::mkfifo(hosts.c_str(), 0644) == 0);
  ::alarm(10);  // a blocking open would hang here: turn that into a visible failure
  CHECK(ERROR_TEXT(read_container_file(r.hosts())) == "etc/hosts: not a regular file (FIFO)");
  CHECK(ERROR_KIND(write_container_file(r.hosts(), "x")) == 1);
  ::alarm(0);
  REQUIRE(::unlink(hosts.c_str()) == 0);

  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  REQUIRE(hosts.size() < sizeof sa.sun_path);
  std::strcpy(sa.sun_path, hosts.c_str());
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  CHECK(ERROR_KIND(read_container_file(r.hosts())) == 1);
  CHECK(ERROR_KIND(write_container_file(r.hosts(), "x")) == 1);
  ::close(s);
  REQUIRE(::unlink(hosts.c_str()) == 0);

  spit(hosts, "");
  REQUIRE(::truncate(hosts.c_str(), 2 << 20) == 0);  // 2 MiB, sparse
  CHECK(ERROR_TEXT(read_container_file(r.hosts())) == "etc/hosts: too large (over 1 MiB)");
  spit(hosts, std::string(1 << 20, 'x'));  // exactly 1 MiB is fine
  CHECK(read_container_file(r.hosts()).size() == size_t(1) << 20);
}

// ---- bind-mount sources -------------------------------------------------------------------

TEST_CASE("container files: a bind-mount source is rewritten in place") {
  Rootfs r;
  std::string src = r.t.path + "/engine-hosts";
  spit(src, "127.0.0.1 localhost\n# long enough to need truncating on rewrite\n");
  struct stat before {}, after {};
  REQUIRE(::stat(src.c_str(), &before) == 0);
  ContainerFileTarget t{r.root, "etc/hosts", src};
  write_container_file(t, merge_block(read_container_file(t), {"1.2.3.4\tweb"}));
  write_container_file(t, "short\n");
  REQUIRE(::stat(src.c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(slurp(src) == "short\n");
  CHECK(read_container_file(t) == "short\n");
  CHECK(entries(r.etc).empty());  // the rootfs copy is not touched
}

TEST_CASE("container files: a symlinked, missing or special bind-mount source is refused") {
  Rootfs r;
  std::string link = r.t.path + "/link";
  REQUIRE(::symlink(r.outside.c_str(), link.c_str()) == 0);
  ContainerFileTarget t{r.root, "etc/hosts", link};
  CHECK(ERROR_TEXT(write_container_file(t, "x")) == "etc/hosts: refusing symlink");
  CHECK(ERROR_KIND(read_container_file(t)) == 1);
  CHECK(slurp(r.outside) == "secret\n");

  CHECK(ERROR_KIND(write_container_file({r.root, "etc/hosts", r.t.path + "/missing"}, "x")) == 1);
  CHECK(entries(r.t.path) == std::vector<std::string>{"d", "link", "outside"});  // nothing created

  std::string fifo = r.t.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  ::alarm(10);
  CHECK(ERROR_KIND(read_container_file({r.root, "etc/hosts", fifo})) == 1);
  CHECK(ERROR_KIND(write_container_file({r.root, "etc/hosts", fifo}, "x")) == 1);
  ::alarm(0);
  CHECK(ERROR_KIND(write_container_file({r.root, "etc/hosts", r.t.path}, "x")) == 1);
}
