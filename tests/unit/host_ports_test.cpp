#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include "config/ports.h"
#include "base/error.h"
#include "netcore/host_ports.h"
#include "netcore/port_table.h"
#include "test_util.h"

using namespace ocinet;

namespace {

// A host socket as inet_diag reports it (after host_sockets_for's reading of v4-mapped addresses).
HostSocket sock(const std::string& proto, const std::string& addr, uint16_t port, bool v6only = false) {
  HostSocket s;
  s.proto = proto;
  s.port = port;
  s.v6only = v6only;
  s.family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  REQUIRE(inet_pton(s.family, addr.c_str(), &s.addr) == 1);
  return s;
}

PortMapping pub(const std::string& host_ip, uint16_t port, const std::string& proto = "tcp") {
  PortMapping m;
  m.host_ip = host_ip;
  m.host_port = port;
  m.container_port = 80;
  m.proto = proto;
  return m;
}

// The conflicting socket as text, "" when none.
std::string user(const std::vector<HostSocket>& socks, const PortMapping& m, bool has6 = false) {
  const HostSocket* s = host_socket_using(socks, m, has6);
  return s ? s->str() : "";
}

}  // namespace

TEST_CASE("host ports: IPv4 wildcard and specific addresses") {
  std::vector<HostSocket> any = {sock("tcp", "0.0.0.0", 8090)};
  CHECK(user(any, pub("", 8090)) == "0.0.0.0:8090");
  CHECK(user(any, pub("10.88.0.1", 8090)) == "0.0.0.0:8090");
  CHECK(user(any, pub("127.0.0.1", 8090)) == "0.0.0.0:8090");
  CHECK(user(any, pub("", 8091)).empty());
  CHECK(user(any, pub("", 8090, "udp")).empty());
  CHECK(user(any, pub("::", 8090), true).empty());  // an IPv4 socket takes no IPv6 traffic

  std::vector<HostSocket> lo = {sock("tcp", "127.0.0.1", 8091)};
  CHECK(user(lo, pub("", 8091)) == "127.0.0.1:8091");  // every address includes 127.0.0.1
  CHECK(user(lo, pub("127.0.0.1", 8091)) == "127.0.0.1:8091");
  CHECK(user(lo, pub("10.88.0.1", 8091)).empty());
  CHECK(user(lo, pub("127.0.0.2", 8091)).empty());
}

TEST_CASE("host ports: UDP and TCP are separate; SCTP too") {
  std::vector<HostSocket> socks = {sock("udp", "0.0.0.0", 5353), sock("sctp", "10.88.0.1", 9000)};
  CHECK(user(socks, pub("", 5353, "udp")) == "0.0.0.0:5353");
  CHECK(user(socks, pub("", 5353, "tcp")).empty());
  CHECK(user(socks, pub("", 5353, "sctp")).empty());
  CHECK(user(socks, pub("", 9000, "sctp")) == "10.88.0.1:9000");
  CHECK(user(socks, pub("127.0.0.1", 9000, "sctp")).empty());
  CHECK(user(socks, pub("", 9000, "tcp")).empty());
}

TEST_CASE("host ports: IPv6 wildcard, IPV6_V6ONLY and specific IPv6 addresses") {
  std::vector<HostSocket> dual = {sock("tcp", "::", 8092, /*v6only=*/false)};
  CHECK(user(dual, pub("", 8092)) == "[::]:8092");            // [::] without v6only takes IPv4
  CHECK(user(dual, pub("10.88.0.1", 8092)) == "[::]:8092");
  CHECK(user(dual, pub("", 8092), true) == "[::]:8092");
  CHECK(user(dual, pub("fd88::1", 8092), true) == "[::]:8092");
  CHECK(user(dual, pub("::", 8092), true) == "[::]:8092");

  std::vector<HostSocket> only6 = {sock("tcp", "::", 8093, /*v6only=*/true)};
  CHECK(user(only6, pub("", 8093), /*has6=*/false).empty());  // published over IPv4 only
  CHECK(user(only6, pub("10.88.0.1", 8093), true).empty());
  CHECK(user(only6, pub("", 8093), true) == "[::]:8093");
  CHECK(user(only6, pub("::", 8093), true) == "[::]:8093");
  CHECK(user(only6, pub("fd88::1", 8093), true) == "[::]:8093");

  std::vector<HostSocket> one6 = {sock("udp", "fd88::1", 8094, true)};
  CHECK(user(one6, pub("fd88::1", 8094, "udp"), true) == "[fd88::1]:8094");
  CHECK(user(one6, pub("", 8094, "udp"), true) == "[fd88::1]:8094");
  CHECK(user(one6, pub("::", 8094, "udp"), true) == "[fd88::1]:8094");
  CHECK(user(one6, pub("fd88::3", 8094, "udp"), true).empty());
  CHECK(user(one6, pub("", 8094, "udp"), false).empty());
  CHECK(user(one6, pub("10.88.0.1", 8094, "udp"), true).empty());
  // A specific IPv6 address without IPV6_V6ONLY still takes no IPv4 traffic.
  std::vector<HostSocket> one6dual = {sock("tcp", "fd88::1", 8095, false)};
  CHECK(user(one6dual, pub("", 8095), false).empty());
  CHECK(user(one6dual, pub("::1", 8095), true).empty());
}

TEST_CASE("host ports: a given host port in use is exit 1 naming it; picked ports are not checked here") {
  std::vector<HostSocket> socks = {sock("tcp", "0.0.0.0", 8090), sock("udp", "::", 5353, true)};
  try {
    check_host_ports(socks, parse_port_list("7000:70,8089-8090:79-80"), false);
    FAIL("port in use not refused");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK(std::string(e.what()) == "io.ocinet.ports: host port 8090/tcp is in use on the host (0.0.0.0:8090)");
  }
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("8090:80/udp,5353:53"), false)) == 0);
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("5353:53/udp"), false)) == 0);  // v6only, IPv4 container
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("5353:53/udp"), true)) == 1);
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("8090-8091:80"), false)) == 0);  // picked
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("80"), false)) == 0);            // dynamic
  CHECK(ERROR_KIND(check_host_ports({}, parse_port_list("8090:80"), false)) == 0);
}

TEST_CASE("host ports: the port table skips host ports in use when it picks one") {
  TempDir t;
  PortTable pt(t.path);
  std::vector<HostSocket> socks = {sock("tcp", "0.0.0.0", 8100), sock("tcp", "0.0.0.0", kDynamicPortFirst),
                                   sock("tcp", "::", 8103, true)};
  auto busy = [&](bool has6) {
    return [&socks, has6](const PortMapping& m) -> uint16_t {
      const HostSocket* s = host_socket_using(socks, m, has6);
      return s ? s->port : 0;
    };
  };
  auto r = pt.reserve("a", parse_port_list("8100-8101:80"), busy(false));
  REQUIRE(r.size() == 1);
  CHECK(r[0].host_port == 8101);
  auto d = pt.reserve("b", parse_port_list("80"), busy(false));
  CHECK(d[0].host_port == kDynamicPortFirst + 1);
  auto u = pt.reserve("c", parse_port_list("8100-8101:80/udp"), busy(false));
  CHECK(u[0].host_port == 8100);  // only TCP is in use there
  // A given port is not the table's to check against the host (check_host_ports did).
  CHECK(pt.reserve("d", parse_port_list("8103-8103:80-80"), busy(true)).size() == 1);
  CHECK(pt.reserve("e", parse_port_list("8104:81"), busy(true)).size() == 1);
  try {
    pt.reserve("f", parse_port_list("8103-8104:82"), busy(true));  // 8103: the host's (and d's), 8104: e's
    FAIL("no free port, but reserved");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK_THAT(e.what(), Catch::Contains("no free host port in 8103-8104") && Catch::Contains("in use on the host"));
  }
  socks.push_back(sock("tcp", "::", 8107, true));
  CHECK(pt.reserve("g", parse_port_list("8107-8108:83"), busy(false))[0].host_port == 8107);  // v6only: IPv4 free
  CHECK(pt.reserve("h", parse_port_list("8107-8108:84"), busy(true))[0].host_port == 8108);   // 8107: host's, g's
  // A block of picked ports for a container range goes past a port the host uses inside it.
  socks.push_back(sock("udp", "0.0.0.0", kDynamicPortFirst + 3));
  auto block = pt.reserve("i", parse_port_list("53-62/udp"), busy(false));
  REQUIRE(block.size() == 1);
  CHECK(block[0].host_port == kDynamicPortFirst + 4);
  CHECK(block[0].host_last() == kDynamicPortFirst + 13);
}

TEST_CASE("host ports: a range is checked against the host in one pass, naming the port in use") {
  std::vector<HostSocket> socks = {sock("tcp", "0.0.0.0", 8090), sock("udp", "127.0.0.1", 40000)};
  PortMapping range{"", 8000, 8000, "tcp", 8999};
  CHECK(user(socks, range) == "0.0.0.0:8090");
  range.host_port_end = 8089;
  CHECK(user(socks, range).empty());
  CHECK(user(socks, PortMapping{"127.0.0.1", 1, 1, "udp", 65535}) == "127.0.0.1:40000");
  CHECK(user(socks, PortMapping{"10.0.0.1", 1, 1, "udp", 65535}).empty());
  try {
    check_host_ports(socks, parse_port_list("1-65535:1-65535/udp"), false);
    FAIL("a host UDP socket inside the range was not refused");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "io.ocinet.ports: host port 40000/udp is in use on the host (127.0.0.1:40000)");
  }
  CHECK(ERROR_KIND(check_host_ports(socks, parse_port_list("41000-65535:41000-65535/udp,8091-9000:8091-9000"), false)) == 0);
}

TEST_CASE("host ports: a host socket prints as an address a user can read") {
  CHECK(sock("tcp", "0.0.0.0", 80).str() == "0.0.0.0:80");
  CHECK(sock("udp", "fd88::1", 53).str() == "[fd88::1]:53");
}
