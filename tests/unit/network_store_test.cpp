#include <catch2/catch.hpp>

#include "base/error.h"
#include "netcore/network_store.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("network store: default network avoids host routes and round-trips") {
  TempDir t;
  NetworkStore store(t.path);
  auto cfg = default_admin_config();
  int route_dumps = 0;
  auto routes = [&] {
    route_dumps++;
    return std::vector<Ipv4Net>{*parse_ipv4_net("172.17.5.0/24"), *parse_ipv4_net("172.18.0.0/15")};
  };
  auto n = store.resolve("bridge", cfg, routes);
  CHECK(n.subnet.str() == "172.20.0.0/16");  // 17 overlaps a route, 18-19 the /15
  CHECK(ipv4_str(n.gateway) == "172.20.0.1");
  CHECK(n.bridge == "ocinet0");
  auto again = store.resolve("bridge", cfg, routes);
  CHECK(again.id == n.id);
  CHECK(route_dumps == 1);  // the hot path never dumps routes
  CHECK(network_from_json(network_to_json(n)).subnet.str() == n.subnet.str());
  CHECK(ERROR_KIND(store.resolve("nosuch", cfg, routes)) == 1);
  CHECK(ERROR_KIND(store.resolve("../etc", cfg, routes)) == 1);
}

TEST_CASE("pick_subnet: exhausted pools are exit 1") {
  std::vector<AddressPool> pools{{*parse_ipv4_net("10.0.0.0/23"), 24}};
  CHECK(pick_subnet(pools, {*parse_ipv4_net("10.0.0.0/24")}).str() == "10.0.1.0/24");
  CHECK(ERROR_KIND(pick_subnet(pools, {*parse_ipv4_net("10.0.0.0/8")})) == 1);
}

TEST_CASE("create_network: validation, overlap with networks and host routes, round trip") {
  TempDir t;
  NetworkStore store(t.path);
  auto cfg = default_admin_config();
  std::vector<Ipv4Net> routes{*parse_ipv4_net("10.0.0.0/8")};
  NetworkCreateRequest r;
  r.name = "front";
  r.subnets = {"192.168.50.0/24"};
  r.gateways = {"192.168.50.254"};
  r.ip_range = "192.168.50.128/25";
  r.options = {{"com.docker.network.driver.mtu", "1400"}};
  auto n = create_network(store, cfg, r, routes, routes);
  CHECK(n.bridge.rfind("ocbr-", 0) == 0);
  CHECK(n.bridge.size() <= 15);
  CHECK(n.mtu == 1400);
  auto back = store.load("front");
  REQUIRE(back);
  CHECK(back->subnet.str() == "192.168.50.0/24");
  CHECK(ipv4_str(back->gateway) == "192.168.50.254");
  CHECK(back->ip_range->str() == "192.168.50.128/25");
  CHECK(back->id == n.id);

  auto fails_with = [&](NetworkCreateRequest req, const std::string& text) {
    try {
      create_network(store, cfg, req, routes, routes);
      FAIL("accepted: " << text);
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      CHECK_THAT(e.what(), Catch::Contains(text));
    }
  };
  fails_with(r, "already exists");
  NetworkCreateRequest o;
  o.name = "other";
  o.subnets = {"192.168.50.128/26"};
  fails_with(o, "overlaps network \"front\"");
  o.subnets = {"10.1.0.0/16"};
  fails_with(o, "overlaps the host route 10.0.0.0/8");
  o.subnets = {"172.30.0.1/16"};
  fails_with(o, "host bits");
  o.subnets = {"172.30.0.0/16"};
  o.gateways = {"172.31.0.1"};
  fails_with(o, "--gateway");
  o.gateways.clear();
  o.ip_range = "172.29.0.0/24";
  fails_with(o, "--ip-range");
  o.ip_range.clear();
  o.driver = "weird";
  fails_with(o, "driver");
  o.driver = "bridge";
  o.name = "bad/name";
  fails_with(o, "invalid network name");
  o.name = "host";
  fails_with(o, "reserved");
  o.name = "other";
  o.options = {{"foo", "bar"}};
  fails_with(o, "unknown option");
  o.options.clear();
  o.subnets.clear();
  // Without --subnet: the first pool subnet that overlaps neither networks nor routes, nor the
  // one the default network will take (172.18, as the route covers 172.17).
  const std::vector<Ipv4Net> route17{*parse_ipv4_net("172.17.0.0/16")};
  auto auto_net = create_network(store, cfg, o, route17, route17);
  CHECK(auto_net.subnet.str() == "172.19.0.0/16");
  CHECK(store.list().size() == 2);
}

// Docker's layout: docker0 is there before any user network, so the default network gets
// 172.17.0.0/16 and user networks the next pools, whichever ocinet defines first.
TEST_CASE("create_network: a user network created first leaves the default network's subnet free") {
  TempDir t;
  NetworkStore store(t.path);
  const auto cfg = default_admin_config();
  const std::vector<Ipv4Net> none;
  auto no_routes = [] { return std::vector<Ipv4Net>{}; };
  NetworkCreateRequest r;
  r.name = "first";
  CHECK(create_network(store, cfg, r, none, none).subnet.str() == "172.18.0.0/16");
  r.name = "second";
  CHECK(create_network(store, cfg, r, none, none).subnet.str() == "172.19.0.0/16");
  auto def = store.resolve("bridge", cfg, no_routes);
  CHECK(def.subnet.str() == "172.17.0.0/16");
  CHECK(ipv4_str(def.gateway) == "172.17.0.1");
  // Once it is defined nothing is kept back any more: the next network takes the next pool.
  r.name = "third";
  CHECK(create_network(store, cfg, r, none, none).subnet.str() == "172.20.0.0/16");
}

TEST_CASE("create_network: what the default network keeps follows its own rule") {
  TempDir t;
  NetworkStore store(t.path);
  auto cfg = default_admin_config();
  const std::vector<Ipv4Net> none;
  auto no_routes = [] { return std::vector<Ipv4Net>{}; };
  NetworkCreateRequest r;
  r.name = "u";

  SECTION("custom pools: the default network takes their first free subnet, user networks skip it") {
    cfg.address_pools = {{*parse_ipv4_net("10.10.0.0/16"), 24}};
    CHECK(default_network_subnet(cfg, {}, none).str() == "10.10.0.0/24");
    CHECK(create_network(store, cfg, r, none, none).subnet.str() == "10.10.1.0/24");
    CHECK(store.resolve("bridge", cfg, no_routes).subnet.str() == "10.10.0.0/24");
  }
  SECTION("a host route over 172.17/16: the default network takes 172.18, so the user network 172.19") {
    const std::vector<Ipv4Net> routes{*parse_ipv4_net("172.17.5.0/24")};
    CHECK(create_network(store, cfg, r, routes, routes).subnet.str() == "172.19.0.0/16");
    CHECK(store.resolve("bridge", cfg, [&] { return routes; }).subnet.str() == "172.18.0.0/16");
  }
  SECTION("the routes of a default bridge that outlived ocinet's state keep its subnet, not the next") {
    // ocinet0 still routes 172.17/16: the user network avoids the route, and the default network
    // (which does not count its own bridge's routes) is defined again on 172.17.
    const std::vector<Ipv4Net> all{*parse_ipv4_net("172.17.0.0/16")};
    CHECK(create_network(store, cfg, r, all, none).subnet.str() == "172.18.0.0/16");
    CHECK(store.resolve("bridge", cfg, no_routes).subnet.str() == "172.17.0.0/16");
  }
  SECTION("an explicit --subnet equal to 172.17.0.0/16 is allowed; the default network takes the next") {
    r.subnets = {"172.17.0.0/16"};
    CHECK(create_network(store, cfg, r, none, none).subnet.str() == "172.17.0.0/16");
    CHECK(store.resolve("bridge", cfg, no_routes).subnet.str() == "172.18.0.0/16");
    r.name = "v";
    r.subnets.clear();
    CHECK(create_network(store, cfg, r, none, none).subnet.str() == "172.19.0.0/16");
  }
  SECTION("pools with room for the default network only: exit 1 saying what is kept") {
    cfg.address_pools = {{*parse_ipv4_net("10.10.0.0/24"), 24}};
    try {
      create_network(store, cfg, r, none, none);
      FAIL("accepted a user network in the default network's only subnet");
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      CHECK_THAT(e.what(), Catch::Contains("kept for the default network \"bridge\" (10.10.0.0/24)"));
    }
    CHECK(store.resolve("bridge", cfg, no_routes).subnet.str() == "10.10.0.0/24");
  }
}
