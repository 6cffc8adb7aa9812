// write_sysctl's read-compare-write on plain files (the same calls it makes on /proc/sys), and
// write_netns_sysctl on a real sysctl with the value it already has (nothing is changed).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "base/error.h"
#include "netcore/netlink.h"
#include "test_util.h"

namespace {
timespec mtime(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mtim;
}
}  // namespace

TEST_CASE("write_sysctl writes a value that differs, over the old one") {
  TempDir d;
  const std::string p = d.path + "/disable_ipv6";
  spit(p, "0\n");
  ocinet::write_sysctl(p, "1");
  CHECK(slurp(p) == "1\n");  // written at offset 0, as a sysctl write is
}

TEST_CASE("write_sysctl leaves a value that is already there alone") {
  TempDir d;
  const std::string p = d.path + "/forwarding";
  spit(p, "1\n");
  const timespec before = mtime(p);
  ocinet::write_sysctl(p, "1");
  const timespec after = mtime(p);
  CHECK(before.tv_sec == after.tv_sec);
  CHECK(before.tv_nsec == after.tv_nsec);
  CHECK(slurp(p) == "1\n");
}

TEST_CASE("write_sysctl skips a sysctl the kernel does not have") {
  TempDir d;
  CHECK(ERROR_KIND(ocinet::write_sysctl(d.path + "/no-such-sysctl", "1")) == 0);
}

TEST_CASE("write_sysctl does not follow a symlink") {
  TempDir d;
  spit(d.path + "/target", "0\n");
  REQUIRE(::symlink((d.path + "/target").c_str(), (d.path + "/link").c_str()) == 0);
  CHECK(ERROR_KIND(ocinet::write_sysctl(d.path + "/link", "1")) == 2);
  CHECK(slurp(d.path + "/target") == "0\n");
}

TEST_CASE("write_netns_sysctl reads a real sysctl of this netns and leaves its value alone") {
  // Without root, fsopen is refused and the /proc fallback opens the file read-only; as root the
  // private procfs instance is used. Either way an equal value means no write.
  std::string cur = slurp("/proc/sys/net/ipv4/ip_forward");
  REQUIRE(!cur.empty());
  cur = cur.substr(0, cur.find('\n'));
  CHECK(ERROR_KIND(ocinet::write_netns_sysctl("net/ipv4/ip_forward", cur)) == 0);
  CHECK(slurp("/proc/sys/net/ipv4/ip_forward").substr(0, cur.size()) == cur);
}
