#include <catch2/catch.hpp>

#include "config/bundle_rewrite.h"
#include "base/error.h"
#include "test_util.h"

using namespace ocinet;
using nlohmann::json;

static json config() {
  return json::parse(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
    "linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"}]},
    "hooks":{"poststop":[{"path":"/other/hook"}]}})");
}

static int net_entries(const json& c) {
  int n = 0;
  for (auto& ns : c["linux"]["namespaces"]) n += ns["type"] == "network";
  return n;
}

TEST_CASE("mode host removes the network namespace; container points it at the owner") {
  auto c = config();
  rewrite_netns_for_mode(c, "host", "");
  CHECK(net_entries(c) == 0);
  CHECK(c["linux"]["namespaces"].size() == 2);
  c = config();
  rewrite_netns_for_mode(c, "container", "/proc/42/ns/net");
  REQUIRE(net_entries(c) == 1);
  for (auto& ns : c["linux"]["namespaces"])
    if (ns["type"] == "network") CHECK(ns["path"] == "/proc/42/ns/net");
  c = config();
  rewrite_netns_for_mode(c, "bridge", "");
  CHECK(c == config());
  json bare = json::parse(R"({"root":{"path":"r"}})");
  CHECK(ERROR_KIND(rewrite_netns_for_mode(bare, "host", "")) == 1);
}

TEST_CASE("add_hooks adds every stage once, keeps other hooks, passes env") {
  auto c = config();
  add_hooks(c, "/usr/libexec/ocinet/ocinet-hook", {"OCINET_RUN_DIR=/tmp/x"});
  add_hooks(c, "/usr/libexec/ocinet/ocinet-hook", {"OCINET_RUN_DIR=/tmp/x"});  // idempotent
  for (const char* stage : {"prestart", "createRuntime", "poststop"}) {
    int ours = 0;
    for (auto& h : c["hooks"][stage])
      if (h["path"] == "/usr/libexec/ocinet/ocinet-hook") {
        ours++;
        CHECK(h["args"] == json::array({"ocinet-hook", stage}));
        CHECK(h["env"] == json::array({"OCINET_RUN_DIR=/tmp/x"}));
      }
    CHECK(ours == 1);
  }
  CHECK(c["hooks"]["poststop"][0]["path"] == "/other/hook");
  add_annotations(c, {{"io.ocinet.ports", "8080:80"}});
  CHECK(c["annotations"]["io.ocinet.ports"] == "8080:80");
}
