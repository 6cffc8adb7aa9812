#include <catch2/catch.hpp>

#include "config/validate.h"

using namespace ocinet;

TEST_CASE("IPv4 prefixes") {
  auto n = parse_ipv4_net("10.1.2.0/24");
  REQUIRE(n);
  CHECK(n->contains(*parse_ipv4("10.1.2.200")));
  CHECK(!n->contains(*parse_ipv4("10.1.3.1")));
  CHECK(n->overlaps(*parse_ipv4_net("10.0.0.0/8")));
  CHECK(!n->overlaps(*parse_ipv4_net("10.1.3.0/24")));
  CHECK(!parse_ipv4_net("10.1.2.1/24"));
  CHECK(parse_ipv4_net("10.1.2.1/24", false)->str() == "10.1.2.0/24");
  for (const char* bad : {"10.1.2.0", "10.1.2.0/33", "10.1.2.0/", "x/8", "10.1.2.0/2a", "1.2.3.4/0008"}) {
    INFO(bad);
    CHECK(!parse_ipv4_net(bad));
  }
}

TEST_CASE("IPv6 prefixes and host indexes") {
  auto n = parse_ipv6_net("fd00:66::/64");
  REQUIRE(n);
  CHECK(n->at(1) == "fd00:66::1");
  CHECK(n->at(258) == "fd00:66::102");
  CHECK(n->index_of("fd00:66::102") == 258u);
  CHECK(!n->index_of("fd00:67::1"));
  CHECK(!n->index_of("fd00:66::1:0:0:5"));  // host part beyond the 32-bit index space
  CHECK(n->capacity() == 0xffffffffu);
  auto small = parse_ipv6_net("fd00:1::100/120");
  REQUIRE(small);
  CHECK(small->capacity() == 255u);
  CHECK(small->at(5) == "fd00:1::105");
  CHECK(small->index_of("fd00:1::1ff") == 255u);
  CHECK(n->overlaps(*parse_ipv6_net("fd00:66::/96")));
  CHECK(!n->overlaps(*parse_ipv6_net("fd00:67::/64")));
  CHECK(!parse_ipv6_net("fd00:66::1/64"));
  CHECK(!parse_ipv6_net("fd00::/129"));
  CHECK(!parse_ipv6_net("zz::/64"));
}

TEST_CASE("names, hostnames, MACs") {
  CHECK(is_valid_name("web-1.a_b"));
  CHECK(!is_valid_name("-web"));
  CHECK(!is_valid_name(""));
  CHECK(!is_valid_name("a/b"));
  CHECK(is_valid_hostname("db.example.com"));
  CHECK(!is_valid_hostname("a..b"));
  CHECK(!is_valid_hostname(std::string(64, 'a')));
  CHECK(is_valid_unicast_mac("02:42:ac:11:00:02"));
  CHECK(!is_valid_unicast_mac("01:00:5e:00:00:01"));
  CHECK(!is_valid_unicast_mac("00:00:00:00:00:00"));
  CHECK(!is_valid_unicast_mac("02:42:ac:11:00:0"));
  CHECK(!is_valid_unicast_mac("02-42-ac-11-00-02"));
}
