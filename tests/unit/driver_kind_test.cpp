// The driver enum: parsed once from the strings on disk, written back as the same strings.
#include <catch2/catch.hpp>
#include <filesystem>

#include "netcore/driver_kind.h"
#include "netcore/endpoint_record.h"
#include "base/error.h"
#include "netcore/network_store.h"
#include "test_util.h"

using namespace ocinet;

namespace {

// Network files as the previous build (0.1.0, before the enum) wrote them with
// `ocinet network create`; the overlay one as it is stored in etcd.
const char* const kFxbr = R"({
  "bridge": "ocbr-f323fe0b5f",
  "created": "2026-12-06T03:17:09Z",
  "dns_enabled": true,
  "dns_servers": [
    "9.9.9.9"
  ],
  "driver": "bridge",
  "gateway": "10.231.0.1",
  "gateway6": "fd00:231::1",
  "id": "f323fe0b5f4bfa54254cd5715982f90c2aa7f465894d9f8fea1a495e7cc49725",
  "internal": false,
  "ipv6": true,
  "mtu": 0,
  "name": "fxbr",
  "options": {
    "mcast_snooping": "true"
  },
  "subnet": "10.231.0.0/24",
  "subnet6": "fd00:231::/64"
}
)";
const char* const kFxmv = R"({
  "bridge": "",
  "created": "2026-12-06T03:17:09Z",
  "dns_enabled": true,
  "driver": "macvlan",
  "gateway": "10.232.0.1",
  "id": "e051530b08c8e286e41ce006cad9212773a5dc21424de0df6ca122e09306a75e",
  "internal": true,
  "ipv6": false,
  "mtu": 0,
  "name": "fxmv",
  "options": {
    "macvlan_mode": "private",
    "parent": "eth0"
  },
  "subnet": "10.232.0.0/24"
}
)";
const char* const kFxipv = R"({
  "bridge": "",
  "created": "2026-12-06T03:17:09Z",
  "dns_enabled": false,
  "driver": "ipvlan",
  "gateway": "10.233.0.1",
  "id": "78c951d52bf62592b489543c1facd30cacb51f291bb2f825d240593578ed99f6",
  "internal": false,
  "ipv6": false,
  "mtu": 0,
  "name": "fxipv",
  "options": {
    "parent": "eth0"
  },
  "subnet": "10.233.0.0/24"
}
)";
const char* const kOv1 = R"({
  "bridge": "",
  "created": "2026-12-06T03:17:09Z",
  "dns_enabled": true,
  "driver": "overlay",
  "gateway": "10.200.0.1",
  "id": "4e1c000000000000000000000000000000000000000000000000000000000000",
  "internal": false,
  "ipv6": false,
  "mtu": 1450,
  "name": "ov1",
  "options": {
    "com.docker.network.driver.overlay.vxlanid_list": "4096"
  },
  "subnet": "10.200.0.0/24"
}
)";
// A record in the format of the previous build: one attachment per driver.
const char* const kRecord = R"({"attachments":[{"aliases":["db"],"bridge":"ocbr-f323fe0b5f","default_route":true,"driver":"bridge","gateway":"10.231.0.1","gateway6":"fd00:231::1","host_ifname":"oc-c0ffee-0","ifname":"eth0","internal":false,"ip":"10.231.0.2","ip6":"fd00:231::2","mac":"02:42:0a:e7:00:02","mtu":0,"network":"fxbr","prefix":24,"prefix6":64},{"aliases":[],"bridge":"","default_route":false,"driver":"macvlan","gateway":"10.232.0.1","gateway6":"","host_ifname":"","ifname":"eth1","internal":true,"ip":"10.232.0.2","ip6":"","mac":"02:42:0a:e8:00:02","mtu":0,"network":"fxmv","prefix":24,"prefix6":0},{"aliases":[],"bridge":"","default_route":false,"driver":"ipvlan","gateway":"10.233.0.1","gateway6":"","host_ifname":"","ifname":"eth2","internal":false,"ip":"10.233.0.2","ip6":"","mac":"","mtu":0,"network":"fxipv","prefix":24,"prefix6":0},{"aliases":[],"bridge":"ocov-1000","default_route":false,"driver":"overlay","gateway":"","gateway6":"","host_ifname":"oc-c0ffee-3","ifname":"eth3","internal":false,"ip":"10.200.0.2","ip6":"","mac":"02:42:0a:c8:00:02","mtu":1450,"network":"ov1","prefix":24,"prefix6":0}],"hostname":"","hosts_source":"","id":"c0ffee","mode":"bridge","name":"web","netns":"/proc/4242/ns/net","netns_id":"4:4026532290","owner":"","pid":4242,"ports":[{"container_port":80,"host_ip":"","host_port":8080,"proto":"tcp"}],"rootfs":"/b/rootfs","state":"ready","steps":["name","lease:0","lease:1","lease:2","lease:3","ports","veth:0","veth:1","veth:2","veth:3","endpoint:3","firewall","peers"],"tag":"c0ffee"}
)";
// A record of the release before macvlan: its attachments name no driver.
const char* const kPreMacvlanRecord = R"({"id":"0ld","name":"old","mode":"bridge","state":"ready","pid":0,"netns":"/run/netns/x",
  "attachments":[{"network":"bridge","bridge":"ocinet0","host_ifname":"oc1","ifname":"eth0","ip":"172.17.0.2","prefix":16,
  "gateway":"172.17.0.1","mac":"02:42:ac:11:00:02","mtu":0}],"ports":[],"steps":["name","lease:0","veth:0","firewall"]})";

}  // namespace

TEST_CASE("driver names parse to the enum and print back") {
  for (const char* name : {"bridge", "macvlan", "ipvlan", "overlay"}) CHECK(to_string(driver_from_string(name)) == name);
  CHECK_FALSE(parse_driver("Bridge"));
  CHECK(ERROR_KIND(driver_from_string("weird")) == 1);
  CHECK_THROWS_WITH(driver_from_string("weird"), Catch::Contains("\"weird\""));
  CHECK(has_nat(Driver::bridge));
  CHECK_FALSE(has_nat(Driver::overlay));
  CHECK(is_subinterface(Driver::ipvlan));
  CHECK_FALSE(is_subinterface(Driver::overlay));
}

TEST_CASE("network files of the previous build load and save back byte for byte") {
  TempDir t;
  std::filesystem::create_directories(t.path + "/networks");
  const std::pair<const char*, Driver> files[] = {
      {kFxbr, Driver::bridge}, {kFxmv, Driver::macvlan}, {kFxipv, Driver::ipvlan}, {kOv1, Driver::overlay}};
  NetworkStore store(t.path);
  for (const auto& [text, driver] : files) {
    NetworkDef n = network_from_json(text);
    CHECK(n.driver == driver);
    spit(t.path + "/networks/" + n.name + ".json", text);
    auto loaded = store.load(n.name);
    REQUIRE(loaded);
    store.save(*loaded);
    CHECK(slurp(t.path + "/networks/" + n.name + ".json") == text);
  }
  CHECK(ERROR_KIND(network_from_json(R"({"name":"x","id":"1","driver":"weird","bridge":"","subnet":"10.0.0.0/24","gateway":"10.0.0.1"})")) == 2);
}

TEST_CASE("endpoint records of earlier releases load and save back byte for byte") {
  TempDir t;
  std::filesystem::create_directories(t.path + "/endpoints");
  RecordStore records(t.path);
  spit(t.path + "/endpoints/c0ffee.json", kRecord);
  auto r = records.load("c0ffee");
  REQUIRE(r);
  REQUIRE(r->attachments.size() == 4);
  CHECK(r->attachments[0].driver == Driver::bridge);
  CHECK(r->attachments[1].driver == Driver::macvlan);
  CHECK(r->attachments[2].driver == Driver::ipvlan);
  CHECK(r->attachments[3].driver == Driver::overlay);
  records.save(*r);
  CHECK(slurp(t.path + "/endpoints/c0ffee.json") == kRecord);

  spit(t.path + "/endpoints/0ld.json", kPreMacvlanRecord);
  auto old = records.load("0ld");
  REQUIRE(old);
  CHECK(old->attachments[0].driver == Driver::bridge);

  std::string weird = kRecord;
  weird.replace(weird.find("\"ipvlan\""), 8, "\"vlan\"");
  spit(t.path + "/endpoints/c0ffee.json", weird);
  CHECK(ERROR_KIND(records.load("c0ffee")) == 2);  // corrupt, as any malformed record
}
