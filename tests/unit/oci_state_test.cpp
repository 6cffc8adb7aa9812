#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "config/oci_state.h"
#include "base/error.h"
#include "netcore/fsutil.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("OCI state: a runtime's state parses") {
  auto s = parse_oci_state(R"({"ociVersion":"1.0.2","id":"abc123def4567890","status":"creating","pid":4242,
      "bundle":"/var/run/b","annotations":{"io.ocinet.ports":"8080:80"}})");
  CHECK(s.id == "abc123def4567890");
  CHECK(s.pid == 4242);
  CHECK(s.status == "creating");
  CHECK(s.annotations.at("io.ocinet.ports") == "8080:80");
  // poststop: pid 0, no annotations key
  CHECK(parse_oci_state(R"({"id":"x1","status":"stopped","pid":0})").pid == 0);
}

TEST_CASE("OCI state: malformed input is exit 1") {
  for (const char* bad : {"", "{", "[]", "null", R"({"pid":1})", R"({"id":5})", R"({"id":"../../x"})",
                          R"({"id":"a","pid":"1"})", R"({"id":"a","pid":-1})", R"({"id":"a","annotations":{"k":1}})",
                          R"({"id":"a","bundle":"relative"})", R"({"id":"a b"})"}) {
    INFO(bad);
    CHECK(ERROR_KIND(parse_oci_state(bad)) == 1);
  }
  CHECK(ERROR_KIND(parse_oci_state(std::string(2 << 20, ' '))) == 1);
}

TEST_CASE("OCI state: pid must be an integer") {
  // Once read as 1: a fraction, or a number written with an exponent, is not a pid.
  for (const char* bad : {R"({"id":"a","pid":1.5})", R"({"id":"a","pid":1.0})", R"({"id":"a","pid":1e3})",
                          R"({"id":"a","pid":true})", R"({"id":"a","pid":18446744073709551615})",
                          R"({"id":"a","pid":4194305})"}) {
    INFO(bad);
    CHECK(ERROR_KIND(parse_oci_state(bad)) == 1);
  }
  CHECK(parse_oci_state(R"({"id":"a","pid":4194304})").pid == 4194304);
  CHECK(parse_oci_state(R"({"id":"a","pid":null})").pid == 0);
}

TEST_CASE("bundle config: rootfs, hostname, netns path and file mounts") {
  auto b = parse_bundle_config(R"({"root":{"path":"rootfs"},"hostname":"web1",
      "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/x"}]},
      "mounts":[{"destination":"/etc/hosts","source":"/var/lib/c/hosts","type":"bind"},{"destination":"/proc","source":"proc"}]})",
                               "/b");
  CHECK(b.rootfs == "/b/rootfs");
  CHECK(b.hostname == "web1");
  CHECK(b.netns_path == "/run/netns/x");
  CHECK(b.file_mounts.size() == 1);
  CHECK(b.file_mounts.at("/etc/hosts") == "/var/lib/c/hosts");
  CHECK(ERROR_KIND(parse_bundle_config(R"({"root":{}})", "/b")) == 1);
}

namespace {

// The message of the error load_bundle_config throws ("" when it returns).
std::string bundle_error(const std::string& dir) {
  try {
    load_bundle_config(dir);
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bundle config: config.json is read only when it is a regular file of at most 1 MiB") {
  TempDir d;
  const std::string cfg = d.path + "/config.json";
  spit(d.path + "/real.json", R"({"root":{"path":"rootfs"},"hostname":"h1"})");
  REQUIRE(::symlink("real.json", cfg.c_str()) == 0);
  CHECK(load_bundle_config(d.path).hostname == "h1");  // a symlink to a regular file is fine

  std::remove(cfg.c_str());
  REQUIRE(::symlink("/dev/zero", cfg.c_str()) == 0);  // once read until memory ran out
  CHECK_THAT(bundle_error(d.path), Catch::Contains("config.json: " + cfg + " is not a regular file"));

  std::remove(cfg.c_str());
  REQUIRE(::mkdir(cfg.c_str(), 0700) == 0);
  CHECK_THAT(bundle_error(d.path), Catch::Contains("is not a regular file"));
  ::rmdir(cfg.c_str());

  // A 100 MB sparse file: refused by its size, before a byte of it is read.
  { std::ofstream(cfg.c_str()); }
  REQUIRE(::truncate(cfg.c_str(), 100 << 20) == 0);
  CHECK_THAT(bundle_error(d.path), Catch::Contains("config.json: " + cfg + " is larger than 1 MiB"));

  std::remove(cfg.c_str());
  CHECK_THAT(bundle_error(d.path), Catch::Contains(cfg));
}

TEST_CASE("bundle config: a FIFO config.json is refused at once, never opened") {
  TempDir d;
  const std::string cfg = d.path + "/config.json";
  REQUIRE(::mkfifo(cfg.c_str(), 0600) == 0);
  // Once the hook hung in open() until a writer came. A writer that comes if a reader is
  // blocked there turns a regression into a failure rather than a hang.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 100 && !done; i++) {
      int fd = ::open(cfg.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // ENXIO while no reader
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::string msg = bundle_error(d.path);
  done = true;
  writer.join();
  CHECK_THAT(msg, Catch::Contains("config.json: " + cfg + " is not a regular file"));
}

TEST_CASE("read_regular_file: at most `limit` bytes, even where the size says 0") {
  auto read_error = [](const std::string& path, size_t limit) -> std::string {
    try {
      read_regular_file(path, limit);
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      return e.what();
    }
    return "";
  };
  TempDir d;
  spit(d.path + "/f", "0123456789");
  CHECK(read_regular_file(d.path + "/f", 10) == "0123456789");
  CHECK_THAT(read_error(d.path + "/f", 9), Catch::Contains(d.path + "/f is larger than 9 bytes"));
  CHECK(!read_regular_file(d.path + "/absent", 10));
  // /proc files are regular with st_size 0: the bound holds while reading too.
  CHECK_THAT(read_error("/proc/self/status", 16), Catch::Contains("is larger than 16 bytes"));
}
