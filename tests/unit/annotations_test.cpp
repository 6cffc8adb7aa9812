#include <catch2/catch.hpp>

#include "config/annotations.h"
#include "base/error.h"
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
  CHECK_THAT(error_of({{"io.ocinet.dns-search", "a..b"}}), Catch::Contains("invalid search domain"));
  CHECK_THAT(error_of({{"io.ocinet.dns-options", "a b"}}), Catch::Contains("unknown option"));
}

TEST_CASE("annotations: a network listed twice is refused, naming it") {
  // Once gave eth0 and eth1 on the same network, with two addresses.
  auto msg = error_of({{"io.ocinet.network", "unet,unet"}});
  CHECK_THAT(msg, Catch::Contains("io.ocinet.network") && Catch::Contains("\"unet\"") && Catch::Contains("twice"));
  CHECK_THAT(error_of({{"io.ocinet.network", "a,b,a"}}), Catch::Contains("\"a\""));
  CHECK(parse_annotations({{"io.ocinet.network", "a,b"}}).networks.size() == 2);
}

TEST_CASE("annotations: dns-search takes search domains only") {
  for (const char* bad : {"$(reboot)", "a..b", "x.com..", ".", "", "a,,b", "-rf.example", "a-.example", "a b",
                          "example.com;reboot", "a/b", "a`id`"}) {
    INFO(bad);
    auto msg = error_of({{"io.ocinet.dns-search", bad}});
    CHECK_THAT(msg, Catch::Contains("io.ocinet.dns-search"));
  }
  CHECK_THAT(error_of({{"io.ocinet.dns-search", "good.com,$(reboot)"}}), Catch::Contains("\"$(reboot)\""));
}

TEST_CASE("annotations: dns-search domains may end with one dot; the search line is bounded") {
  auto a = parse_annotations({{"io.ocinet.dns-search", "example.com,corp.example.com.,lan,_tcp.x"}});
  CHECK(a.dns_search == std::vector<std::string>{"example.com", "corp.example.com.", "lan", "_tcp.x"});
  // At most 6 domains (glibc before 2.26 kept no more) on a line musl does not ignore.
  CHECK(parse_annotations({{"io.ocinet.dns-search", "a,b,c,d,e,f"}}).dns_search.size() == 6);
  CHECK_THAT(error_of({{"io.ocinet.dns-search", "a,b,c,d,e,f,g"}}), Catch::Contains("at most 6"));
  std::string label(60, 'x'), d = label + "." + label;  // 121 characters
  CHECK(parse_annotations({{"io.ocinet.dns-search", d + "," + d.substr(0, 100)}}).dns_search.size() == 2);
  CHECK_THAT(error_of({{"io.ocinet.dns-search", d + "," + d + "," + d}}), Catch::Contains("at most 247"));
}

TEST_CASE("annotations: dns-options take the resolver's options with arguments in range") {
  auto a = parse_annotations({{"io.ocinet.dns-options",
                               "ndots:0,ndots:15,timeout:1,timeout:30,attempts:1,attempts:5,rotate,no-check-names,inet6,"
                               "ip6-bytestring,ip6-dotint,no-ip6-dotint,edns0,single-request,single-request-reopen,"
                               "no-tld-query,use-vc,no-reload,trust-ad,no-aaaa"}});
  CHECK(a.dns_options.size() == 20);
  CHECK(a.dns_options[0] == "ndots:0");
  for (const char* bad : {"$(reboot)", "reboot", "ndots", "ndots:", "ndots:16", "ndots:-1", "ndots:+1", "ndots:1x",
                          "ndots:99999999999999999999", "timeout:0", "timeout:31", "attempts:0", "attempts:6",
                          "rotate:1", "edns0:", "ndots:1:2", "NDOTS:1", "", "debug"}) {
    INFO(bad);
    auto msg = error_of({{"io.ocinet.dns-options", bad}});
    CHECK_THAT(msg, Catch::Contains("io.ocinet.dns-options") && Catch::Contains("\"" + std::string(bad) + "\""));
  }
  CHECK_THAT(error_of({{"io.ocinet.dns-options", "edns0,$(reboot)"}}), Catch::Contains("\"$(reboot)\""));
}
