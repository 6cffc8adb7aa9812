// Setup's plan against a fake host (no root, no kernel), a toy driver through the real steps,
// and the step log of records saved by earlier releases torn down through the one undo.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "base/error.h"
#include "netcore/attach_steps.h"
#include "netcore/drivers/driver.h"
#include "netcore/setup_plan.h"
#include "netcore/step_log.h"
#include "netcore/undo.h"
#include "test_util.h"

using namespace ocinet;

namespace {

NetworkDef make_network(const std::string& name, Driver driver, const std::string& subnet) {
  NetworkDef n;
  n.name = name;
  n.driver = driver;
  n.bridge = driver == Driver::bridge ? "ocbr-" + name : "";
  n.subnet = *parse_ipv4_net(subnet);
  n.gateway = n.subnet.addr + 1;
  if (driver != Driver::bridge) n.options["parent"] = "eth9";
  return n;
}

class FakeHost final : public HostView {
 public:
  std::map<std::string, ResolvedNetwork> networks;
  std::set<std::string> local_addresses = {"192.0.2.10"};
  std::map<std::string, EndpointRecord> records;
  std::map<std::string, std::string> names;
  bool own_netns = true;
  int network_lookups = 0;

  FakeHost() {
    networks["bridge"] = {make_network("bridge", Driver::bridge, "172.17.0.0/16"), 0};
    networks["web"] = {make_network("web", Driver::bridge, "10.88.0.0/24"), 0};
    networks["lan"] = {make_network("lan", Driver::macvlan, "192.168.50.0/24"), 0};
    networks["ov"] = {make_network("ov", Driver::overlay, "10.200.0.0/24"), 7};
  }
  BundleConfig bundle(const std::string&) override { return {"/b/rootfs", "box", std::nullopt, true, {}}; }
  NetnsView netns(const std::string&) override { return {"4:4026530000", !own_netns, nullptr}; }
  ResolvedNetwork network(const std::string& name) override {
    network_lookups++;
    auto it = networks.find(name);
    if (it == networks.end()) fail_invalid("network " + name + " not found");
    return it->second;
  }
  std::optional<NetworkDef> local_network(const std::string& name) override {
    auto it = networks.find(name);
    return it == networks.end() ? std::nullopt : std::optional<NetworkDef>(it->second.def);
  }
  bool is_local_address(const std::string& ip) override { return local_addresses.count(ip) > 0; }
  bool bridged_ipv6_to_netfilter() override { return false; }
  std::vector<HostSocket> sockets_for(const std::vector<PortSpec>&) override { return {}; }
  std::optional<EndpointRecord> record(const std::string& id) override {
    auto it = records.find(id);
    return it == records.end() ? std::nullopt : std::optional<EndpointRecord>(it->second);
  }
  std::optional<std::string> name_holder(const std::string& name) override {
    auto it = names.find(name);
    return it == names.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  EndpointRecord running_container(const std::string& ref) override { fail_invalid("no container \"" + ref + "\""); }
};

OciState state(std::map<std::string, std::string> annotations) {
  OciState s;
  s.id = "3f1a9c0e5b7d4a2c8e6f0b1d3a5c7e9f3f1a9c0e5b7d4a2c8e6f0b1d3a5c7e9f";
  s.pid = 4242;
  s.bundle = "/b";
  s.annotations = std::move(annotations);
  return s;
}

AdminConfig config() {
  AdminConfig cfg;
  cfg.default_network = "bridge";
  return cfg;
}

}  // namespace

TEST_CASE("plan: default bridge, one attachment with the default route, firewall, no name server") {
  FakeHost host;
  SetupPlan p = plan_setup(host, config(), state({}));
  REQUIRE(p.rec.attachments.size() == 1);
  const Attachment& a = p.rec.attachments[0];
  CHECK(a.network == "bridge");
  CHECK(a.ifname == "eth0");
  CHECK(a.host_ifname.size() == 15);
  CHECK(a.gateway == "172.17.0.1");
  CHECK(a.ip.empty());  // addresses are taken by apply, not planned
  CHECK(a.default_route);
  CHECK(p.firewall);
  CHECK_FALSE(p.dns);
  CHECK(p.configures_inside);
  CHECK(p.rec.name == display_id(p.rec.id).substr(0, kMaxNameLen));
  CHECK(p.rec.hostname == "box");
  CHECK(p.rec.steps.empty());
}

TEST_CASE("plan: user networks get the name server and aliases; overlay gives no default route") {
  FakeHost host;
  SetupPlan p = plan_setup(host, config(), state({{"io.ocinet.network", "ov,web"}, {"io.ocinet.aliases", "db"}}));
  REQUIRE(p.rec.attachments.size() == 2);
  CHECK(p.dns);
  CHECK(p.networks[0].etcd_revision == 7);
  CHECK(p.rec.attachments[0].bridge.rfind("ocov-", 0) == 0);
  CHECK(p.rec.attachments[0].gateway.empty());
  CHECK_FALSE(p.rec.attachments[0].default_route);
  CHECK(p.rec.attachments[1].default_route);
  CHECK(p.rec.attachments[1].aliases == std::vector<std::string>{"db"});
  CHECK(p.rec.mode == "overlay");
}

TEST_CASE("plan: refusals name what to fix, exit 1, before any lookup they make moot") {
  FakeHost host;
  auto refused = [&](std::map<std::string, std::string> ann, const std::string& says) {
    CHECK_THROWS_WITH(plan_setup(host, config(), state(ann)), Catch::Contains(says));
    CHECK(ERROR_KIND(plan_setup(host, config(), state(ann))) == 1);
  };
  refused({{"io.ocinet.mode", "none"}, {"io.ocinet.network", "web"}}, "mode none takes no network");
  refused({{"io.ocinet.network", "lan"}, {"io.ocinet.ports", "8080:80"}}, "has no NAT to publish ports through");
  refused({{"io.ocinet.mode", "bridge"}, {"io.ocinet.network", "lan"}}, "uses driver macvlan, not bridge");
  refused({{"io.ocinet.ports", "203.0.113.1:8080:80"}}, "is not an address of this host");
  refused({{"io.ocinet.network", "nope"}}, "network nope not found");
  refused({{"io.ocinet.mode", "overlay"}, {"io.ocinet.network", "ov"}}, "overlay networks need etcd");
  refused({{"io.ocinet.network", "a,b,c,d,e,f,g,h,i,j,k"}}, "at most 10 networks");
  refused({{"io.ocinet.links", "db"}}, "no running container named \"db\"");
  host.own_netns = false;
  refused({}, "refusing to configure the host's own network namespace");
  refused({{"io.ocinet.mode", "none"}}, "refusing to configure");
  host.own_netns = true;
  refused({{"io.ocinet.mode", "host"}}, "mode host, but the container has a network namespace of its own");
  host.network_lookups = 0;
  refused({{"io.ocinet.mode", "none"}, {"io.ocinet.ports", "80"}}, "cannot publish ports");
  CHECK(host.network_lookups == 0);
}

TEST_CASE("plan: published ports on a host address of this host; links resolve to the peer's address") {
  FakeHost host;
  EndpointRecord peer;
  peer.id = "db0";
  peer.state = "ready";
  Attachment pa;
  pa.network = "web";
  pa.ip = "10.88.0.5";
  peer.attachments = {pa};
  host.records["db0"] = peer;
  host.names["db"] = "db0";
  SetupPlan p = plan_setup(host, config(), state({{"io.ocinet.network", "web"}, {"io.ocinet.ports", "192.0.2.10:8080:80"},
                                                  {"io.ocinet.links", "db:database"}}));
  REQUIRE(p.link_entries.size() == 1);
  CHECK(p.link_entries[0].ip == "10.88.0.5");
  CHECK(p.link_entries[0].names == std::vector<std::string>{"database", "db"});
  CHECK_FALSE(p.ports_over_ip6);
}

TEST_CASE("step log: the strings earlier releases wrote parse, print back, and renumber") {
  for (const char* s : {"name", "lease:0", "ports", "veth:3", "endpoint:2", "firewall", "peers", "files"})
    CHECK(to_string(parse_step(s)) == s);
  for (const char* bad : {"lease", "lease:", "veth:x", "name:1", "route", "lease:-1", "lease:1234"})
    CHECK_THROWS(parse_step(bad));
  StepLog log;
  for (const char* s : {"name", "lease:0", "lease:1", "lease:2", "veth:0", "veth:1", "veth:2", "endpoint:1", "firewall"})
    log.push_back(parse_step(s));
  CHECK(steps_of(log, 1) == StepLog{{StepKind::lease, 1}, {StepKind::link, 1}, {StepKind::announce, 1}});
  StepLog after;
  for (const char* s : {"name", "lease:0", "lease:1", "veth:0", "veth:1", "firewall"}) after.push_back(parse_step(s));
  CHECK(without_attachment(log, 1) == after);
}

namespace {

// A driver that does nothing but say what was asked of it.
class ToyDriver final : public NetworkDriver {
 public:
  mutable std::vector<std::string> calls;
  void plan(const NetworkDef& net, const std::string& id, size_t index, Attachment& a) const override {
    NetworkDriver::plan(net, id, index, a);
    a.bridge = "toy0";
  }
  void reserve(DriverContext&, const NetworkDef&, const std::string&, const AddressRequest& want, Attachment& a) const override {
    a.ip = want.ip ? ipv4_str(*want.ip) : "10.99.0.2";
    calls.push_back("reserve " + a.network);
  }
  void release(DriverContext&, const std::string&, const Attachment& a) const override { calls.push_back("release " + a.network); }
  Attached attach(DriverContext&, const NetworkDef& net, const Netns&, const Attachment&) const override {
    calls.push_back("attach " + net.name);
    return {};
  }
  void detach(DriverContext&, const EndpointRecord&, const Attachment& a) const override { calls.push_back("detach " + a.network); }
  bool has_peers() const override { return true; }
  void withdraw(DriverContext&, const EndpointRecord&, const Attachment& a) const override {
    calls.push_back("withdraw " + a.network);
  }
};

}  // namespace

TEST_CASE("a toy driver runs through the real plan, address and undo steps") {
  ToyDriver toy;
  DriverOverride use(Driver::macvlan, toy);
  FakeHost host;
  SetupPlan p = plan_setup(host, config(), state({{"io.ocinet.network", "lan"}, {"io.ocinet.ip", "192.168.50.7"}}));
  CHECK(p.rec.attachments[0].bridge == "toy0");
  CHECK_FALSE(p.firewall);
  TempDir dir;
  const Paths paths{dir.path + "/run", dir.path + "/lib"};
  AdminConfig cfg = config();
  cfg.firewall_backend = "none";
  DriverContext ctx(paths, cfg);
  take_address(ctx, p.networks[0], {parse_ipv4("192.168.50.7"), std::nullopt, 0}, p.rec, 0);
  CHECK(p.rec.attachments[0].ip == "192.168.50.7");
  p.rec.steps = {{StepKind::lease, 0}, {StepKind::link, 0}, {StepKind::announce, 0}};
  undo(paths, cfg, p.rec, p.rec.steps);
  CHECK(toy.calls == std::vector<std::string>{"reserve lan", "withdraw lan", "detach lan", "release lan"});
}

TEST_CASE("a record saved by the previous release tears down through the one undo, newest step first") {
  ToyDriver toy;
  DriverOverride b(Driver::bridge, toy), m(Driver::macvlan, toy), i(Driver::ipvlan, toy), o(Driver::overlay, toy);
  TempDir dir;
  const Paths paths{dir.path + "/run", dir.path + "/lib"};
  std::filesystem::create_directories(paths.run_dir + "/endpoints");
  spit(paths.run_dir + "/endpoints/c0ffee.json",
       R"({"attachments":[{"driver":"bridge","network":"a","ip":"10.1.0.2","prefix":24,"ifname":"eth0","host_ifname":"oc0",)"
       R"("bridge":"br-a","gateway":"10.1.0.1","mac":"","mtu":0},)"
       R"({"driver":"macvlan","network":"b","ip":"10.2.0.2","prefix":24,"ifname":"eth1","host_ifname":"","bridge":"",)"
       R"("gateway":"10.2.0.1","mac":"","mtu":0},)"
       R"({"driver":"overlay","network":"c","ip":"10.3.0.2","prefix":24,"ifname":"eth2","host_ifname":"oc2",)"
       R"("bridge":"ocov-c","gateway":"","mac":"","mtu":0}],)"
       R"("id":"c0ffee","mode":"bridge","name":"web","netns":"/proc/4242/ns/net","pid":4242,"ports":[],"state":"ready",)"
       R"("steps":["name","lease:0","lease:1","lease:2","veth:0","veth:1","veth:2","endpoint:2","firewall"],"tag":"c0ffee"})");
  RecordStore records(paths.run_dir);
  auto rec = records.load("c0ffee");
  REQUIRE(rec);
  AdminConfig cfg = config();
  cfg.firewall_backend = "none";
  std::vector<StepLog> checkpoints;
  undo_record(paths, cfg, *rec, [&](const StepLog& left) { checkpoints.push_back(left); });
  CHECK(toy.calls == std::vector<std::string>{"withdraw c", "detach c", "detach b", "detach a", "release c", "release b",
                                              "release a"});
  // Saved before the first address is freed: a second run resumes there.
  REQUIRE(checkpoints.size() == 1);
  CHECK(checkpoints[0].size() == 4);
  CHECK(checkpoints[0].back() == Step{StepKind::lease, 2});
}

TEST_CASE("undo reports every failure in one line, after trying every step") {
  class Failing final : public NetworkDriver {
   public:
    Attached attach(DriverContext&, const NetworkDef&, const Netns&, const Attachment&) const override { return {}; }
    void detach(DriverContext&, const EndpointRecord&, const Attachment& a) const override {
      fail_system("deleting " + a.host_ifname, EBUSY);
    }
    void release(DriverContext&, const std::string&, const Attachment&) const override {}
  } failing;
  DriverOverride use(Driver::bridge, failing);
  TempDir dir;
  const Paths paths{dir.path + "/run", dir.path + "/lib"};
  EndpointRecord rec;
  rec.id = "c0ffee";
  rec.attachments.resize(2);
  rec.attachments[0].host_ifname = "oc0";
  rec.attachments[1].host_ifname = "oc1";
  rec.steps = {{StepKind::link, 0}, {StepKind::link, 1}};
  AdminConfig cfg = config();
  try {
    undo(paths, cfg, rec, rec.steps);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("deleting oc1") && Catch::Contains("deleting oc0"));
    CHECK(e.sys_errno() == EBUSY);
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

TEST_CASE("step log: steps added later go where setup would have put them") {
  StepLog log = {{StepKind::name}, {StepKind::lease, 0}, {StepKind::link, 0}, {StepKind::firewall}};
  add_step(log, {StepKind::lease, 1});  // network connect
  add_step(log, {StepKind::link, 1});
  add_step(log, {StepKind::firewall});
  add_step(log, {StepKind::peers});
  CHECK(log == StepLog{{StepKind::name}, {StepKind::lease, 0}, {StepKind::lease, 1}, {StepKind::link, 0},
                       {StepKind::link, 1}, {StepKind::firewall}, {StepKind::peers}});
}
