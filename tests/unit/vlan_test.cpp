#include <catch2/catch.hpp>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "netcore/drivers/vlan.h"
#include "base/error.h"
#include "test_util.h"

using namespace ocinet;

namespace {

// The request's attributes, parsed as the kernel would: top level, IFLA_LINKINFO, INFO_DATA.
struct Parsed {
  nlattr* top[IFLA_MAX + 1] = {};
  nlattr* info[IFLA_INFO_MAX + 1] = {};
  nlattr* data[16] = {};
};

Parsed parse(nl_msg* msg) {
  Parsed p;
  REQUIRE(nlmsg_parse(nlmsg_hdr(msg), sizeof(ifinfomsg), p.top, IFLA_MAX, nullptr) == 0);
  REQUIRE(p.top[IFLA_LINKINFO]);
  REQUIRE(nla_parse_nested(p.info, IFLA_INFO_MAX, p.top[IFLA_LINKINFO], nullptr) == 0);
  if (p.info[IFLA_INFO_DATA]) REQUIRE(nla_parse_nested(p.data, 15, p.info[IFLA_INFO_DATA], nullptr) == 0);
  return p;
}

}  // namespace

TEST_CASE("macvlan request: kind, parent, mode, name, target netns, MAC") {
  nl_msg* msg = build_sublink_request(Driver::macvlan, 7, "private", "eth0", 42, 1400, "02:42:0a:63:01:02");
  auto p = parse(msg);
  CHECK(nlmsg_hdr(msg)->nlmsg_type == RTM_NEWLINK);
  CHECK(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_EXCL);
  CHECK(std::string(nla_get_string(p.info[IFLA_INFO_KIND])) == "macvlan");
  CHECK(nla_get_u32(p.top[IFLA_LINK]) == 7u);
  CHECK(std::string(nla_get_string(p.top[IFLA_IFNAME])) == "eth0");
  CHECK(nla_get_u32(p.top[IFLA_NET_NS_FD]) == 42u);
  CHECK(nla_get_u32(p.top[IFLA_MTU]) == 1400u);
  REQUIRE(p.top[IFLA_ADDRESS]);
  CHECK(nla_len(p.top[IFLA_ADDRESS]) == 6);
  REQUIRE(p.data[IFLA_MACVLAN_MODE]);
  CHECK(nla_get_u32(p.data[IFLA_MACVLAN_MODE]) == MACVLAN_MODE_PRIVATE);
  nlmsg_free(msg);
}

TEST_CASE("ipvlan request: kind, mode, no MAC of its own") {
  for (auto [name, mode] : {std::pair<const char*, int>{"l2", IPVLAN_MODE_L2}, {"l3", IPVLAN_MODE_L3}, {"l3s", IPVLAN_MODE_L3S}}) {
    nl_msg* msg = build_sublink_request(Driver::ipvlan, 3, name, "eth1", 9, 0, "02:42:0a:63:01:02");
    auto p = parse(msg);
    CHECK(std::string(nla_get_string(p.info[IFLA_INFO_KIND])) == "ipvlan");
    REQUIRE(p.data[IFLA_IPVLAN_MODE]);
    CHECK(nla_get_u16(p.data[IFLA_IPVLAN_MODE]) == mode);
    CHECK(!p.top[IFLA_ADDRESS]);  // ipvlan shares the parent's MAC
    nlmsg_free(msg);
  }
}

TEST_CASE("sub-interface requests refuse bad modes and drivers") {
  CHECK(ERROR_KIND(build_sublink_request(Driver::macvlan, 1, "sideways", "eth0", 3, 0, "")) == 1);
  CHECK(ERROR_KIND(build_sublink_request(Driver::ipvlan, 1, "l4", "eth0", 3, 0, "")) == 1);
  CHECK(ERROR_KIND(build_sublink_request(Driver::bridge, 1, "", "eth0", 3, 0, "")) == 1);
}
