#include <catch2/catch.hpp>

#include "netcore/error.h"
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
