#include <catch2/catch.hpp>

#include "config/oci_state.h"
#include "netcore/error.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("OCI state: a runtime's state parses") {
  auto s = parse_oci_state(R"({"ociVersion":"1.0.2","id":"abc123def4567890","status":"creating","pid":4242,
      "bundle":"/var/run/b","annotations":{"io.ocinet.ports":"8080:80"}})");
  CHECK(s.id == "abc123def4567890");
  CHECK(s.pid == 4242);
  CHECK(s.status == "creating");
  CHECK(s.annotations.at("io.ocinet.ports") == "8080:80");
  // poststop: pid 0, no annotations key
  CHECK(parse_oci_state(R"({"id":"x1","status":"stopped","pid":0})").pid == 0);
}

TEST_CASE("OCI state: malformed input is exit 1") {
  for (const char* bad : {"", "{", "[]", "null", R"({"pid":1})", R"({"id":5})", R"({"id":"../../x"})",
                          R"({"id":"a","pid":"1"})", R"({"id":"a","pid":-1})", R"({"id":"a","annotations":{"k":1}})",
                          R"({"id":"a","bundle":"relative"})", R"({"id":"a b"})"}) {
    INFO(bad);
    CHECK(ERROR_KIND(parse_oci_state(bad)) == 1);
  }
  CHECK(ERROR_KIND(parse_oci_state(std::string(2 << 20, ' '))) == 1);
}

TEST_CASE("OCI state: pid must be an integer") {
  // Once read as 1: a fraction, or a number written with an exponent, is not a pid.
  for (const char* bad : {R"({"id":"a","pid":1.5})", R"({"id":"a","pid":1.0})", R"({"id":"a","pid":1e3})",
                          R"({"id":"a","pid":true})", R"({"id":"a","pid":18446744073709551615})",
                          R"({"id":"a","pid":4194305})"}) {
    INFO(bad);
    CHECK(ERROR_KIND(parse_oci_state(bad)) == 1);
  }
  CHECK(parse_oci_state(R"({"id":"a","pid":4194304})").pid == 4194304);
  CHECK(parse_oci_state(R"({"id":"a","pid":null})").pid == 0);
}

TEST_CASE("bundle config: rootfs, hostname, netns path and file mounts") {
  auto b = parse_bundle_config(R"({"root":{"path":"rootfs"},"hostname":"web1",
      "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/x"}]},
      "mounts":[{"destination":"/etc/hosts","source":"/var/lib/c/hosts","type":"bind"},{"destination":"/proc","source":"proc"}]})",
                               "/b");
  CHECK(b.rootfs == "/b/rootfs");
  CHECK(b.hostname == "web1");
  CHECK(b.netns_path == "/run/netns/x");
  CHECK(b.file_mounts.size() == 1);
  CHECK(b.file_mounts.at("/etc/hosts") == "/var/lib/c/hosts");
  CHECK(ERROR_KIND(parse_bundle_config(R"({"root":{}})", "/b")) == 1);
}
