#include <catch2/catch.hpp>

#include "config/admin_config.h"
#include "config/annotations.h"
#include "config/ports.h"
#include "netcore/setup_plan.h"
#include "base/error.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("ports: every docker -p spelling") {
  auto p = parse_port_spec("80");
  CHECK(p.host_dynamic());
  CHECK(p.ct_start == 80);
  CHECK(p.proto == "tcp");
  p = parse_port_spec("8080:80");
  CHECK(p.host_start == 8080);
  CHECK(p.host_end == 8080);
  CHECK(p.ct_start == 80);
  CHECK(p.host_ip.empty());
  p = parse_port_spec("127.0.0.1:8080:80/udp");
  CHECK(p.host_ip == "127.0.0.1");
  CHECK(p.proto == "udp");
  p = parse_port_spec("[FD00:0:0::0:1]:8080:80");
  CHECK(p.host_ip == "fd00::1");  // one spelling: it keys the port table
  CHECK(p.host_start == 8080);
  CHECK(parse_port_spec("[::]:8080:80/udp").host_ip == "::");
  p = parse_port_spec("[2001:db8::5]::80");
  CHECK(p.host_ip == "2001:db8::5");
  CHECK(p.host_dynamic());
  p = parse_port_spec("8000-8010:80-90/sctp");
  CHECK(p.count() == 11);
  CHECK(p.host_end == 8010);
  CHECK(p.proto == "sctp");
  CHECK(parse_port_spec("0.0.0.0:8080:80").host_ip.empty());
  p = parse_port_spec(":80");
  CHECK(p.host_dynamic());
  p = parse_port_spec("127.0.0.1::80");
  CHECK(p.host_dynamic());
  CHECK(p.host_ip == "127.0.0.1");
  p = parse_port_spec("8000-8005:80");
  CHECK(p.count() == 1);
  CHECK(p.host_end == 8005);
  CHECK(parse_port_list("80,81/udp").size() == 2);
}

TEST_CASE("ports: bad specs are exit-1 errors") {
  for (const char* bad : {"", "0", "65536", "abc", "80/icmp", "8080:", "1:2:3:4", "8010-8000:80", "8000-8001:80-82",
                          "[::1:80:80", "[zz]:80:80", "300.1.1.1:80:80", "80:-1", "80,,81", "8080:80/"}) {
    INFO(bad);
    CHECK(ERROR_KIND(parse_port_list(bad)) == 1);
  }
}

TEST_CASE("ports: the IPv6 loopback parses in any spelling (whether the host can publish on it is setup's call)") {
  for (const char* spec : {"[::1]:8080:80", "[0:0::1]:8080:80/udp", "[::1]::80"}) {
    INFO(spec);
    CHECK(parse_port_spec(spec).host_ip == "::1");
  }
  CHECK(ERROR_KIND(parse_port_spec("[fe80::1%eth0]:80:80")) == 1);
}

TEST_CASE("ports: policy allowed_host_ips matches IPv6 host addresses in any spelling") {
  auto cfg = parse_admin_config(R"({"policy": {"allowed_host_ips": ["FD00:0::1", "10.0.0.1"]}})");
  CHECK(cfg.policy.allowed_host_ips == std::vector<std::string>{"fd00::1", "10.0.0.1"});
  CHECK(parse_port_spec("[fd00:0:0::1]:80:80").host_ip == cfg.policy.allowed_host_ips[0]);
}

TEST_CASE("ports: policy max_published_ports counts ports, ranges included; default 1024") {
  CHECK(default_admin_config().policy.max_published_ports == 1024);
  CHECK(parse_admin_config(R"({"policy": {"max_published_ports": 70000}})").policy.max_published_ports == 70000);
  CHECK(parse_admin_config(R"({"policy": {"max_published_ports": 0}})").policy.max_published_ports == 0);
  for (const char* bad : {R"({"policy": {"max_published_ports": -1}})", R"({"policy": {"max_published_ports": 1.5}})",
                          R"({"policy": {"max_published_ports": "1024"}})", R"({"policy": {"max_published_ports": 99999999999}})",
                          R"({"policy": {"max_published_ports": null}})"}) {
    INFO(bad);
    std::string why;
    try {
      parse_admin_config(bad);
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      why = e.what();
    }
    CHECK_THAT(why, Catch::Contains("max_published_ports"));
  }
  Policy p;
  auto ask = [&](const std::string& ports) {
    Annotations a;
    a.ports = parse_port_list(ports);
    check_policy(p, a, {"bridge"});
  };
  CHECK(ERROR_KIND(ask("1000-1999:1000-1999,8080:80,3000-3022:3000-3022/udp")) == 0);  // 1024
  std::string why;
  try {
    ask("1000-1999:1000-1999,8080:80,3000-3023:3000-3023/udp");  // 1025
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    why = e.what();
  }
  CHECK(why == "policy max_published_ports: io.ocinet.ports asks for 1025 published ports, at most 1024 are allowed");
  CHECK(ERROR_KIND(ask("1-65535:1-65535/udp")) == 1);
  CHECK(ERROR_KIND(ask("8000-9999:80")) == 0);  // a host range for one container port publishes one port
  p.max_published_ports = 65535;
  CHECK(ERROR_KIND(ask("1-65535:1-65535/udp")) == 0);
  p.max_published_ports = 0;
  CHECK(ERROR_KIND(ask("80")) == 1);
}
