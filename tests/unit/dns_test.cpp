// The name server's pure parts: the view (who sees which name), answers on the wire (built and
// read back with libknot), and the choice of upstreams.
#include <arpa/inet.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "dns/answer.h"
#include "dns/control.h"
#include "dns/upstreams.h"
#include "dns/view.h"
#include "netcore/container_files.h"
#include "test_util.h"
#include "tests/dns_fixture.h"

extern "C" {
#include <libknot/libknot.h>
}

using namespace ocinet;
using namespace ocinet::dns;
using namespace ocinet::dns_fixture;

namespace {

const std::string kHexId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Nets {
  std::map<std::string, NetworkDef> defs;
  Nets() {
    for (auto name : {"front", "back", "iso", "nodns"}) defs[name].name = name;
    defs["iso"].internal = true;
    defs["nodns"].dns_enabled = false;
    defs["bridge"].name = "bridge";
    defs["front"].dns_servers = {"10.1.1.1"};
    defs["back"].dns_servers = {"10.2.2.2", "10.1.1.1"};
  }
  NetworkLookup lookup() const { return lookup_in(defs); }
};

std::string ip_str(const uint8_t* a, int family) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(family, a, buf, sizeof buf);
}

std::set<std::string> resolve(const View& v, const Member& asker, const std::string& name, int family = AF_INET) {
  std::vector<const uint8_t*> out;
  if (!v.lookup(asker, name, family, out, 64)) return {"<not local>"};
  std::set<std::string> s;
  for (auto* a : out) s.insert(ip_str(a, family));
  return s;
}

struct Fixture {
  Nets nets;
  View view;
  const Member& put(const EndpointRecord& r) {
    auto m = member_from_record(r, nets.lookup());
    REQUIRE(m);
    return view.put(std::move(*m));
  }
};

// A query as a client builds it, through libknot.
std::vector<uint8_t> query(const std::string& name, uint16_t type, bool edns = false, uint16_t id = 0x1234) {
  knot_pkt_t* p = knot_pkt_new(nullptr, 512, nullptr);
  knot_dname_storage_t q;
  REQUIRE(knot_dname_from_str(q, name.c_str(), sizeof q));
  knot_wire_set_id(p->wire, id);
  knot_wire_set_rd(p->wire);
  REQUIRE(knot_pkt_put_question(p, q, KNOT_CLASS_IN, type) == KNOT_EOK);
  if (edns) {
    knot_rrset_t opt;
    REQUIRE(knot_edns_init(&opt, 1232, 0, 0, nullptr) == KNOT_EOK);
    REQUIRE(knot_pkt_begin(p, KNOT_ADDITIONAL) == KNOT_EOK);
    REQUIRE(knot_pkt_put(p, KNOT_COMPR_HINT_NONE, &opt, KNOT_PF_FREE) == KNOT_EOK);
  }
  std::vector<uint8_t> out(p->wire, p->wire + p->size);
  knot_pkt_free(p);
  return out;
}

struct Reply {
  Action action = Action::Drop;
  int rcode = -1;
  bool tc = false, aa = false, has_opt = false;
  uint16_t id = 0, qdcount = 0;
  std::vector<std::string> answers;  // addresses or PTR names, in wire order
  std::vector<uint32_t> ttls;
};

Reply ask(Responder& r, const View& v, const Member& asker, std::vector<uint8_t> q, bool udp = true, bool can_forward = true) {
  std::vector<uint8_t> out(65535);
  size_t len = 0;
  Reply rep;
  rep.action = r.respond(v, asker, can_forward, q.data(), q.size(), udp, out.data(), out.size(), &len);
  if (rep.action != Action::Reply) return rep;
  REQUIRE(len >= KNOT_WIRE_HEADER_SIZE);
  rep.rcode = knot_wire_get_rcode(out.data());
  rep.tc = knot_wire_get_tc(out.data());
  rep.aa = knot_wire_get_aa(out.data());
  rep.id = knot_wire_get_id(out.data());
  rep.qdcount = knot_wire_get_qdcount(out.data());
  REQUIRE(knot_wire_get_qr(out.data()));
  knot_pkt_t* p = knot_pkt_new(out.data(), uint16_t(len), nullptr);
  REQUIRE(knot_pkt_parse(p, KNOT_PF_NOCANON) == KNOT_EOK);
  rep.has_opt = p->opt_rr != nullptr;
  const knot_pktsection_t* an = knot_pkt_section(p, KNOT_ANSWER);
  for (uint16_t i = 0; i < an->count; i++) {
    const knot_rrset_t* rr = knot_pkt_rr(an, i);
    for (uint16_t k = 0; k < rr->rrs.count; k++) {
      const knot_rdata_t* rd = knot_rdataset_at(&rr->rrs, k);
      rep.ttls.push_back(rr->ttl);
      if (rr->type == KNOT_RRTYPE_A) rep.answers.push_back(ip_str(rd->data, AF_INET));
      else if (rr->type == KNOT_RRTYPE_AAAA) rep.answers.push_back(ip_str(rd->data, AF_INET6));
      else if (rr->type == KNOT_RRTYPE_PTR) {
        char* s = knot_dname_to_str_alloc(rd->data);
        rep.answers.push_back(s);
        free(s);
      }
    }
  }
  knot_pkt_free(p);
  return rep;
}

}  // namespace

TEST_CASE("dns view: names are visible across shared networks only") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  f.put(rec("b", "beta", {att("front", "10.0.1.3"), att("back", "10.0.2.3")}));
  const Member& c = f.put(rec("c", "gamma", {att("back", "10.0.2.4")}));

  CHECK(resolve(f.view, a, "beta") == std::set<std::string>{"10.0.1.3"});  // only the shared network's address
  CHECK(resolve(f.view, c, "beta") == std::set<std::string>{"10.0.2.3"});
  CHECK(resolve(f.view, a, "gamma") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, c, "alpha") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, a, "beta.front") == std::set<std::string>{"10.0.1.3"});
  CHECK(resolve(f.view, a, "beta.back") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, a, "alpha") == std::set<std::string>{"10.0.1.2"});  // itself
  CHECK(resolve(f.view, a, "alpha", AF_INET6).empty());                    // NODATA
}

TEST_CASE("dns view: a container on both networks sees both addresses of a peer on both") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2"), att("back", "10.0.2.2")}));
  f.put(rec("b", "beta", {att("front", "10.0.1.3"), att("back", "10.0.2.3")}));
  CHECK(resolve(f.view, a, "beta") == std::set<std::string>{"10.0.1.3", "10.0.2.3"});
}

TEST_CASE("dns view: hostnames, short ids, aliases, case and removal") {
  Fixture f;
  auto r = rec(kHexId, "web", {att("front", "10.0.1.5", {"Cache", "db"}, "fd00::5")});
  r.hostname = "WebHost";
  f.put(r);
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  for (auto name : {"web", "webhost", "cache", "db", "0123456789ab", "web.front"})
    CHECK(resolve(f.view, a, name) == std::set<std::string>{"10.0.1.5"});
  CHECK(resolve(f.view, a, "web", AF_INET6) == std::set<std::string>{"fd00::5"});
  CHECK(resolve(f.view, a, kHexId) == std::set<std::string>{"<not local>"});  // the short id only, as Docker
  f.view.remove(kHexId);
  CHECK(resolve(f.view, a, "web") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, a, "cache") == std::set<std::string>{"<not local>"});
}

TEST_CASE("dns view: a shared alias returns every holder, in changing order, and removal keeps the rest") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  for (int i = 0; i < 5; i++) f.put(rec("h" + std::to_string(i), "h" + std::to_string(i), {att("front", "10.0.1." + std::to_string(10 + i), {"svc"})}));
  CHECK(resolve(f.view, a, "svc").size() == 5);
  std::set<std::string> firsts;
  std::vector<const uint8_t*> out;
  for (int i = 0; i < 50; i++) {
    REQUIRE(f.view.lookup(a, "svc", AF_INET, out, 64));
    firsts.insert(ip_str(out[0], AF_INET));
  }
  CHECK(firsts.size() > 1);
  f.view.remove("h2");
  f.view.remove("h0");
  CHECK(resolve(f.view, a, "svc") == std::set<std::string>{"10.0.1.11", "10.0.1.13", "10.0.1.14"});
  // Replacing a member re-indexes it without duplicates.
  f.put(rec("h1", "h1", {att("front", "10.0.1.21", {"svc"})}));
  CHECK(resolve(f.view, a, "svc") == std::set<std::string>{"10.0.1.21", "10.0.1.13", "10.0.1.14"});
}

TEST_CASE("dns view: links are private to their declarer and need a shared network") {
  Fixture f;
  f.put(rec("t", "target", {att("front", "10.0.1.9")}));
  f.put(rec("far", "far", {att("back", "10.0.2.9")}));
  auto r = rec("a", "alpha", {att("front", "10.0.1.2")});
  r.links = {{"target", "Tgt"}, {"far", "faraway"}};
  const Member& a = f.put(r);
  const Member& other = f.put(rec("o", "other", {att("front", "10.0.1.3")}));
  CHECK(resolve(f.view, a, "tgt") == std::set<std::string>{"10.0.1.9"});
  CHECK(resolve(f.view, other, "tgt") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, a, "faraway") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, a, "far") == std::set<std::string>{"<not local>"});
}

TEST_CASE("dns view: PTR answers name.network for visible addresses only") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  f.put(rec("b", "Beta", {att("front", "10.0.1.3", {}, "fd00::3")}));
  f.put(rec("c", "gamma", {att("back", "10.0.2.4")}));
  uint8_t v4[4] = {10, 0, 1, 3}, v4c[4] = {10, 0, 2, 4}, v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
  REQUIRE(f.view.reverse(a, AF_INET, v4));
  CHECK(*f.view.reverse(a, AF_INET, v4) == "Beta.front.");
  CHECK(*f.view.reverse(a, AF_INET6, v6) == "Beta.front.");
  CHECK(f.view.reverse(a, AF_INET, v4c) == nullptr);
}

TEST_CASE("dns view: not served without a DNS network or before ready") {
  Nets nets;
  CHECK_FALSE(member_from_record(rec("x", "x", {att("bridge", "172.17.0.2")}), nets.lookup()));
  CHECK_FALSE(member_from_record(rec("x", "x", {att("nodns", "10.9.0.2")}), nets.lookup()));
  CHECK_FALSE(member_from_record(rec("x", "x", {att("unknown", "10.9.0.2")}), nets.lookup()));
  CHECK_FALSE(member_from_record(rec("x", "x", {att("front", "")}), nets.lookup()));
  auto r = rec("x", "x", {att("front", "10.0.1.2")});
  r.state = "creating";
  CHECK_FALSE(member_from_record(r, nets.lookup()));
  auto m = member_from_record(rec("x", "x", {att("bridge", "172.17.0.2"), att("front", "10.0.1.2")}), nets.lookup());
  REQUIRE(m);
  CHECK(m->nets.size() == 1);
}

TEST_CASE("dns reverse names parse to addresses") {
  auto parse = [](const std::string& text, int* family, uint8_t* addr) {
    knot_dname_storage_t n;
    REQUIRE(knot_dname_from_str(n, text.c_str(), sizeof n));
    knot_dname_to_lower(n);
    return parse_reverse_name(n, family, addr);
  };
  int family;
  uint8_t a[16];
  REQUIRE(parse("3.1.0.10.in-addr.arpa.", &family, a));
  CHECK(family == AF_INET);
  CHECK(ip_str(a, AF_INET) == "10.0.1.3");
  REQUIRE(parse("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.F.ip6.arpa.", &family, a));
  CHECK(family == AF_INET6);
  CHECK(ip_str(a, AF_INET6) == "fd00::3");
  CHECK_FALSE(parse("256.1.0.10.in-addr.arpa.", &family, a));
  CHECK_FALSE(parse("1.0.10.in-addr.arpa.", &family, a));
  CHECK_FALSE(parse("x.1.0.10.in-addr.arpa.", &family, a));
  CHECK_FALSE(parse("example.com.", &family, a));
  CHECK_FALSE(parse("33.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", &family, a));
}

TEST_CASE("dns answers: A, AAAA, PTR, NODATA, TTL, case, trailing dot") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  f.put(rec("b", "beta", {att("front", "10.0.1.3", {}, "fd00::3")}));
  Responder r;
  auto rep = ask(r, f.view, a, query("BeTa.", KNOT_RRTYPE_A, false, 0xbeef));
  REQUIRE(rep.action == Action::Reply);
  CHECK(rep.rcode == KNOT_RCODE_NOERROR);
  CHECK(rep.id == 0xbeef);
  CHECK(rep.aa);
  CHECK(rep.answers == std::vector<std::string>{"10.0.1.3"});
  CHECK(rep.ttls == std::vector<uint32_t>{kAnswerTtl});
  CHECK(ask(r, f.view, a, query("beta", KNOT_RRTYPE_AAAA)).answers == std::vector<std::string>{"fd00::3"});
  auto nodata = ask(r, f.view, a, query("alpha", KNOT_RRTYPE_AAAA));
  CHECK(nodata.action == Action::Reply);
  CHECK(nodata.rcode == KNOT_RCODE_NOERROR);
  CHECK(nodata.answers.empty());
  CHECK(ask(r, f.view, a, query("alpha", KNOT_RRTYPE_MX)).answers.empty());
  CHECK(ask(r, f.view, a, query("alpha", KNOT_RRTYPE_MX)).action == Action::Reply);
  CHECK(ask(r, f.view, a, query("3.1.0.10.in-addr.arpa", KNOT_RRTYPE_PTR)).answers == std::vector<std::string>{"beta.front."});
  CHECK(ask(r, f.view, a, query("beta", KNOT_RRTYPE_A, true)).has_opt);
  CHECK(ask(r, f.view, a, query("beta", KNOT_RRTYPE_A, false, 1), false).answers.size() == 1);  // TCP
}

TEST_CASE("dns answers: other names are forwarded, or SERVFAIL when nothing may be forwarded") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  Responder r;
  CHECK(ask(r, f.view, a, query("example.com", KNOT_RRTYPE_A)).action == Action::Forward);
  CHECK(ask(r, f.view, a, query("9.9.9.9.in-addr.arpa", KNOT_RRTYPE_PTR)).action == Action::Forward);
  CHECK(r.question().type == KNOT_RRTYPE_PTR);
  auto internal = ask(r, f.view, a, query("example.com", KNOT_RRTYPE_A), true, false);
  CHECK(internal.action == Action::Reply);
  CHECK(internal.rcode == KNOT_RCODE_SERVFAIL);
  CHECK(internal.qdcount == 1);
}

TEST_CASE("dns answers: many holders fit the UDP size with TC, all over TCP") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.0.2")}));
  for (int i = 0; i < 100; i++)
    f.put(rec("h" + std::to_string(i), "h" + std::to_string(i), {att("front", "10.0.1." + std::to_string(i + 1), {"many"})}));
  Responder r;
  auto udp = ask(r, f.view, a, query("many", KNOT_RRTYPE_A));
  CHECK(udp.tc);
  CHECK(udp.answers.size() > 10);
  CHECK(udp.answers.size() < 100);
  auto tcp = ask(r, f.view, a, query("many", KNOT_RRTYPE_A), false);
  CHECK_FALSE(tcp.tc);
  CHECK(tcp.answers.size() == 100);
  std::set<std::string> firsts;
  for (int i = 0; i < 30; i++) firsts.insert(ask(r, f.view, a, query("many", KNOT_RRTYPE_A), false).answers.at(0));
  CHECK(firsts.size() > 1);  // rotated per answer
}

TEST_CASE("dns answers: malformed queries are dropped or FORMERR, never answered as found") {
  Fixture f;
  const Member& a = f.put(rec("a", "alpha", {att("front", "10.0.1.2")}));
  Responder r;
  auto good = query("alpha", KNOT_RRTYPE_A);
  std::vector<uint8_t> out(65535);
  size_t len = 0;
  auto act = [&](std::vector<uint8_t> q) { return r.respond(f.view, a, true, q.data(), q.size(), true, out.data(), out.size(), &len); };
  CHECK(act({}) == Action::Drop);
  CHECK(act({1, 2, 3}) == Action::Drop);
  auto qr = good;
  knot_wire_set_qr(qr.data());
  CHECK(act(qr) == Action::Drop);
  for (size_t cut = KNOT_WIRE_HEADER_SIZE; cut < good.size(); cut++) {  // every truncation
    INFO("cut at " << cut);
    CHECK(act(std::vector<uint8_t>(good.begin(), good.begin() + long(cut))) == Action::Reply);
    CHECK(knot_wire_get_rcode(out.data()) == KNOT_RCODE_FORMERR);
    CHECK(knot_wire_get_ancount(out.data()) == 0);
  }
  auto two = good;
  knot_wire_set_qdcount(two.data(), 2);
  CHECK(act(two) == Action::Reply);
  CHECK(knot_wire_get_rcode(out.data()) == KNOT_RCODE_FORMERR);
  auto notify = good;
  knot_wire_set_opcode(notify.data(), KNOT_OPCODE_NOTIFY);
  CHECK(act(notify) == Action::Reply);
  CHECK(knot_wire_get_rcode(out.data()) == KNOT_RCODE_NOTIMPL);
  auto trailing = good;
  trailing.resize(good.size() + 40, 0xff);
  CHECK(act(trailing) == Action::Reply);
  CHECK(knot_wire_get_rcode(out.data()) == KNOT_RCODE_FORMERR);
  CHECK(r.respond(f.view, a, true, good.data(), 70000, true, out.data(), out.size(), &len) == Action::Drop);  // oversized
  // Garbage of every length: never a crash, never an answer record.
  uint32_t seed = 1;
  for (int i = 0; i < 20000; i++) {
    std::vector<uint8_t> junk(size_t(i % 600));
    for (auto& b : junk) b = uint8_t((seed = seed * 1103515245 + 12345) >> 16);
    if (junk.size() > 4) junk[2] &= 0x7f;  // mostly "queries"
    Action x = act(junk);
    if (x == Action::Reply) CHECK(len >= KNOT_WIRE_HEADER_SIZE);
  }
}

TEST_CASE("dns upstreams: the container's, its networks', the host's; none on internal networks") {
  Nets nets;
  auto up = [&](const EndpointRecord& r, std::vector<std::string> host = {"192.0.2.53"}) {
    auto m = member_from_record(r, nets.lookup());
    REQUIRE(m);
    auto c = choose_upstreams(*m, nets.lookup(), host);
    std::vector<std::string> out;
    for (auto& u : c.servers) out.push_back(u.text);
    if (!c.forward) out.push_back("<no forwarding>");
    return out;
  };
  auto own = rec("a", "a", {att("front", "10.0.1.2")});
  own.dns = {"10.9.9.9", "not-an-ip"};
  CHECK(up(own) == std::vector<std::string>{"10.9.9.9"});
  CHECK(up(rec("a", "a", {att("front", "10.0.1.2"), att("back", "10.0.2.2")})) == std::vector<std::string>{"10.1.1.1", "10.2.2.2"});
  nets.defs["front"].dns_servers.clear();
  CHECK(up(rec("a", "a", {att("front", "10.0.1.2")})) == std::vector<std::string>{"192.0.2.53"});
  CHECK(up(rec("a", "a", {att("iso", "10.0.3.2")})) == std::vector<std::string>{"<no forwarding>"});
  CHECK(up(rec("a", "a", {att("iso", "10.0.3.2"), att("front", "10.0.1.2")})) == std::vector<std::string>{"192.0.2.53"});
}

TEST_CASE("dns upstreams: the host's resolvers as the server sees them, addresses with ports") {
  auto host = [](const std::string& a, const std::string& b) {
    return host_resolv_conf(/*keep_loopback=*/true, /*replace_stub=*/true, a, b).nameservers;
  };
  TempDir d;
  spit(d.path + "/resolv.conf", "# c\nnameserver 10.0.0.1\nsearch x\nnameserver  fd00::1\nnameserver bogus\nnameserver 10.0.0.1\n");
  CHECK(host(d.path + "/resolv.conf", d.path + "/missing") == std::vector<std::string>{"10.0.0.1", "fd00::1"});
  spit(d.path + "/resolv.conf", "nameserver 127.0.0.53\noptions edns0\n");
  spit(d.path + "/resolved.conf", "nameserver 192.0.2.1\nnameserver 192.0.2.2\n");
  CHECK(host(d.path + "/resolv.conf", d.path + "/resolved.conf") == std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
  CHECK(host(d.path + "/resolv.conf", d.path + "/missing") == std::vector<std::string>{"127.0.0.53"});
  // A host-mode container keeps the stub (Docker copies the host's file); a container of its own drops it.
  CHECK(host_resolv_conf(true, false, d.path + "/resolv.conf", d.path + "/resolved.conf").nameservers ==
        std::vector<std::string>{"127.0.0.53"});
  CHECK(host_resolv_conf(false, false, d.path + "/resolv.conf", d.path + "/resolved.conf").nameservers ==
        std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
  spit(d.path + "/resolv.conf", "nameserver 127.0.0.53\nnameserver 127.0.0.1\n");
  CHECK(host(d.path + "/resolv.conf", d.path + "/resolved.conf") == std::vector<std::string>{"127.0.0.53", "127.0.0.1"});
  CHECK(host(d.path + "/missing", d.path + "/resolved.conf").empty());
  CHECK(parse_upstream("10.0.0.1:5353"));
  CHECK(parse_upstream("[fd00::1]:53"));
  CHECK_FALSE(parse_upstream("10.0.0.1:0"));
  CHECK_FALSE(parse_upstream("[fd00::1"));
  CHECK_FALSE(parse_upstream("name.example"));
}

TEST_CASE("dns control messages are validated") {
  std::string why;
  auto p = [&](const std::string& s) { return parse_control(s.data(), s.size(), &why); };
  REQUIRE(p(R"({"op":"add","id":"abc"})"));
  CHECK(p(R"({"op":"add","id":"abc"})")->id == "abc");
  CHECK(p(R"({"op":"status"})"));
  CHECK(p(R"({"op":"whatever"})"));  // passed on, logged and ignored by the server
  REQUIRE(p(R"({"op":"remote","network":"ov1"})"));
  CHECK(p(R"({"op":"remote","network":"ov1"})")->network == "ov1");
  CHECK_FALSE(p(R"({"op":"remote","network":"../x"})"));
  CHECK_FALSE(p(R"({"op":"remote"})"));
  CHECK_FALSE(p(R"({"op":"add","id":"../etc"})"));
  CHECK_FALSE(p(R"({"op":"remove"})"));
  CHECK_FALSE(p(R"({"op":1})"));
  CHECK_FALSE(p("not json"));
  CHECK_FALSE(p(""));
  CHECK_FALSE(p(std::string(5000, ' ')));
}

TEST_CASE("dns remote endpoints: other hosts' containers answer like local ones, on their network only") {
  Fixture f;
  const Member& web = f.put(rec("w", "web", {att("front", "10.0.1.2")}));
  const Member& db = f.put(rec("d", "db", {att("back", "10.0.2.2")}));
  RemoteEndpoint r{kHexId, "Far", "farhost", "10.0.1.9", {"api"}};
  f.view.put(member_from_remote(r, "front"));
  for (auto name : {"far", "far.front", "api", "farhost", "0123456789ab"})
    CHECK(resolve(f.view, web, name) == std::set<std::string>{"10.0.1.9"});
  CHECK(resolve(f.view, db, "far") == std::set<std::string>{"<not local>"});
  uint8_t addr[4] = {10, 0, 1, 9};
  REQUIRE(f.view.reverse(web, AF_INET, addr));
  CHECK(*f.view.reverse(web, AF_INET, addr) == "Far.front.");
  CHECK_FALSE(f.view.reverse(db, AF_INET, addr));
  // A remote id equal to a local one replaces nothing; its removal leaves the local one.
  f.view.put(member_from_remote({"w", "web", "", "10.0.1.8", {}}, "front"));
  CHECK(f.view.find("w"));
  CHECK(resolve(f.view, db, "web") == std::set<std::string>{"<not local>"});
  CHECK(resolve(f.view, web, "web") == std::set<std::string>{"10.0.1.2", "10.0.1.8"});
  f.view.remove(remote_key("front", "w"));
  CHECK(resolve(f.view, web, "web") == std::set<std::string>{"10.0.1.2"});
  f.view.remove(remote_key("front", kHexId));
  CHECK(resolve(f.view, web, "far") == std::set<std::string>{"<not local>"});
}

TEST_CASE("dns remote endpoints: the agent's file is validated") {
  std::vector<RemoteEndpoint> eps{{"c1", "one", "", "10.0.0.2", {"a1"}}, {"c2", "", "h2", "10.0.0.3", {}}};
  size_t skipped = 9;
  auto back = parse_remote_endpoints(remote_endpoints_json("ov", eps), "ov", &skipped);
  REQUIRE(back);
  CHECK(*back == eps);
  CHECK(skipped == 0);
  CHECK_FALSE(parse_remote_endpoints(remote_endpoints_json("ov", eps), "other", &skipped));
  CHECK_FALSE(parse_remote_endpoints("not json", "ov", &skipped));
  CHECK_FALSE(parse_remote_endpoints(R"({"network":"ov","endpoints":{}})", "ov", &skipped));
  auto mixed = parse_remote_endpoints(R"({"network":"ov","endpoints":[
      {"id":"../x","ip":"10.0.0.2"}, {"id":"c3","ip":"fd00::1"}, 7,
      {"id":"c4","ip":"10.0.0.4","name":"bad name","hostname":"ok-host","aliases":["fine","no/slash",3]}]})",
                                      "ov", &skipped);
  REQUIRE(mixed);
  CHECK(skipped == 3);
  REQUIRE(mixed->size() == 1);
  CHECK(mixed->at(0) == RemoteEndpoint{"c4", "", "ok-host", "10.0.0.4", {"fine"}});
  CHECK_FALSE(parse_remote_endpoints(std::string(kMaxRemoteFile + 1, ' '), "ov", &skipped));
}

TEST_CASE("dns remote endpoints: files written only when they change; cached overlay definitions") {
  TempDir d;
  std::vector<RemoteEndpoint> eps{{"c1", "one", "", "10.0.0.2", {}}};
  CHECK(write_remote_endpoints(d.path, "ov", eps));
  CHECK_FALSE(write_remote_endpoints(d.path, "ov", eps));
  eps.clear();
  CHECK(write_remote_endpoints(d.path, "ov", eps));
  NetworkDef n;
  n.name = "ov";
  n.driver = Driver::overlay;
  n.id = kHexId;
  n.subnet = *parse_ipv4_net("10.200.0.0/24");
  n.gateway = *parse_ipv4("10.200.0.1");
  cache_network_for_dns(d.path, n);
  auto sig = [&] {
    struct stat st {};
    ::stat((dns_networks_dir(d.path) + "/ov.json").c_str(), &st);
    return st.st_ino;
  };
  auto ino = sig();
  cache_network_for_dns(d.path, n);
  CHECK(sig() == ino);
  REQUIRE(load_cached_network(d.path, "ov"));
  CHECK(load_cached_network(d.path, "ov")->driver == Driver::overlay);
  CHECK_FALSE(load_cached_network(d.path, "../ov"));
  CHECK(fed_networks(d.path) == std::vector<std::string>{"ov"});
  CHECK(remove_remote_endpoints(d.path, "ov"));
  CHECK_FALSE(remove_remote_endpoints(d.path, "ov"));
  uncache_network_for_dns(d.path, "ov");
  CHECK(fed_networks(d.path).empty());
  n.driver = Driver::bridge;
  cache_network_for_dns(d.path, n);
  CHECK_FALSE(load_cached_network(d.path, "ov"));  // only overlay definitions come this way
}
