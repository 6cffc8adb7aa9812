#include <catch2/catch.hpp>

#include <set>

#include "base/error.h"
#include "netcore/ipam.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("ipam: allocate skips network, gateway and broadcast; release frees") {
  TempDir t;
  auto net = *parse_ipv4_net("10.9.0.0/29");  // .0 net, .1 gw, .7 broadcast: 5 usable
  LeaseStore s(t.path, net, *parse_ipv4("10.9.0.1"));
  std::set<uint32_t> got;
  for (int i = 0; i < 5; i++) {
    uint32_t ip = s.allocate("c" + std::to_string(i));
    CHECK(net.contains(ip));
    CHECK(ipv4_str(ip) != "10.9.0.1");
    CHECK(ipv4_str(ip) != "10.9.0.0");
    CHECK(ipv4_str(ip) != "10.9.0.7");
    got.insert(ip);
  }
  CHECK(got.size() == 5);
  // Exhausted: exit 1 with a clear message.
  try {
    s.allocate("c5");
    FAIL("allocation in a full subnet succeeded");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK_THAT(e.what(), Catch::Contains("exhausted"));
  }
  uint32_t freed = *got.begin();
  CHECK(s.owner_of(freed) == "c0");
  s.release("someone-else", freed);  // not the owner: no effect
  CHECK(s.owner_of(freed) == "c0");
  s.release("c0", freed);
  CHECK(!s.owner_of(freed));
  CHECK(s.allocate("c6") == freed);
  CHECK(s.find("c6") == freed);
}

TEST_CASE("ipam: static addresses") {
  TempDir t;
  auto net = *parse_ipv4_net("10.9.0.0/24");
  LeaseStore s(t.path, net, *parse_ipv4("10.9.0.1"));
  CHECK(ipv4_str(s.allocate_static("a", *parse_ipv4("10.9.0.50"))) == "10.9.0.50");
  CHECK(ipv4_str(s.allocate_static("a", *parse_ipv4("10.9.0.50"))) == "10.9.0.50");  // idempotent
  CHECK(ERROR_KIND(s.allocate_static("b", *parse_ipv4("10.9.0.50"))) == 1);           // conflict
  CHECK(ERROR_KIND(s.allocate_static("b", *parse_ipv4("10.9.1.5"))) == 1);            // outside
  CHECK(ERROR_KIND(s.allocate_static("b", *parse_ipv4("10.9.0.1"))) == 1);            // gateway
  CHECK(ERROR_KIND(s.allocate_static("b", *parse_ipv4("10.9.0.255"))) == 1);          // broadcast
  // Dynamic allocation never hands out the static one.
  for (int i = 0; i < 60; i++) CHECK(ipv4_str(s.allocate("d" + std::to_string(i))) != "10.9.0.50");
}

TEST_CASE("ipam: ip_range limits dynamic allocation") {
  TempDir t;
  LeaseStore s(t.path, *parse_ipv4_net("10.9.0.0/16"), *parse_ipv4("10.9.0.1"), parse_ipv4_net("10.9.5.0/30"));
  std::set<std::string> got;
  // Inside a /16, the range's own first and last addresses are ordinary hosts.
  for (int i = 0; i < 4; i++) got.insert(ipv4_str(s.allocate(std::to_string(i))));
  CHECK(got == std::set<std::string>{"10.9.5.0", "10.9.5.1", "10.9.5.2", "10.9.5.3"});
  CHECK(ERROR_KIND(s.allocate("x")) == 1);
}
