// Endpoint records and a network lookup for the name server's tests, shared by the unit tests
// (tests/unit/dns_test.cpp) and the fuzz target (tests/fuzz/fuzz_dns_query.cpp). No test
// framework here: the fuzz build (clang, libFuzzer) has no Catch2.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dns/view.h"
#include "netcore/endpoint_record.h"
#include "netcore/network_store.h"

namespace ocinet::dns_fixture {

inline Attachment att(const std::string& net, const std::string& ip, std::vector<std::string> aliases = {},
                      std::string ip6 = "") {
  Attachment a;
  a.network = net;
  a.ip = ip;
  a.ip6 = std::move(ip6);
  a.aliases = std::move(aliases);
  return a;
}

// A ready container, as the name server reads its record.
inline EndpointRecord rec(const std::string& id, const std::string& name, std::vector<Attachment> atts) {
  EndpointRecord r;
  r.id = id;
  r.name = name;
  r.state = "ready";
  r.netns = "/proc/1/ns/net";
  r.netns_id = "4:1";
  r.attachments = std::move(atts);
  return r;
}

// Looks networks up in `defs`, which must outlive the lookup.
inline dns::NetworkLookup lookup_in(const std::map<std::string, NetworkDef>& defs) {
  return [&defs](const std::string& n) -> const NetworkDef* {
    auto it = defs.find(n);
    return it == defs.end() ? nullptr : &it->second;
  };
}

}  // namespace ocinet::dns_fixture
