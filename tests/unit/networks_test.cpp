#include <catch2/catch.hpp>

#include <filesystem>

#include "base/error.h"
#include "netcore/dns_feed.h"
#include "netcore/networks.h"
#include "test_util.h"

using namespace ocinet;

namespace {

// The message of the ocinet::Error `f` throws ("" when it throws none).
template <typename F>
std::string error_message(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A local definition saved as `network create` leaves it. Saving "bridge" up front keeps the
// facade from defining the default network, which reads the host's routes.
NetworkDef save_local(const std::string& lib_dir, const std::string& name, const std::string& subnet) {
  NetworkDef n;
  n.name = name;
  n.id = random_hex_id();
  n.bridge = name == kDefaultBridgeNetwork ? kDefaultBridgeDevice : "ocbr-" + n.id.substr(0, 10);
  n.subnet = *parse_ipv4_net(subnet);
  n.gateway = n.subnet.first() + 1;
  NetworkStore(lib_dir).save(n);
  return n;
}

struct Dirs {
  TempDir t;
  Paths paths{t.path + "/run", t.path + "/lib"};
  Dirs() {
    std::filesystem::create_directories(paths.run_dir);
    std::filesystem::create_directories(paths.lib_dir + "/networks");
  }
};

}  // namespace

TEST_CASE("networks: resolve finds local definitions and refuses unknown names") {
  Dirs d;
  const auto cfg = default_admin_config();  // no etcd
  save_local(d.paths.lib_dir, kDefaultBridgeNetwork, "172.17.0.0/16");
  const auto web = save_local(d.paths.lib_dir, "web", "10.1.0.0/24");
  Networks nets(d.paths, cfg);

  auto r = nets.resolve("web");
  CHECK(r.def.id == web.id);
  CHECK(r.def.bridge == web.bridge);
  CHECK(r.etcd_revision == 0);
  CHECK(nets.resolve(kDefaultBridgeNetwork).def.bridge == kDefaultBridgeDevice);

  CHECK(ERROR_KIND(nets.resolve("nosuch")) == 1);
  CHECK(error_message([&] { nets.resolve("nosuch"); }) ==
        "network \"nosuch\" not found (create it with `ocinet network create`)");
  CHECK(error_message([&] { nets.resolve("../etc"); }) == "invalid network name \"../etc\"");
}

TEST_CASE("networks: exists_locally looks at the definition files only") {
  Dirs d;
  Networks nets(d.paths, default_admin_config());
  CHECK_FALSE(nets.exists_locally("web"));
  save_local(d.paths.lib_dir, "web", "10.1.0.0/24");
  CHECK(nets.exists_locally("web"));
  spit(d.paths.lib_dir + "/networks/broken.json", "not json");  // no parsing: it exists
  CHECK(nets.exists_locally("broken"));
}

TEST_CASE("networks: list shows every local definition sorted by name") {
  Dirs d;
  save_local(d.paths.lib_dir, kDefaultBridgeNetwork, "172.17.0.0/16");
  save_local(d.paths.lib_dir, "zeta", "10.2.0.0/24");
  save_local(d.paths.lib_dir, "alpha", "10.1.0.0/24");
  Networks nets(d.paths, default_admin_config());
  std::vector<std::string> names;
  for (const auto& n : nets.list()) names.push_back(n.name);
  CHECK(names == std::vector<std::string>{"alpha", "bridge", "zeta"});
}

TEST_CASE("networks: remove refuses the default network, unknown names and networks in use") {
  Dirs d;
  save_local(d.paths.lib_dir, kDefaultBridgeNetwork, "172.17.0.0/16");
  save_local(d.paths.lib_dir, "web", "10.1.0.0/24");
  Networks nets(d.paths, default_admin_config());
  CHECK(error_message([&] { nets.remove("nosuch"); }) == "network \"nosuch\" not found");
  CHECK(error_message([&] { nets.remove(kDefaultBridgeNetwork); }) ==
        "network \"bridge\" is the default network and cannot be removed");
  std::filesystem::create_directories(d.paths.lease_dir("web"));
  std::filesystem::create_symlink(std::string(64, 'a'), d.paths.lease_dir("web") + "/10.1.0.2");  // a lease
  CHECK(error_message([&] { nets.remove("web"); }).find("has 1 active endpoint(s)") != std::string::npos);
  CHECK(nets.exists_locally("web"));
}

TEST_CASE("networks: overlay needs etcd") {
  Dirs d;
  Networks nets(d.paths, default_admin_config());
  NetworkCreateRequest req;
  req.name = "ov";
  req.driver = "overlay";
  CHECK(ERROR_KIND(nets.create(req)) == 1);
  CHECK(ERROR_KIND(nets.etcd()) == 1);
}

TEST_CASE("networks: user_networks_exist from directory listings") {
  Dirs d;
  CHECK_FALSE(Networks::user_networks_exist(d.paths));
  save_local(d.paths.lib_dir, kDefaultBridgeNetwork, "172.17.0.0/16");
  CHECK_FALSE(Networks::user_networks_exist(d.paths));  // the default network has no name server
  spit(d.paths.lib_dir + "/networks/web.json", "");     // not parsed
  CHECK(Networks::user_networks_exist(d.paths));

  Dirs overlay_only;
  std::filesystem::create_directories(dns_networks_dir(overlay_only.paths.run_dir));
  spit(dns_networks_dir(overlay_only.paths.run_dir) + "/ov.json", "{}");
  CHECK(Networks::user_networks_exist(overlay_only.paths));
}
