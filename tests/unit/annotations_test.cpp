#include <catch2/catch.hpp>

#include "config/annotations.h"
#include "netcore/error.h"
#include "test_util.h"

using namespace ocinet;
using Map = std::map<std::string, std::string>;

static std::string error_of(const Map& m) {
  try {
    parse_annotations(m);
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    return e.what();
  }
  return "";
}

TEST_CASE("annotations: defaults and a full valid set") {
  auto a = parse_annotations({});
  CHECK(a.mode == "bridge");
  CHECK(a.networks.empty());
  a = parse_annotations({{"io.ocinet.mode", "bridge"},
                         {"io.ocinet.network", "front,back"},
                         {"io.ocinet.name", "web"},
                         {"io.ocinet.ip", "172.17.0.9"},
                         {"io.ocinet.mac", "02:42:ac:11:00:09"},
                         {"io.ocinet.ports", "8080:80,127.0.0.1:5353:53/udp"},
                         {"io.ocinet.links", "db:database,cache"},
                         {"io.ocinet.aliases", "www,web.local"},
                         {"io.ocinet.hosts", "printer.lan:10.0.0.5,v6host:fd00::1"},
                         {"io.ocinet.dns", "1.1.1.1,2606:4700:4700::1111"},
                         {"io.ocinet.dns-search", "example.com"},
                         {"io.ocinet.dns-options", "ndots:2"},
                         {"io.ocinet.mtu", "1400"},
                         {"org.example.other", "anything\x01goes here"}});
  CHECK(a.networks == std::vector<std::string>{"front", "back"});
  CHECK(a.name == "web");
  CHECK(a.ports.size() == 2);
  REQUIRE(a.links.size() == 2);
  CHECK(a.links[0].alias == "database");
  CHECK(a.links[1].alias.empty());
  REQUIRE(a.hosts.size() == 2);
  CHECK(a.hosts[1].ip == "fd00::1");
  CHECK(a.mtu == 1400);
  CHECK(parse_annotations({{"io.ocinet.mode", "container:abc123"}}).mode_container == "abc123");
}

TEST_CASE("annotations: runtime name annotations give the default name, io.ocinet.name wins") {
  CHECK(parse_annotations({{"io.kubernetes.cri-o.ContainerName", "app"}}).name == "app");
  CHECK(parse_annotations({{"io.kubernetes.cri-o.ContainerName", "app"}, {"io.ocinet.name", "mine"}}).name == "mine");
  // A hostile runtime-side name is ignored rather than used.
  CHECK(!parse_annotations({{"io.kubernetes.cri-o.ContainerName", "../etc"}}).name);
}

TEST_CASE("annotations: unknown io.ocinet key is an error naming it") {
  CHECK_THAT(error_of({{"io.ocinet.prots", "80"}}), Catch::Contains("io.ocinet.prots") && Catch::Contains("unknown"));
}

TEST_CASE("annotations: hostile values are refused before use") {
  CHECK_THAT(error_of({{"io.ocinet.name", std::string("web\0evil", 8)}}), Catch::Contains("control"));
  CHECK_THAT(error_of({{"io.ocinet.name", "web\nevil"}}), Catch::Contains("control"));
  CHECK_THAT(error_of({{"io.ocinet.hosts", "a:1.2.3.4\r\n6.6.6.6 evil"}}), Catch::Contains("control"));
  CHECK_THAT(error_of({{"io.ocinet.aliases", std::string(100 * 1024, 'a')}}), Catch::Contains("too long"));
  CHECK_THAT(error_of({{"io.ocinet.name", std::string(64, 'a')}}), Catch::Contains("invalid name"));
  CHECK_THAT(error_of({{"io.ocinet.name", "../../etc/passwd"}}), Catch::Contains("invalid name"));
  CHECK_THAT(error_of({{"io.ocinet.network", "ok,../x"}}), Catch::Contains("invalid name"));
  CHECK_THAT(error_of({{"io.ocinet.name", "-rf"}}), Catch::Contains("invalid name"));
  CHECK_THAT(error_of({{"io.ocinet.links", "db:"}}), Catch::Contains("invalid link"));
  CHECK_THAT(error_of({{"io.ocinet.hosts", "nocolon"}}), Catch::Contains("hostname:ip"));
  CHECK_THAT(error_of({{"io.ocinet.hosts", "a b:1.2.3.4"}}), Catch::Contains("invalid hostname"));
  CHECK_THAT(error_of({{"io.ocinet.hosts", "h:1.2.3.999"}}), Catch::Contains("invalid IP"));
  CHECK_THAT(error_of({{"io.ocinet.ip", "172.17.0.300"}}), Catch::Contains("invalid IPv4"));
  CHECK_THAT(error_of({{"io.ocinet.ip6", "fd00::zz"}}), Catch::Contains("invalid IPv6"));
  CHECK_THAT(error_of({{"io.ocinet.mac", "01:00:5e:00:00:01"}}), Catch::Contains("unicast"));
  CHECK_THAT(error_of({{"io.ocinet.mtu", "9999999"}}), Catch::Contains("MTU"));
  CHECK_THAT(error_of({{"io.ocinet.mtu", "20"}}), Catch::Contains("out of range"));
  CHECK_THAT(error_of({{"io.ocinet.mode", "bridged"}}), Catch::Contains("unknown mode"));
  CHECK_THAT(error_of({{"io.ocinet.mode", "container:../x"}}), Catch::Contains("invalid container"));
  CHECK_THAT(error_of({{"io.ocinet.dns", "8.8.8.8;rm"}}), Catch::Contains("invalid IP"));
  CHECK_THAT(error_of({{"io.ocinet.dns-search", "a..b"}}), Catch::Contains("invalid value"));
  CHECK_THAT(error_of({{"io.ocinet.dns-options", "a b"}}), Catch::Contains("invalid value"));
}
