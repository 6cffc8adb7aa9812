// Root-only check of the iptables backend against the real kernel. It first moves itself into a
// fresh network namespace, so only that namespace's tables are ever touched, never the host's.
// Exit status: 0 all passed, 1 a check failed, 77 skipped (not root, no namespaces, no x_tables).
#include <dlfcn.h>
#include <fcntl.h>
#include <libiptc/libiptc.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "netcore/error.h"
#include "netcore/firewall/firewall.h"
#include "tests/integration/fw_check.h"

using namespace ocinet;

namespace {

using namespace fwcheck;  // check, run, throws, succeeds, passed, failed

struct HandleFree {
  void operator()(xtc_handle* h) const { iptc_free(h); }
};
using Handle = std::unique_ptr<xtc_handle, HandleFree>;

// Independent of the backend's own parsing: walks the matches of each rule by hand.
std::string comment_of(const ipt_entry* e) {
  for (unsigned off = sizeof(ipt_entry); off < e->target_offset;) {
    auto* m = reinterpret_cast<const xt_entry_match*>(reinterpret_cast<const char*>(e) + off);
    if (std::strcmp(m->u.user.name, "comment") == 0)
      return std::string(reinterpret_cast<const char*>(m->data));
    if (m->u.match_size == 0) break;
    off += m->u.match_size;
  }
  return "";
}

bool chain_exists(const char* table, const char* chain) {
  Handle h(iptc_init(table));
  return h && iptc_is_chain(chain, h.get());
}

// Rules in table/chain with exactly this comment; -1 if the chain is missing.
int count_comment(const char* table, const char* chain, const std::string& comment) {
  Handle h(iptc_init(table));
  if (!h || !iptc_is_chain(chain, h.get())) return -1;
  int n = 0;
  for (auto* e = iptc_first_rule(chain, h.get()); e; e = iptc_next_rule(e, h.get()))
    if (comment_of(e) == comment) ++n;
  return n;
}

int count_jumps(const char* table, const char* from, const char* to) {
  Handle h(iptc_init(table));
  if (!h) return -1;
  int n = 0;
  for (auto* e = iptc_first_rule(from, h.get()); e; e = iptc_next_rule(e, h.get()))
    if (std::strcmp(iptc_get_target(e, h.get()), to) == 0) ++n;
  return n;
}

std::string first_target(const char* table, const char* chain) {
  Handle h(iptc_init(table));
  if (!h) return "";
  auto* e = iptc_first_rule(chain, h.get());
  return e ? iptc_get_target(e, h.get()) : "";
}

// iptables 1.8.9 quotes comments and older versions do not: compare without quotes.
std::string save() {
  std::string s = run("iptables-legacy-save 2>/dev/null");
  s.erase(std::remove(s.begin(), s.end(), '"'), s.end());
  return s;
}

// iptables -C builds the rule its own way and compares it byte for byte with the kernel's:
// proof that the backend's entries are exactly what iptables would have written.
void check_iptables_has(const std::string& table, const std::string& rule) {
  int rc = std::system(("iptables-legacy -w -t " + table + " -C " + rule + " 2>/dev/null").c_str());
  check(rc == 0, "iptables -t " + table + " -C " + rule);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

void check_line(const std::string& text, const std::string& line) { check(has_line(text, line), "save has: " + line); }

void check_no(const std::string& text, const std::string& needle) {
  check(text.find(needle) == std::string::npos, "save lacks: " + needle);
}

int total_ocinet_comments(const std::string& text) {
  int n = 0;
  for (size_t at = text.find("--comment ocinet"); at != std::string::npos; at = text.find("--comment ocinet", at + 1)) ++n;
  return n;
}

}  // namespace

// Fault injection: the backend's commits resolve to this definition, so a test can make the
// n-th commit from now fail as the kernel would (EAGAIN: the table changed under us).
static int fail_nth_commit = -1;
extern "C" int iptc_commit(xtc_handle* h) {
  static auto real = reinterpret_cast<int (*)(xtc_handle*)>(dlsym(RTLD_NEXT, "iptc_commit"));
  if (fail_nth_commit == 0) {
    fail_nth_commit = -1;
    errno = EAGAIN;
    return 0;
  }
  if (fail_nth_commit > 0) --fail_nth_commit;
  return real(h);
}

int main() {
  if (geteuid() != 0) {
    std::printf("SKIP: needs root\n");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::printf("SKIP: unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
    return 77;
  }
  if (!Handle(iptc_init("nat")) || !Handle(iptc_init("filter"))) {
    std::printf("SKIP: no legacy x_tables nat/filter: %s\n", iptc_strerror(errno));
    return 77;
  }
  const bool have_save = run("command -v iptables-legacy-save").size() > 0;

  auto fw = make_iptables_backend();
  check(std::string(fw->name()) == "iptables", "name() is iptables");

  // An empty namespace: nothing to remove is success, and nothing gets created.
  check(succeeds([&] { fw->remove_endpoint("abc123"); }), "remove_endpoint on an empty netns");
  check(succeeds([&] { fw->remove_network("testnet", false); }), "remove_network on an empty netns");
  check(!chain_exists("nat", "OCINET-DNAT"), "removal created no chain");

  // A rule that is not ocinet's must survive everything below, and ocinet's jump goes before it.
  run("iptables-legacy -w -A FORWARD -j DROP");

  NetworkRules net;
  net.name = "testnet";
  net.bridge = "ocinet0";
  net.subnet = "172.17.0.0/16";
  EndpointRules ep1;
  ep1.tag = "abc123";
  ep1.container_ip = "172.17.0.2";
  ep1.bridge = "ocinet0";
  ep1.ports = {{"", 8080, 80, "tcp"}, {"127.0.0.1", 5353, 53, "udp"}};

  check(succeeds([&] { fw->add_endpoint(net, ep1); }), "add_endpoint abc123 (tcp 8080->80, udp 127.0.0.1:5353->53)");
  check(chain_exists("nat", "OCINET-DNAT"), "nat OCINET-DNAT exists");
  check(chain_exists("nat", "OCINET-POSTROUTING"), "nat OCINET-POSTROUTING exists");
  check(chain_exists("filter", "OCINET-FORWARD"), "filter OCINET-FORWARD exists");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 2, "2 DNAT rules for abc123");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet:abc123") == 0, "no per-container POSTROUTING rule (hairpin is per network)");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:testnet") == 3, "3 MASQUERADE rules for testnet (outbound, hairpin, localhost)");
  check(count_comment("filter", "OCINET-ISOLATE-1", "ocinet-net:testnet") == 1, "1 isolation stage-1 rule for testnet");
  check(count_comment("filter", "OCINET-ISOLATE-2", "ocinet-net:testnet") == 1, "1 isolation stage-2 rule for testnet");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:testnet") == 4, "4 FORWARD rules for testnet");
  check(count_jumps("nat", "PREROUTING", "OCINET-DNAT") == 1, "one PREROUTING jump");
  check(count_jumps("nat", "OUTPUT", "OCINET-DNAT") == 1, "one OUTPUT jump");
  check(count_jumps("nat", "POSTROUTING", "OCINET-POSTROUTING") == 1, "one POSTROUTING jump");
  check(count_jumps("filter", "FORWARD", "OCINET-FORWARD") == 1, "one FORWARD jump");
  check(first_target("filter", "FORWARD") == "OCINET-FORWARD", "FORWARD jump is first, before the foreign DROP");

  if (have_save) {
    std::string s = save();
    check_line(s, ":OCINET-DNAT - [0:0]");
    check_line(s, "-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j OCINET-DNAT");
    check_line(s, "-A OUTPUT -m addrtype --dst-type LOCAL -j OCINET-DNAT");
    check_line(s, "-A OCINET-FORWARD -j OCINET-ISOLATE-1");
    check_line(s, "-A OCINET-ISOLATE-1 -i ocinet0 ! -o ocinet0 -m comment --comment ocinet-net:testnet -j OCINET-ISOLATE-2");
    check_line(s, "-A OCINET-ISOLATE-2 -o ocinet0 -m comment --comment ocinet-net:testnet -j DROP");
    check_line(s, "-A POSTROUTING -j OCINET-POSTROUTING");
    check_line(s, "-A FORWARD -j OCINET-FORWARD");
    check_line(s, "-A OCINET-DNAT -p tcp -m tcp --dport 8080 -m comment --comment ocinet:abc123 -j DNAT --to-destination 172.17.0.2:80");
    check_line(s, "-A OCINET-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 5353 -m comment --comment ocinet:abc123 -j DNAT --to-destination 172.17.0.2:53");
    check_line(s, "-A OCINET-POSTROUTING -s 172.17.0.0/16 -o ocinet0 -m conntrack --ctstate DNAT -m comment --comment ocinet-net:testnet -j MASQUERADE");
    check_line(s, "-A OCINET-POSTROUTING -s 127.0.0.0/8 -o ocinet0 -m comment --comment ocinet-net:testnet -j MASQUERADE");
    check_line(s, "-A OCINET-POSTROUTING -s 172.17.0.0/16 ! -o ocinet0 -m comment --comment ocinet-net:testnet -j MASQUERADE");
    check_line(s, "-A OCINET-FORWARD -o ocinet0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_line(s, "-A OCINET-FORWARD -o ocinet0 -m conntrack --ctstate DNAT -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_line(s, "-A OCINET-FORWARD -i ocinet0 -o ocinet0 -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_line(s, "-A OCINET-FORWARD -i ocinet0 ! -o ocinet0 -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_no(s, "unsupported");
    check_iptables_has("nat", "PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j OCINET-DNAT");
    check_iptables_has("nat", "OUTPUT -m addrtype --dst-type LOCAL -j OCINET-DNAT");
    check_iptables_has("nat", "OCINET-DNAT -p tcp -m tcp --dport 8080 -m comment --comment ocinet:abc123 -j DNAT --to-destination 172.17.0.2:80");
    check_iptables_has("nat", "OCINET-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 5353 -m comment --comment ocinet:abc123 -j DNAT --to-destination 172.17.0.2:53");
    check_iptables_has("nat", "OCINET-POSTROUTING -s 172.17.0.0/16 -o ocinet0 -m conntrack --ctstate DNAT -m comment --comment ocinet-net:testnet -j MASQUERADE");
    check_iptables_has("filter", "OCINET-ISOLATE-2 -o ocinet0 -m comment --comment ocinet-net:testnet -j DROP");
    check_iptables_has("nat", "OCINET-POSTROUTING -s 172.17.0.0/16 ! -o ocinet0 -m comment --comment ocinet-net:testnet -j MASQUERADE");
    check_iptables_has("filter", "FORWARD -j OCINET-FORWARD");
    check_iptables_has("filter", "OCINET-FORWARD -o ocinet0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_iptables_has("filter", "OCINET-FORWARD -o ocinet0 -m conntrack --ctstate DNAT -m comment --comment ocinet-net:testnet -j ACCEPT");
    check_iptables_has("filter", "OCINET-FORWARD -i ocinet0 ! -o ocinet0 -m comment --comment ocinet-net:testnet -j ACCEPT");
  }

  // Second endpoint on the same network: network rules and jumps are not duplicated.
  EndpointRules ep2;
  ep2.tag = "def456";
  ep2.container_ip = "172.17.0.3";
  ep2.bridge = "ocinet0";
  ep2.ports = {{"0.0.0.0", 8081, 81, "tcp"}, {"", 9999, 99, "sctp"}};
  check(succeeds([&] { fw->add_endpoint(net, ep2); }), "add_endpoint def456 (tcp 0.0.0.0:8081->81, sctp 9999->99)");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") == 2, "2 DNAT rules for def456");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 2, "abc123 DNAT rules untouched");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:testnet") == 3, "MASQUERADE for testnet not duplicated");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:testnet") == 4, "FORWARD rules for testnet not duplicated");
  check(count_jumps("nat", "PREROUTING", "OCINET-DNAT") == 1 && count_jumps("nat", "OUTPUT", "OCINET-DNAT") == 1 &&
            count_jumps("nat", "POSTROUTING", "OCINET-POSTROUTING") == 1 &&
            count_jumps("filter", "FORWARD", "OCINET-FORWARD") == 1,
        "jumps not duplicated");
  if (have_save) {
    std::string s = save();
    check_line(s, "-A OCINET-DNAT -p tcp -m tcp --dport 8081 -m comment --comment ocinet:def456 -j DNAT --to-destination 172.17.0.3:81");
    check_line(s, "-A OCINET-DNAT -p sctp -m sctp --dport 9999 -m comment --comment ocinet:def456 -j DNAT --to-destination 172.17.0.3:99");
    check_iptables_has("nat", "OCINET-DNAT -p sctp -m sctp --dport 9999 -m comment --comment ocinet:def456 -j DNAT --to-destination 172.17.0.3:99");
  }

  // Setting up the same endpoint again replaces its rules rather than stacking them.
  ep1.container_ip = "172.17.0.4";
  check(succeeds([&] { fw->add_endpoint(net, ep1); }), "add_endpoint abc123 again with a new address");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 2, "still 2 DNAT rules for abc123");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 2, "still 2 DNAT rules for abc123");
  if (have_save) {
    std::string s = save();
    check_line(s, "-A OCINET-DNAT -p tcp -m tcp --dport 8080 -m comment --comment ocinet:abc123 -j DNAT --to-destination 172.17.0.4:80");
    check_no(s, "--to-destination 172.17.0.2:");
  }

  // Invalid requests are refused before the kernel sees anything.
  const std::string before = save();
  EndpointRules bad = ep2;
  bad.tag = "bad1";
  bad.container_ip = "172.17.0.300";
  check(throws([&] { fw->add_endpoint(net, bad); }, ErrorKind::Invalid), "bad container address -> Invalid");
  bad.container_ip = "172.17.0.5";
  bad.ports = {{"::1", 8082, 82, "tcp"}};
  check(throws([&] { fw->add_endpoint(net, bad); }, ErrorKind::Invalid), "non-IPv4 host address -> Invalid");
  bad.ports = {{"", 8082, 82, "icmp"}};
  check(throws([&] { fw->add_endpoint(net, bad); }, ErrorKind::Invalid), "unknown protocol -> Invalid");
  bad.ports = {};
  bad.tag = "a b";
  check(throws([&] { fw->add_endpoint(net, bad); }, ErrorKind::Invalid), "tag with a space -> Invalid");
  bad.tag = std::string(300, 'a');
  check(throws([&] { fw->add_endpoint(net, bad); }, ErrorKind::Invalid), "over-long tag -> Invalid");
  bad.tag = "bad1";
  NetworkRules badnet = net;
  badnet.subnet = "172.17.0.0/33";
  check(throws([&] { fw->add_endpoint(badnet, bad); }, ErrorKind::Invalid), "bad subnet -> Invalid");
  badnet = net;
  badnet.bridge = "averyveryverylongbridge";
  check(throws([&] { fw->add_endpoint(badnet, bad); }, ErrorKind::Invalid), "over-long bridge name -> Invalid");
  check(throws([&] { fw->remove_endpoint("x;y"); }, ErrorKind::Invalid), "remove_endpoint with a bad tag -> Invalid");
  if (have_save) check(save() == before, "refused requests changed nothing");

  // An internal network: no MASQUERADE and no way out of the bridge.
  NetworkRules inet;
  inet.name = "intnet";
  inet.bridge = "ocinet1";
  inet.subnet = "10.99.0.0/24";
  inet.internal = true;
  EndpointRules ep3;
  ep3.tag = "ghi789";
  ep3.container_ip = "10.99.0.2";
  ep3.bridge = "ocinet1";
  check(succeeds([&] { fw->add_endpoint(inet, ep3); }), "add_endpoint on an internal network, no ports");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:intnet") == 2, "internal: no outbound MASQUERADE (hairpin and localhost only)");
  check(count_comment("filter", "OCINET-ISOLATE-1", "ocinet-net:intnet") == 2, "internal: both directions off the bridge dropped");
  if (have_save) check_line(save(), "-A OCINET-ISOLATE-1 -i ocinet1 ! -o ocinet1 -m comment --comment ocinet-net:intnet -j DROP");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:intnet") == 3, "internal: 3 FORWARD rules");

  // Removal of one endpoint takes exactly its rules.
  check(succeeds([&] { fw->remove_endpoint("abc123"); }), "remove_endpoint abc123");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 0, "abc123 DNAT rules gone");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:abc123") == 0, "abc123 DNAT rules gone");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") == 2, "def456 DNAT rules kept");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") >= 1, "def456 DNAT rules kept");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:testnet") == 3, "testnet MASQUERADE kept");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:testnet") == 4, "testnet FORWARD rules kept");
  check(succeeds([&] { fw->remove_endpoint("abc123"); }), "remove_endpoint abc123 a second time");
  // A tag that is a prefix of another must not take the other's rules.
  check(succeeds([&] { fw->remove_endpoint("def45"); }), "remove_endpoint def45 (prefix of def456)");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") == 2, "def456 rules survive removal of a prefix tag");

  check(succeeds([&] { fw->remove_network("testnet", false); }), "remove_network testnet");
  check(count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:testnet") == 0, "testnet MASQUERADE gone");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:testnet") == 0, "testnet FORWARD rules gone");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:intnet") == 3, "intnet FORWARD rules kept");
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") == 2, "def456 rules kept by remove_network");

  // The backend waits for the lock iptables users share instead of failing at once.
  {
    int fd = open("/run/xtables.lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    bool locked = fd >= 0 && flock(fd, LOCK_EX) == 0;
    std::thread releaser([fd] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      close(fd);
    });
    auto t0 = std::chrono::steady_clock::now();
    bool ok = succeeds([&] { fw->remove_endpoint("def456"); });
    auto waited = std::chrono::steady_clock::now() - t0;
    releaser.join();
    check(locked && ok && waited >= std::chrono::milliseconds(250), "remove_endpoint def456 waits for a held xtables lock");
  }
  check(count_comment("nat", "OCINET-DNAT", "ocinet:def456") == 0 &&
            count_comment("nat", "OCINET-POSTROUTING", "ocinet:def456") == 0,
        "def456 rules gone");
  // The last network, while containers are on others (the caller saw their leases): its rules
  // go, ocinet's chains stay; without such containers the chains go too.
  check(succeeds([&] { fw->remove_network("intnet", true); }), "remove_network intnet with tables_in_use");
  check(count_comment("filter", "OCINET-FORWARD", "ocinet-net:intnet") == 0, "intnet FORWARD rules gone");
  check(chain_exists("nat", "OCINET-DNAT") && chain_exists("filter", "OCINET-FORWARD"), "ocinet's chains kept");
  check(succeeds([&] { fw->remove_network("intnet", false); }), "remove_network intnet");
  check(!chain_exists("nat", "OCINET-DNAT") && !chain_exists("filter", "OCINET-FORWARD"), "ocinet's chains gone");
  check(succeeds([&] { fw->remove_endpoint("ghi789"); }), "remove_endpoint ghi789 (had no rules)");

  // A failed add_endpoint leaves nothing of its own behind, whichever commit fails.
  {
    NetworkRules fnet;
    fnet.name = "failnet";
    fnet.bridge = "ocinet2";
    fnet.subnet = "10.98.0.0/24";
    EndpointRules fep;
    fep.tag = "jkl012";
    fep.container_ip = "10.98.0.2";
    fep.bridge = "ocinet2";
    fep.ports = {{"", 8090, 90, "tcp"}};
    // A missing chain (-1: ocinet pruned its chains with its last network) holds nothing either.
    auto nothing_left = [&] {
      return count_comment("nat", "OCINET-DNAT", "ocinet:jkl012") <= 0 &&
             count_comment("nat", "OCINET-POSTROUTING", "ocinet:jkl012") <= 0 &&
             count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:failnet") <= 0 &&
             count_comment("filter", "OCINET-FORWARD", "ocinet-net:failnet") <= 0;
    };
    fail_nth_commit = 0;
    check(throws([&] { fw->add_endpoint(fnet, fep); }, ErrorKind::System), "nat commit fails -> System error");
    check(nothing_left(), "  and nothing of that call is in either table");
    fail_nth_commit = 1;
    check(throws([&] { fw->add_endpoint(fnet, fep); }, ErrorKind::System), "filter commit fails -> System error");
    check(nothing_left(), "  and the already committed nat rules were rolled back");

    // Rollback must not take network rules an earlier call made. Filter's copy is flushed by
    // hand so that this call has something to commit there (and fail).
    check(succeeds([&] { fw->add_endpoint(fnet, EndpointRules{"mno345", "10.98.0.3", "ocinet2", {}}); }),
          "add_endpoint mno345 on failnet");
    run("iptables-legacy -w -F OCINET-FORWARD");
    fail_nth_commit = 1;
    check(throws([&] { fw->add_endpoint(fnet, fep); }, ErrorKind::System), "filter commit fails again");
    check(count_comment("nat", "OCINET-DNAT", "ocinet:jkl012") == 0 &&
              count_comment("nat", "OCINET-POSTROUTING", "ocinet-net:failnet") == 3 &&
              count_comment("filter", "OCINET-FORWARD", "ocinet-net:failnet") == 0,
          "  endpoint rules rolled back, earlier MASQUERADE kept");
    check(succeeds([&] { fw->remove_network("failnet", false); }), "remove_network failnet");

    // A real refusal by the kernel: DNAT is not allowed on the INPUT hook.
    run("iptables-legacy -w -t nat -N OCINET-DNAT 2>/dev/null");
    run("iptables-legacy -w -t nat -A INPUT -j OCINET-DNAT");
    std::string why;
    try {
      fw->add_endpoint(fnet, fep);
    } catch (const Error& e) {
      why = e.what();
    }
    check(!why.empty(), "kernel refuses the nat table -> error: " + why);
    check(nothing_left(), "  and nothing of that call is in either table");
    run("iptables-legacy -w -t nat -D INPUT -j OCINET-DNAT");
  }

  // Timing of the product's headline path, for information only.
  {
    EndpointRules ep = ep2;
    auto t0 = std::chrono::steady_clock::now();
    bool ok = succeeds([&] { fw->add_endpoint(net, ep); });
    auto t1 = std::chrono::steady_clock::now();
    ok = ok && succeeds([&] { fw->remove_endpoint(ep.tag); });
    auto t2 = std::chrono::steady_clock::now();
    ok = ok && succeeds([&] { fw->remove_network(net.name, false); });
    using us = std::chrono::microseconds;
    check(ok, "add+remove round trip (add " + std::to_string(std::chrono::duration_cast<us>(t1 - t0).count()) +
                  " us, remove " + std::to_string(std::chrono::duration_cast<us>(t2 - t1).count()) + " us)");
  }

  if (have_save) {
    std::string s = save();
    check(total_ocinet_comments(s) == 0, "no ocinet-commented rule left");
    check_line(s, "-A FORWARD -j DROP");
  }

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
