#include <catch2/catch.hpp>

#include "netcore/container_files.h"
#include "netcore/discovery.h"
#include "test_util.h"

using namespace ocinet;

TEST_CASE("set_peer_lines edits only the owner's lines inside ocinet's block") {
  std::string image = "10.9.9.9\tfrom-image\n";
  std::string text = merge_block(image, hosts_lines({{"172.18.0.2", {"me"}}}));
  text = set_peer_lines(text, "aaaaaaaaaaaaXXXX", {{"172.18.0.3", {"alpine1", "db"}}});
  text = set_peer_lines(text, "bbbbbbbbbbbbYYYY", {{"172.18.0.4", {"alpine2"}}});
  CHECK(text.find("172.18.0.3\talpine1 db\t# ocinet-peer:aaaaaaaaaaaaXXXX") != std::string::npos);
  CHECK(text.find("172.18.0.4\talpine2\t# ocinet-peer:bbbbbbbbbbbbYYYY") != std::string::npos);
  // Replace one owner's lines, keep everything else.
  text = set_peer_lines(text, "aaaaaaaaaaaaXXXX", {{"172.18.0.9", {"alpine1"}}});
  CHECK(text.find("172.18.0.3") == std::string::npos);
  CHECK(text.find("172.18.0.9\talpine1\t# ocinet-peer:aaaaaaaaaaaaXXXX") != std::string::npos);
  CHECK(text.find("alpine2") != std::string::npos);
  CHECK(text.find("172.18.0.2\tme") != std::string::npos);
  CHECK(text.find("10.9.9.9\tfrom-image") != std::string::npos);
  // Remove.
  text = set_peer_lines(text, "aaaaaaaaaaaaXXXX", {});
  text = set_peer_lines(text, "bbbbbbbbbbbbYYYY", {});
  CHECK(text.find("alpine") == std::string::npos);
  CHECK(text == merge_block(image, hosts_lines({{"172.18.0.2", {"me"}}})));
  // A file with no block gets one, with localhost lines.
  auto fresh = set_peer_lines("", "cccccccccccc", {{"172.18.0.5", {"x"}}});
  CHECK(fresh.find("127.0.0.1\tlocalhost") != std::string::npos);
}

TEST_CASE("peer lines are keyed by the whole id: ids sharing 12 characters stay apart") {
  std::string text = merge_block("", hosts_lines({}));
  text = set_peer_lines(text, "frontend-web-1", {{"172.18.0.3", {"web1"}}});
  text = set_peer_lines(text, "frontend-web-2", {{"172.18.0.4", {"web2"}}});
  text = set_peer_lines(text, "frontend-web", {{"172.18.0.5", {"web"}}});  // a 12-char tag of an earlier release
  CHECK(peer_owners(text) == std::vector<std::string>{"frontend-web", "frontend-web-1", "frontend-web-2"});
  text = set_peer_lines(text, "frontend-web-1", {});
  CHECK(text.find("web1") == std::string::npos);
  CHECK(text.find("172.18.0.4\tweb2\t# ocinet-peer:frontend-web-2\n") != std::string::npos);
  text = set_peer_lines(text, "frontend-web", {});
  CHECK(text.find("172.18.0.5") == std::string::npos);
  CHECK(text.find("web2") != std::string::npos);
}

TEST_CASE("display ids: Docker's short id for 64-hex ids, the whole id otherwise") {
  std::string hex(64, 'a');
  hex[12] = 'b';
  CHECK(display_id(hex) == "aaaaaaaaaaaa");
  CHECK(display_id("frontend-web-1") == "frontend-web-1");
  CHECK(display_id(std::string(64, 'A')) == std::string(64, 'A'));  // not Docker's lower-case hex
  CHECK(display_id(std::string(63, 'a')) == std::string(63, 'a'));
}

TEST_CASE("discovery networks exclude the default bridge") {
  EndpointRecord r;
  r.attachments.resize(3);
  r.attachments[0].network = "bridge";
  r.attachments[0].ip = "172.17.0.2";
  r.attachments[1].network = "zeta";
  r.attachments[1].ip = "172.19.0.2";
  r.attachments[2].network = "alpha";
  r.attachments[2].ip = "172.20.0.2";
  CHECK(discovery_networks(r) == std::vector<std::string>{"alpha", "zeta"});
}

TEST_CASE("a record of an earlier release keeps its 12-character tag and its default route") {
  TempDir dir;
  std::filesystem::create_directories(dir.path + "/endpoints");
  // As written by the release before whole-id keys: no "tag", no "default_route".
  spit(dir.path + "/endpoints/frontend-web-1.json", R"({"id":"frontend-web-1","name":"web1","mode":"bridge","state":"ready",
    "pid":0,"netns":"/run/netns/x","attachments":[
      {"network":"inet","driver":"bridge","bridge":"ocbr-1","host_ifname":"oc1","ifname":"eth0","ip":"10.1.0.2",
       "prefix":24,"gateway":"","mac":"02:42:0a:01:00:02","mtu":0},
      {"network":"bridge","driver":"bridge","bridge":"ocinet0","host_ifname":"oc2","ifname":"eth1","ip":"172.17.0.2",
       "prefix":16,"gateway":"172.17.0.1","mac":"02:42:ac:11:00:02","mtu":0}],
    "ports":[],"steps":["name","lease:0","lease:1","veth:0","veth:1","firewall"]})");
  RecordStore store(dir.path);
  auto r = store.load("frontend-web-1");
  REQUIRE(r);
  CHECK(r->tag == "frontend-web");
  CHECK_FALSE(r->attachments[0].default_route);
  CHECK(r->attachments[1].default_route);
  // Saved again, it keeps that tag (its rules and peers' lines carry it).
  store.save(*r);
  CHECK(store.load("frontend-web-1")->tag == "frontend-web");
}

TEST_CASE("the default route goes through the first attachment with a gateway that is not internal") {
  std::vector<Attachment> a(3);
  a[0].gateway = "10.1.0.1";
  a[0].internal = true;
  a[1].gateway = "";  // overlay: nothing routes off it
  CHECK(default_route_candidate(a) == -1);
  a[2].gateway = "172.17.0.1";
  CHECK(default_route_candidate(a) == 2);
  a[0].internal = false;
  CHECK(default_route_candidate(a) == 0);
}
