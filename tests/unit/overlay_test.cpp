#include <catch2/catch.hpp>

#include "config/admin_config.h"
#include "netcore/discovery.h"
#include "base/error.h"
#include "netcore/overlay/agent.h"
#include "netcore/overlay/etcd.h"
#include "netcore/overlay/overlay.h"

using namespace ocinet;

TEST_CASE("base64 round-trips every byte and refuses malformed input") {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("/ocinet/v1/net/x"),
                        std::string("\0\xff\x10\n", 4)}) {
    auto enc = base64_encode(s);
    CHECK(enc.size() % 4 == 0);
    CHECK(base64_decode(enc) == s);
  }
  CHECK(base64_encode("/a/x") == "L2EveA==");  // as etcd's gateway spells it
  CHECK(base64_encode("v1") == "djE=");
  CHECK_FALSE(base64_decode("abc"));      // not a multiple of 4
  CHECK_FALSE(base64_decode("ab=c"));     // padding in the middle
  CHECK_FALSE(base64_decode("a\nbc"));    // control byte
  CHECK_FALSE(base64_decode("====="));
}

TEST_CASE("prefix_end is the first key after every key with the prefix") {
  CHECK(prefix_end("/ocinet/v1/") == "/ocinet/v10");
  CHECK(prefix_end("a") == "b");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
  CHECK(prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("endpoint values from other hosts are validated before use") {
  overlay::Endpoint e{"c0ffee" + std::string(58, 'a'), "web", "", "10.200.0.7", "02:42:0a:c8:00:07", "10.77.0.2", "cd497d151b5ca4bc",
                      "ov1", {"db", "cache"}};
  EtcdKv kv;
  kv.key = overlay::ep_key("ov1", e.id);
  kv.value = overlay::endpoint_json(e);
  auto back = overlay::endpoint_from(kv);
  REQUIRE(back);
  CHECK(back->ip == e.ip);
  CHECK(back->aliases == e.aliases);
  CHECK(overlay::hosts_entry(*back).names == std::vector<std::string>{"web", "db", "cache"});

  auto hostile = [&](const char* field, nlohmann::json value) {
    auto j = nlohmann::json::parse(kv.value);
    j[field] = value;
    EtcdKv bad = kv;
    bad.value = j.dump();
    return overlay::endpoint_from(bad);
  };
  CHECK_FALSE(hostile("ip", "10.200.0.7\n127.0.0.1 evil"));
  CHECK_FALSE(hostile("vtep", "not-an-ip"));
  CHECK_FALSE(hostile("mac", "ff:ff:ff:ff:ff:ff"));  // broadcast is no endpoint
  CHECK_FALSE(hostile("id", "../../etc"));
  CHECK_FALSE(hostile("ip", 42));
  // Names that would break a hosts line are dropped, the endpoint itself stays usable.
  auto n = hostile("name", "web\n10.0.0.1 bank");
  REQUIRE(n);
  CHECK(n->name.empty());
  auto a = hostile("aliases", nlohmann::json::array({"ok", "bad alias", "x\ty"}));
  REQUIRE(a);
  CHECK(a->aliases == std::vector<std::string>{"ok"});
  EtcdKv garbage = kv;
  garbage.value = "{not json";
  CHECK_FALSE(overlay::endpoint_from(garbage));
}

TEST_CASE("peer_owners lists the markers of a hosts file") {
  std::string text = merge_block("", hosts_lines({}));
  text = set_peer_lines(text, "aaaaaaaaaaaa1111", {{"10.0.0.2", {"a"}}});
  text = set_peer_lines(text, "bbbbbbbbbbbb2222", {{"10.0.0.3", {"b"}}});
  CHECK(peer_owners(text) == std::vector<std::string>{"aaaaaaaaaaaa1111", "bbbbbbbbbbbb2222"});
  CHECK(peer_owners("127.0.0.1 localhost\n").empty());
}

TEST_CASE("admin config: etcd.endpoints must be http(s) URLs") {
  auto c = parse_admin_config(R"({"etcd": {"endpoints": ["http://10.0.0.1:2379/", "https://etcd.example:2379"]}})");
  CHECK(c.etcd_endpoints == std::vector<std::string>{"http://10.0.0.1:2379", "https://etcd.example:2379"});
  for (const char* bad : {R"({"etcd": {"endpoints": ["10.0.0.1:2379"]}})", R"({"etcd": {"endpoints": ["file:///etc/passwd"]}})",
                          R"({"etcd": {"endpoints": ["http://a\nb"]}})", R"({"etcd": {"endpoints": "http://x"}})"}) {
    try {
      parse_admin_config(bad);
      FAIL("accepted " << bad);
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      CHECK(std::string(e.what()).find("etcd.endpoints") != std::string::npos);
    }
  }
}

TEST_CASE("etcd unreachable is a system failure naming the endpoint") {
  Etcd etcd({"http://127.0.0.1:1"}, 500);  // nothing listens on port 1
  try {
    etcd.get("/x");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()).find("http://127.0.0.1:1") != std::string::npos);
  }
  AdminConfig none = default_admin_config();
  try {
    overlay::connect(none);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK(std::string(e.what()).find("etcd.endpoints") != std::string::npos);
  }
}

TEST_CASE("the agent's VTEP detection needs an IPv4 literal and a non-loopback route") {
  CHECK(overlay::detect_vtep("http://etcd.example:2379") == "");
  CHECK(overlay::detect_vtep("http://127.0.0.1:2379") == "");
}
