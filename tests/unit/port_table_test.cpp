#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "config/ports.h"
#include "netcore/endpoint_record.h"
#include "base/error.h"
#include "netcore/fsutil.h"
#include "netcore/port_table.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("port table: conflicts name the holder; all or nothing") {
  TempDir t;
  PortTable pt(t.path);
  auto a = pt.reserve("aaaaaaaaaaaa1111", parse_port_list("8080:80,127.0.0.1:9090:90/udp"));
  REQUIRE(a.size() == 2);
  CHECK(a[0].host_port == 8080);
  // Same port, other proto: fine. Same tcp port: conflict naming the holder.
  CHECK(pt.reserve("b", parse_port_list("8080:80/udp")).size() == 1);
  try {
    pt.reserve("c", parse_port_list("7000:70,8080:81"));
    FAIL("conflict not detected");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK_THAT(e.what(), Catch::Contains("aaaaaaaaaaaa") && Catch::Contains("8080"));
  }
  // All or nothing: 7000 was released when 8080 failed.
  CHECK(pt.reserve("d", parse_port_list("7000:70")).size() == 1);
  // Specific address vs wildcard.
  CHECK(ERROR_KIND(pt.reserve("e", parse_port_list("10.0.0.1:8080:80"))) == 1);
  CHECK(pt.reserve("e", parse_port_list("10.0.0.1:9090:90/udp")).size() == 1);  // 127.0.0.1 holds it, not 10.0.0.1
  CHECK(ERROR_KIND(pt.reserve("f", parse_port_list("9090:90/udp"))) == 1);      // wildcard vs specific
  pt.release("aaaaaaaaaaaa1111", a);
  CHECK(pt.reserve("g", parse_port_list("8080:80")).size() == 1);
}

TEST_CASE("port table: ranges and dynamic host ports") {
  TempDir t;
  PortTable pt(t.path);
  auto r = pt.reserve("a", parse_port_list("8000-8002:80-82"));
  REQUIRE(r.size() == 1);  // one mapping for the range (before ranges: one per port)
  CHECK(r[0].host_port == 8000);
  CHECK(r[0].host_last() == 8002);
  CHECK(r[0].container_port == 80);
  CHECK(r[0].container_last() == 82);
  auto d1 = pt.reserve("b", parse_port_list("80"));
  auto d2 = pt.reserve("c", parse_port_list(":80"));
  REQUIRE(d1.size() == 1);
  CHECK(d1[0].host_port >= 32768);
  CHECK(d1[0].host_port != d2[0].host_port);
  auto one = pt.reserve("d", parse_port_list("8000-8005:80"));
  CHECK(one[0].host_port == 8003);  // first free of the range
}

namespace {

// Ownership marks under the table's directory (symlinks), wherever they are.
int marks_under(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::end(it); it.increment(ec))
    n += it->is_symlink();
  return n;
}

}  // namespace

TEST_CASE("port table: a range is one mapping and one mark, however long") {
  TempDir t;
  PortTable pt(t.path);
  auto r = pt.reserve("a", parse_port_list("1-65535:1-65535/udp"));
  REQUIRE(r.size() == 1);
  CHECK(r[0].host_port == 1);
  CHECK(r[0].host_last() == 65535);
  CHECK(r[0].container_port == 1);
  CHECK(r[0].count() == 65535);
  CHECK(r[0].keeps_port());
  CHECK(marks_under(t.path) == 1);
  auto s = pt.reserve("b", parse_port_list("9000-9009:80-89"));
  REQUIRE(s.size() == 1);
  CHECK(s[0].host_port == 9000);
  CHECK(s[0].host_last() == 9009);
  CHECK(s[0].container_port == 80);
  CHECK(s[0].container_last() == 89);
  CHECK(!s[0].keeps_port());
  CHECK(marks_under(t.path) == 2);
  pt.release("a", r);
  pt.release("b", s);
  CHECK(marks_under(t.path) == 0);
}

TEST_CASE("port table: ranges overlap single ports and other ranges of the same proto and address") {
  TempDir t;
  PortTable pt(t.path);
  auto a = pt.reserve("aaaaaaaaaaaa1111", parse_port_list("8000-8999:8000-8999"));
  std::string why;
  try {
    pt.reserve("b", parse_port_list("7000:70,8500:85"));
    FAIL("a single port inside a range was reserved");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    why = e.what();
  }
  CHECK(why == "port 8500/tcp is already published by container aaaaaaaaaaaa1111");
  try {
    pt.reserve("b", parse_port_list("8990-9010:8990-9010"));
    FAIL("an overlapping range was reserved");
  } catch (const Error& e) {
    why = e.what();
  }
  CHECK(why == "port 8990-8999/tcp is already published by container aaaaaaaaaaaa1111");  // the overlap, named
  CHECK(marks_under(t.path) == 1);  // all or nothing: 7000 went back
  CHECK(pt.reserve("c", parse_port_list("7999:79,9000:90")).size() == 2);   // the neighbours are free
  CHECK(pt.reserve("d", parse_port_list("8500:85/udp")).size() == 1);        // another proto
  CHECK(ERROR_KIND(pt.reserve("e", parse_port_list("10.0.0.1:8100-8200:8100-8200"))) == 1);  // wildcard holds it
  // Specific addresses: each conflicts with itself and with the wildcard, not with another address.
  CHECK(pt.reserve("f", parse_port_list("10.0.0.1:6000-6099:6000-6099")).size() == 1);
  CHECK(pt.reserve("g", parse_port_list("10.0.0.2:6050:60")).size() == 1);
  CHECK(ERROR_KIND(pt.reserve("h", parse_port_list("10.0.0.1:6099:60"))) == 1);
  CHECK(ERROR_KIND(pt.reserve("h", parse_port_list("6000-6010:60-70"))) == 1);      // wildcard over f's
  CHECK(ERROR_KIND(pt.reserve("h", parse_port_list("[::]:6000-6010:60-70"))) == 0); // "::" is an address of its own
  // Two ranges of one request collide with each other too.
  CHECK(ERROR_KIND(pt.reserve("i", parse_port_list("5000-5010:50-60,5010-5020:50-60"))) == 1);
  pt.release("aaaaaaaaaaaa1111", a);
  CHECK(pt.reserve("j", parse_port_list("8500:85")).size() == 1);
}

TEST_CASE("port table: picked host ports for a container range are one block in a row") {
  TempDir t;
  PortTable pt(t.path);
  auto first = pt.reserve("a", parse_port_list("80-89"));
  REQUIRE(first.size() == 1);
  CHECK(first[0].host_port == kDynamicPortFirst);
  CHECK(first[0].host_last() == kDynamicPortFirst + 9);
  CHECK(first[0].container_port == 80);
  CHECK(marks_under(t.path) == 1);
  // The next block starts after it; a single picked port in a host range skips a held range.
  auto second = pt.reserve("b", parse_port_list(":80-84"));
  CHECK(second[0].host_port == kDynamicPortFirst + 10);
  CHECK(second[0].host_last() == kDynamicPortFirst + 14);
  auto one = pt.reserve("c", parse_port_list(std::to_string(kDynamicPortFirst + 5) + "-" +
                                             std::to_string(kDynamicPortFirst + 20) + ":80"));
  CHECK(one[0].host_port == kDynamicPortFirst + 15);
  CHECK(!one[0].is_range());
  // A block that does not fit: exit 1, saying so.
  try {
    pt.reserve("d", parse_port_list("1-30000"));
    FAIL("30000 ports picked from a dynamic range of 28232");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK_THAT(e.what(), Catch::Contains("no 30000 free host ports in a row in 32768-60999"));
  }
}

TEST_CASE("port table: one-port marks of the release before ranges still count and are released") {
  TempDir t;
  // RUN/ports/<proto>/<port>/<addr>, as the previous release wrote them.
  std::filesystem::create_directories(t.path + "/tcp/7000");
  std::filesystem::create_directories(t.path + "/tcp/7001");
  std::filesystem::create_symlink("oldcontainer1", t.path + "/tcp/7000/all");
  std::filesystem::create_symlink("oldcontainer1", t.path + "/tcp/7001/127.0.0.1");
  PortTable pt(t.path);
  std::string why;
  try {
    pt.reserve("new", parse_port_list("6990-7010:6990-7010"));
  } catch (const Error& e) {
    why = e.what();
  }
  CHECK(why == "port 7000/tcp is already published by container oldcontainer1");  // the lowest one in the way
  CHECK(ERROR_KIND(pt.reserve("new", parse_port_list("127.0.0.1:7001:70"))) == 1);
  auto elsewhere = pt.reserve("other", parse_port_list("10.0.0.1:7001:70"));
  CHECK(elsewhere.size() == 1);
  pt.release("other", elsewhere);
  // The old record has one entry per port; releasing it takes the marks and their directories.
  PortMapping m7000{"", 7000, 70, "tcp"}, m7001{"127.0.0.1", 7001, 71, "tcp"};
  pt.release("someone-else", {m7000});
  CHECK(std::filesystem::is_symlink(t.path + "/tcp/7000/all"));
  pt.release("oldcontainer1", {m7000, m7001});
  CHECK(!std::filesystem::exists(t.path + "/tcp/7000"));
  CHECK(!std::filesystem::exists(t.path + "/tcp/7001/127.0.0.1"));
  CHECK(pt.reserve("new", parse_port_list("6990-7010:6990-7010")).size() == 1);
}

TEST_CASE("port table: hooks reserving overlapping ranges at once, under the allocation lock, get one each") {
  TempDir t;
  constexpr int kProcs = 8;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; i++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Pairs ask for the same ports (0-1: 8000-8099 and 8050-8149, ...); every pair shares one range.
      const int base = 8000 + (i / 2) * 1000 + (i % 2) * 50;
      int code = 0;
      try {
        FileLock lock(t.path + "/alloc.lock");  // as setup.cpp takes it around reserve
        PortTable(t.path).reserve("c" + std::to_string(i),
                                  parse_port_list(std::to_string(base) + "-" + std::to_string(base + 99) + ":80-179"));
      } catch (const Error& e) {
        code = e.exit_code() == 1 ? 3 : 4;
      }
      _exit(code);
    }
    pids.push_back(pid);
  }
  int won = 0, refused = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    won += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    refused += WIFEXITED(status) && WEXITSTATUS(status) == 3;
  }
  CHECK(won == kProcs / 2);
  CHECK(refused == kProcs / 2);
  CHECK(marks_under(t.path) == kProcs / 2);
}

TEST_CASE("records: a range is one entry; a record of the release before ranges loads as single ports") {
  TempDir t;
  RecordStore records(t.path);
  EndpointRecord r;
  r.id = "rng";
  r.name = "rng";
  r.netns = "/proc/1/ns/net";
  r.ports = {PortMapping{"", 8000, 8000, "tcp", 8999}, PortMapping{"127.0.0.1", 5353, 53, "udp"}};
  records.save(r);
  const std::string text = slurp(t.path + "/endpoints/rng.json");
  CHECK_THAT(text, Catch::Contains("\"host_port_end\":8999"));
  CHECK(text.find("\"host_port_end\"") == text.rfind("\"host_port_end\""));  // single ports have none
  auto back = records.load("rng");
  REQUIRE(back);
  REQUIRE(back->ports.size() == 2);
  CHECK(back->ports[0].host_last() == 8999);
  CHECK(back->ports[0].count() == 1000);
  CHECK(!back->ports[1].is_range());
  spit(t.path + "/endpoints/old.json",
       R"({"id":"old","name":"old","mode":"bridge","state":"ready","pid":1,"netns":"/proc/1/ns/net","attachments":[],)"
       R"("ports":[{"host_ip":"","host_port":8000,"container_port":80,"proto":"tcp"},)"
       R"({"host_ip":"","host_port":8001,"container_port":81,"proto":"tcp"}],"steps":["ports"]})");
  auto old = records.load("old");
  REQUIRE(old);
  REQUIRE(old->ports.size() == 2);
  CHECK(old->ports[1].host_port == 8001);
  CHECK(old->ports[1].count() == 1);
  CHECK(old->ports[1].container_port == 81);
}
