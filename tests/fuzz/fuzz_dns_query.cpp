// The name server's query path, as a container's packet reaches it: respond() on arbitrary
// bytes, over UDP and TCP, against a small view. Whatever comes in, an answer stays within its
// buffer and parses as DNS, and an upstream's answer check (read_question) never reads past it.
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "dns/answer.h"
#include "dns/view.h"
#include "tests/dns_fixture.h"

extern "C" {
#include <libknot/libknot.h>
}

using namespace ocinet;
using namespace ocinet::dns;
using namespace ocinet::dns_fixture;

namespace {

struct World {
  std::map<std::string, NetworkDef> defs;
  View view;
  const Member* asker = nullptr;

  World() {
    defs["app"].name = "app";
    defs["app2"].name = "app2";
    const NetworkLookup lookup = lookup_in(defs);
    asker = &view.put(*member_from_record(rec("web", "web", {att("app", "172.18.0.2", {"api"}, "fd00::2")}), lookup));
    view.put(*member_from_record(rec("db", "db", {att("app", "172.18.0.3", {"api"})}), lookup));
    view.put(*member_from_record(rec("other", "other", {att("app2", "172.19.0.2", {"api"})}), lookup));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  static Responder r;
  static std::vector<uint8_t> out(65535 + 2);
  for (bool udp : {true, false}) {
    size_t len = 0;
    const Action a = r.respond(w.view, *w.asker, true, data, size, udp, out.data(), out.size(), &len);
    if (a == Action::Reply) {
      if (len < KNOT_WIRE_HEADER_SIZE || len > out.size() || (udp && len > kMaxUdpAnswer)) __builtin_trap();
      knot_pkt_t* p = knot_pkt_new(out.data(), len, nullptr);
      // What we send must be DNS a client can read (a header-only FORMERR parses too).
      if (!p || knot_pkt_parse(p, 0) != KNOT_EOK) __builtin_trap();
      knot_pkt_free(p);
    }
  }
  Question q;
  r.read_question(data, size, &q);
  return 0;
}
