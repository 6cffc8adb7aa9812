#include <catch2/catch.hpp>

#include "config/ports.h"
#include "netcore/error.h"
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
  REQUIRE(r.size() == 3);
  CHECK(r[2].host_port == 8002);
  CHECK(r[2].container_port == 82);
  auto d1 = pt.reserve("b", parse_port_list("80"));
  auto d2 = pt.reserve("c", parse_port_list(":80"));
  REQUIRE(d1.size() == 1);
  CHECK(d1[0].host_port >= 32768);
  CHECK(d1[0].host_port != d2[0].host_port);
  auto one = pt.reserve("d", parse_port_list("8000-8005:80"));
  CHECK(one[0].host_port == 8003);  // first free of the range
}
