#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "netcore/container_files.h"
#include "netcore/error.h"
#include "test_util.h"

using namespace ocinet;

static std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
static void spit(const std::string& p, const std::string& s) { std::ofstream(p) << s; }

TEST_CASE("merge_block keeps foreign lines and replaces only ocinet's block") {
  std::string user = "# image's own\n10.0.0.9\tlegacy\n";
  auto once = merge_block(user, {"1.2.3.4\tweb"});
  CHECK(once.find("10.0.0.9\tlegacy") != std::string::npos);
  CHECK(once.rfind(kBlockBegin, 0) == 0);  // our block first: our resolvers take precedence
  auto twice = merge_block(once, {"5.6.7.8\tweb"});
  CHECK(twice.find("1.2.3.4") == std::string::npos);
  CHECK(twice.find("5.6.7.8\tweb") != std::string::npos);
  CHECK(twice.find("# image's own\n10.0.0.9\tlegacy\n") != std::string::npos);
  CHECK(merge_block(twice, {}) == user);  // removal restores the foreign text exactly
  // A begin marker without an end stays as foreign text.
  auto broken = std::string(kBlockBegin) + "\nx\n";
  auto fixed = merge_block(broken, {"a"});
  CHECK(fixed.find("x\n") != std::string::npos);
  CHECK(merge_block("", {}) == "");
}

TEST_CASE("hosts and resolv.conf rendering") {
  auto h = hosts_lines({{"172.17.0.2", {"web", "web", "host1"}}, {"172.17.0.3", {}}});
  REQUIRE(h.size() == 3);
  CHECK(h[0] == "127.0.0.1\tlocalhost");
  CHECK(h[2] == "172.17.0.2\tweb host1");
  auto r = resolv_lines({{"1.1.1.1"}, {"a.example", "b.example"}, {"ndots:2"}});
  CHECK(r == std::vector<std::string>{"nameserver 1.1.1.1", "search a.example b.example", "options ndots:2"});
  CHECK(host_nameservers("# c\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\n nameserver  fd00::53 \nnameserver bogus\n") ==
        std::vector<std::string>{"10.0.0.2", "fd00::53"});
}

struct Rootfs {
  TempDir t;
  std::string root = t.path + "/rootfs";
  std::string outside = t.path + "/outside";
  Rootfs() {
    ::mkdir(root.c_str(), 0755);
    ::mkdir((root + "/etc").c_str(), 0755);
    spit(outside, "secret\n");
  }
  ContainerFileTarget hosts() const { return {root, "etc/hosts", std::nullopt}; }
};

TEST_CASE("container files: write then read back, keeping the file's mode") {
  Rootfs r;
  CHECK(read_container_file(r.hosts()).empty());
  write_container_file(r.hosts(), "a\n");
  CHECK(read_container_file(r.hosts()) == "a\n");
  ::chmod((r.root + "/etc/hosts").c_str(), 0600);
  write_container_file(r.hosts(), "b\n");
  struct stat st {};
  ::stat((r.root + "/etc/hosts").c_str(), &st);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(slurp(r.root + "/etc/hosts") == "b\n");
}

TEST_CASE("container files: a symlink to a host file is replaced, never followed") {
  Rootfs r;
  REQUIRE(::symlink(r.outside.c_str(), (r.root + "/etc/hosts").c_str()) == 0);
  CHECK(read_container_file(r.hosts()).empty());
  write_container_file(r.hosts(), "mine\n");
  CHECK(slurp(r.outside) == "secret\n");
  struct stat st {};
  REQUIRE(::lstat((r.root + "/etc/hosts").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
}

TEST_CASE("container files: an etc symlink pointing out of the rootfs stays inside it") {
  Rootfs r;
  ::rmdir((r.root + "/etc").c_str());
  REQUIRE(::symlink("../../../../../../..", (r.root + "/etc").c_str()) == 0);
  // "etc" resolves to the rootfs itself under RESOLVE_IN_ROOT: the file lands in the rootfs.
  write_container_file(r.hosts(), "x\n");
  CHECK(slurp(r.root + "/hosts") == "x\n");
  CHECK(slurp(r.outside) == "secret\n");
  REQUIRE(::symlink(r.t.path.c_str(), (r.root + "/abs").c_str()) == 0);
  // An absolute link is resolved against the rootfs, where that path does not exist.
  CHECK(ERROR_KIND(write_container_file({r.root, "abs/outside", std::nullopt}, "y\n")) == 1);
  CHECK(slurp(r.outside) == "secret\n");
}

TEST_CASE("container files: directories, FIFOs and huge files are refused") {
  Rootfs r;
  ::mkdir((r.root + "/etc/hosts").c_str(), 0755);
  CHECK(ERROR_KIND(write_container_file(r.hosts(), "x")) == 1);
  ::rmdir((r.root + "/etc/hosts").c_str());
  REQUIRE(::mkfifo((r.root + "/etc/hosts").c_str(), 0644) == 0);
  CHECK(ERROR_KIND(read_container_file(r.hosts())) == 1);  // must not block
  CHECK(ERROR_KIND(write_container_file(r.hosts(), "x")) == 1);
  ::unlink((r.root + "/etc/hosts").c_str());
  REQUIRE(::truncate((r.root + "/etc/hosts").c_str(), 0) != 0);
  spit(r.root + "/etc/hosts", "");
  REQUIRE(::truncate((r.root + "/etc/hosts").c_str(), 2l << 30) == 0);  // sparse 2 GiB
  CHECK(ERROR_KIND(read_container_file(r.hosts())) == 1);
  CHECK(ERROR_KIND(write_container_file({r.root, "nodir/hosts", std::nullopt}, "x")) == 1);
}

TEST_CASE("container files: a bind-mount source is rewritten in place; a symlinked one is refused") {
  Rootfs r;
  std::string src = r.t.path + "/podman-hosts";
  spit(src, "127.0.0.1 localhost\n");
  struct stat before {}, after {};
  ::stat(src.c_str(), &before);
  ContainerFileTarget t{r.root, "etc/hosts", src};
  write_container_file(t, merge_block(read_container_file(t), {"1.2.3.4\tweb"}));
  ::stat(src.c_str(), &after);
  CHECK(before.st_ino == after.st_ino);
  CHECK(slurp(src).find("127.0.0.1 localhost") != std::string::npos);
  CHECK(slurp(src).find("1.2.3.4\tweb") != std::string::npos);
  std::string link = r.t.path + "/link";
  REQUIRE(::symlink(r.outside.c_str(), link.c_str()) == 0);
  CHECK(ERROR_KIND(write_container_file({r.root, "etc/hosts", link}, "x")) == 1);
  CHECK(slurp(r.outside) == "secret\n");
}
