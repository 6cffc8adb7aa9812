#include <catch2/catch.hpp>

#include "netcore/container_files.h"
#include "netcore/discovery.h"

using namespace ocinet;

TEST_CASE("set_peer_lines edits only the owner's lines inside ocinet's block") {
  std::string image = "10.9.9.9\tfrom-image\n";
  std::string text = merge_block(image, hosts_lines({{"172.18.0.2", {"me"}}}));
  text = set_peer_lines(text, "aaaaaaaaaaaaXXXX", {{"172.18.0.3", {"alpine1", "db"}}});
  text = set_peer_lines(text, "bbbbbbbbbbbbYYYY", {{"172.18.0.4", {"alpine2"}}});
  CHECK(text.find("172.18.0.3\talpine1 db\t# ocinet-peer:aaaaaaaaaaaa") != std::string::npos);
  CHECK(text.find("172.18.0.4\talpine2\t# ocinet-peer:bbbbbbbbbbbb") != std::string::npos);
  // Replace one owner's lines, keep everything else.
  text = set_peer_lines(text, "aaaaaaaaaaaaXXXX", {{"172.18.0.9", {"alpine1"}}});
  CHECK(text.find("172.18.0.3") == std::string::npos);
  CHECK(text.find("172.18.0.9\talpine1\t# ocinet-peer:aaaaaaaaaaaa") != std::string::npos);
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
