// iptables backend: legacy x_tables through libiptc, in-process. Forking iptables per rule would
// cost more than the rest of container setup together; libiptc lets one call read each table
// once, edit it in memory and replace it in a single commit.
//
// Everything ocinet owns lives in its own chains (OCINET-DNAT, OCINET-POSTROUTING in nat,
// OCINET-FORWARD in filter) and carries a comment match: "ocinet:<tag>" for an endpoint's rules,
// "ocinet-net:<name>" for a network's. Rules are found and removed by that comment only, so
// ocinet never touches a rule it did not write.
//
// Dual-stack networks get the same chains and rules in the IPv6 tables (libip6tc), written by
// the same code: everything below is a template over the family (Inet4, Inet6). IPv4-only
// setups and teardowns never open an IPv6 table.
#include <arpa/inet.h>
// libiptc first: it includes the kernel's interface headers, which clash with net/if.h.
#include "netcore/firewall/ipt_lib.h"
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_conntrack.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/firewall/foreign_forward.h"
#include "netcore/firewall/fw_input.h"
#include "netcore/firewall/ipt_rule.h"
#include "netcore/firewall/ipt_table.h"

namespace ocinet {
namespace {

using namespace ipt;

constexpr const char* kDnatChain = "OCINET-DNAT";
constexpr const char* kPostChain = "OCINET-POSTROUTING";
constexpr const char* kForwardChain = "OCINET-FORWARD";
// Docker's two-stage isolation: stage 1 sends traffic leaving an ocinet bridge for another
// interface to stage 2, which drops it if that interface is another ocinet bridge.
constexpr const char* kIsolate1Chain = "OCINET-ISOLATE-1";
constexpr const char* kIsolate2Chain = "OCINET-ISOLATE-2";
// Keeps containers off the host's loopback services (ensure_network_filter).
constexpr const char* kInputChain = "OCINET-INPUT";
// IPv6 only: ports published on [::1], jumped to from OUTPUT for ::1 alone (ensure_nat_chains).
constexpr const char* kLoopback6Chain = "OCINET-DNAT-LO";
constexpr const char* kNatChains[] = {kDnatChain, kPostChain, kLoopback6Chain};
constexpr const char* kFilterChains[] = {kForwardChain, kIsolate1Chain, kIsolate2Chain, kInputChain};

// ---------------------------------------------------------------------------------------------
// Input: names checked, values as both families' rules take them. Everything is checked before
// the lock is taken, so a bad request never touches the kernel.

std::string comment_for(const char* prefix, const std::string& id, const char* what) {
  return fw_comment(prefix, id, what, XT_MAX_COMMENT_LEN - 1);
}

std::string endpoint_comment(const std::string& tag) { return comment_for("ocinet:", tag, "endpoint tag"); }
std::string network_comment(const std::string& name) { return comment_for("ocinet-net:", name, "network name"); }

void check_iface(const std::string& name) {
  // '+' would turn the match into a prefix wildcard; the rest would be refused by the kernel
  // when the bridge is created anyway.
  bool ok = !name.empty() && name.size() < IFNAMSIZ;
  for (char ch : name) ok = ok && ch > ' ' && ch != '/' && ch != '+' && ch != 0x7f;
  if (!ok) fail_invalid("firewall: bridge name \"" + name + "\" is not a valid interface name");
}

struct ParsedNetwork {
  std::string comment;
  std::string bridge;
  Cidr<Inet4> subnet;
  std::optional<Cidr<Inet6>> subnet6;  // dual stack
  bool internal = false;
};

struct ParsedEndpoint {
  std::string comment;
  in_addr ip{};
  std::optional<in6_addr> ip6;
  std::vector<Port<Inet4>> ports;
  std::vector<Port<Inet6>> ports6;
};

ParsedNetwork parse_network(const NetworkRules& net) {
  ParsedNetwork p;
  p.comment = network_comment(net.name);
  check_iface(net.bridge);
  fw_check(net);
  p.bridge = net.bridge;
  p.subnet = cidr(*net.subnet);
  if (net.subnet6.has_value()) p.subnet6 = cidr(*net.subnet6);
  p.internal = net.internal;
  return p;
}

ParsedEndpoint parse_endpoint(const EndpointRules& ep) {
  ParsedEndpoint p;
  p.comment = endpoint_comment(ep.tag);
  fw_check(ep);
  p.ip = *ep.container_ip;
  if (ep.container_ip6.has_value()) p.ip6 = *ep.container_ip6;
  for (const PublishedPort& pm : ep.ports) {
    const uint16_t proto = uint16_t(pm.proto);
    const PortHosts hosts = fw_port_hosts(pm, p.ip6.has_value());
    if (hosts.v4) p.ports.push_back({hosts.addr4, pm.host_port, pm.host_last, pm.container_port, proto});
    if (hosts.v6) p.ports6.push_back({hosts.addr6, pm.host_port, pm.host_last, pm.container_port, proto});
  }
  return p;
}
// ---------------------------------------------------------------------------------------------
// What ocinet puts in each table, the same in both families.

// Jumps from the built-in chains carry no comment: they belong to ocinet as a whole, not to a
// network, so no network's removal takes them away.
// Returns whether the jump had to be added (none there: ocinet's first rules, or a flush).
template <class F>
bool ensure_jump(Table<F>& t, const char* from, const char* to, Rule<F> rule, bool first = false) {
  if (t.jumps_to(from, to)) return false;
  rule.jump(to);
  if (first)
    t.insert_first(from, rule);
  else
    t.append(from, rule);
  return true;
}

// Both return whether a jump from a built-in chain was missing.
template <class F>
bool ensure_nat_chains(Table<F>& nat) {
  for (const char* chain : kNatChains)
    if (F::kV6 || chain != kLoopback6Chain) nat.ensure_chain(chain);
  // Only traffic addressed to this host is port-forwarded, as with Docker; loopback
  // destinations are left out of OUTPUT because DNAT of 127/8 needs route_localnet.
  // Loopback destinations are left out of PREROUTING: DNAT runs before the kernel drops a
  // packet from another host addressed to 127.0.0.1 as a martian, so a neighbour routing
  // 127.0.0.1 to us would otherwise reach ports published on 127.0.0.1.
  bool added = ensure_jump(nat, "PREROUTING", kDnatChain, Rule<F>().dst(loopback<F>(), true).dst_type_local());
  // From the host itself, loopback included: a port published on 127.0.0.1 is for the host's
  // own clients (its packets reach the bridge thanks to route_localnet on the bridge only).
  // IPv6 has no route_localnet: ::1 is left out of OCINET-DNAT, whose rules for every address
  // would otherwise DNAT [::1]:port to containers that cannot answer ::1 (a client is refused
  // at once instead of left hanging); ports published on [::1] explicitly have a chain of their
  // own, with a masquerade per container (add_endpoint_rules; nftables.cpp says why).
  if constexpr (F::kV6) {
    added |= ensure_jump(nat, "OUTPUT", kDnatChain, Rule<F>().dst(loopback<F>(), true).dst_type_local());
    added |= ensure_jump(nat, "OUTPUT", kLoopback6Chain, Rule<F>().dst(loopback<F>()));
  } else {
    added |= ensure_jump(nat, "OUTPUT", kDnatChain, Rule<F>().dst_type_local());
  }
  added |= ensure_jump(nat, "POSTROUTING", kPostChain, Rule<F>());
  return added;
}

template <class F>
bool ensure_filter_chains(Table<F>& filter) {
  for (const char* chain : kFilterChains) filter.ensure_chain(chain);
  // Isolation is judged before any accept of OCINET-FORWARD.
  bool added = ensure_jump(filter, kForwardChain, kIsolate1Chain, Rule<F>(), true);
  // First, so a DROP policy or a reject rule appended by another tool does not cut containers off.
  added |= ensure_jump(filter, "FORWARD", kForwardChain, Rule<F>(), true);
  // First too: an ACCEPT for 127/8 written by another tool must not let containers past it.
  added |= ensure_jump(filter, "INPUT", kInputChain, Rule<F>(), true);
  return added;
}

// Each returns whether it added anything, so a failed commit elsewhere knows what to undo.
template <class F>
bool ensure_network_nat(Table<F>& nat, const ParsedNetwork& n, const Cidr<F>& subnet) {
  if (nat.has_rule_with_comment(kPostChain, n.comment)) return false;
  auto masquerade = [&](Rule<F> r) {
    r.comment(n.comment).masquerade();
    nat.append(kPostChain, r);
  };
  if (!n.internal) masquerade(Rule<F>().src(subnet).out(n.bridge, true));  // outbound
  // Hairpin: a container reaching its own or a neighbour's published port through a host
  // address comes back out of the same bridge; without masquerading the reply would skip the
  // un-DNAT. Outside clients are not in the subnet, so their source address is kept.
  masquerade(Rule<F>().src(subnet).out(n.bridge).ctstate(XT_CONNTRACK_STATE_DNAT));
  // The host's own connections to ports published on 127.0.0.1: the container answers the
  // bridge address instead of a loopback address it could not route back to. (IPv4 only: see
  // ensure_nat_chains for ::1.)
  if constexpr (!F::kV6) masquerade(Rule<F>().src(loopback<F>()).out(n.bridge));
  return true;
}

// Which of a network's filter rules one call added: an undo takes back exactly those (a network
// of an earlier ocinet may get its guard rules alone, next to forward rules its containers use).
struct FilterAdded {
  bool guard = false;
  bool forward = false;
};

template <class F>
FilterAdded ensure_network_filter(Table<F>& filter, const ParsedNetwork& n) {
  auto add = [&](const char* chain, Rule<F> r, const char* target) {
    r.comment(n.comment).jump(target);
    filter.append(chain, r);
  };
  FilterAdded added;
  // route_localnet on the bridge (ports published on 127.0.0.1) also makes the kernel accept a
  // packet addressed to 127.0.0.1 coming in through it: a container routing 127.0.0.0/8 to its
  // gateway would reach every service the host binds to its loopback (CVE-2020-8558 with
  // kube-proxy; this is its fix, new connections only: the answers to the host's own
  // connections to a port published on 127.0.0.1 come back established); and packets from
  // 127/8, which services trusting loopback sources would take as the host's own (nothing
  // legitimate comes from a bridge with such a source: the host's requests leave masqueraded).
  // IPv6: the local route for ::1 through the bridge (ports published on [::1]) must deliver
  // their answers only, not a new connection someone's DNAT turned to ::1; a ::1 source from
  // the wire the kernel drops itself.
  // Checked apart from the rest, so that a network set up by an earlier ocinet gets them too.
  if (!filter.has_rule_with_comment(kInputChain, n.comment)) {
    const uint16_t answers = XT_CONNTRACK_STATE_BIT(IP_CT_RELATED) | XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED);
    add(kInputChain, Rule<F>().in(n.bridge).dst(loopback<F>()).ctstate(answers, /*invert=*/true), IPTC_LABEL_DROP);
    if constexpr (!F::kV6) add(kInputChain, Rule<F>().in(n.bridge).src(loopback<F>()), IPTC_LABEL_DROP);
    added.guard = true;
  }
  // Its OCINET-FORWARD rules, as add() below writes them: a network with fewer was set up by an
  // earlier ocinet (published ports closed to other networks, open to direct routing), and its
  // forward and isolation rules are written again, in this same commit.
  const size_t want = n.internal ? 4 : 5;
  const size_t have = filter.rules_with_comment(kForwardChain, n.comment).size();
  if (have == want) return added;
  for (const char* chain : {kForwardChain, kIsolate1Chain, kIsolate2Chain}) filter.delete_rules_with_comment(chain, n.comment);
  if (n.internal) {
    // No way on or off the bridge but between its own ports.
    add(kIsolate1Chain, Rule<F>().in(n.bridge).out(n.bridge, true), IPTC_LABEL_DROP);
    add(kIsolate1Chain, Rule<F>().in(n.bridge, true).out(n.bridge), IPTC_LABEL_DROP);
  } else {
    add(kIsolate1Chain, Rule<F>().in(n.bridge).out(n.bridge, true), kIsolate2Chain);
  }
  // A published port is for everyone, containers of other networks included (Docker's -p):
  // DNAT'd traffic and its answers pass isolation, and are accepted in OCINET-FORWARD.
  add(kIsolate2Chain, Rule<F>().out(n.bridge).ctstate(XT_CONNTRACK_STATE_DNAT), IPTC_LABEL_RETURN);
  add(kIsolate2Chain, Rule<F>().out(n.bridge), IPTC_LABEL_DROP);
  add(kForwardChain, Rule<F>().out(n.bridge).ctstate(XT_CONNTRACK_STATE_BIT(IP_CT_RELATED) | XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED)),
      IPTC_LABEL_ACCEPT);
  add(kForwardChain, Rule<F>().out(n.bridge).ctstate(XT_CONNTRACK_STATE_DNAT), IPTC_LABEL_ACCEPT);  // published ports
  add(kForwardChain, Rule<F>().in(n.bridge).out(n.bridge), IPTC_LABEL_ACCEPT);
  if (!n.internal) add(kForwardChain, Rule<F>().in(n.bridge).out(n.bridge, true), IPTC_LABEL_ACCEPT);
  // Anything else for the bridge was routed here from elsewhere: a host routing the subnet
  // through this one reaches no port that was not published (as Docker 28 does).
  add(kForwardChain, Rule<F>().out(n.bridge), IPTC_LABEL_DROP);
  // Only a network that had none: an upgrade's rules stay if a later commit fails (the
  // network's other containers need them).
  added.forward = have == 0;
  return added;
}

template <class F>
void add_endpoint_rules(Table<F>& nat, const std::string& comment, const typename F::Addr& to,
                        const std::vector<Port<F>>& ports, const std::string& bridge) {
  bool loopback6 = false;
  for (const Port<F>& p : ports) {
    Rule<F> dnat;
    if (p.host_ip) dnat.dst(host_cidr(*p.host_ip));
    dnat.dport(p.proto, p.host_port, p.host_last).comment(comment).dnat(to, p);
    bool lo = false;
    if constexpr (F::kV6) lo = p.host_ip && IN6_IS_ADDR_LOOPBACK(&*p.host_ip);
    nat.append(lo ? kLoopback6Chain : kDnatChain, dnat);
    loopback6 = loopback6 || lo;
  }
  // The host's requests to [::1]:port leave the bridge from ::1, which the container would
  // drop: masqueraded, per container (rare, and gone with it), not per network.
  if (loopback6) {
    Rule<F> masq;
    masq.src(loopback<F>()).out(bridge).comment(comment).masquerade();
    nat.append(kPostChain, masq);
  }
}

// Deletes every rule with `comment` from the table's ocinet chains and commits if any went.
// Returns whether `builtin` still jumps to the first of them (false: ocinet's rules were flushed).
template <class F, size_t N>
bool remove_commented(const char* table, const char* builtin, const char* const (&chains)[N], const std::string& comment,
                      bool missing_ok) {
  Table<F> t(table, missing_ok);
  if (!t) return false;
  for (const char* chain : chains) t.delete_rules_with_comment(chain, comment);
  const bool intact = t.jumps_to(builtin, chains[0]);
  t.commit();
  return intact;
}

// One family's nat and filter tables, edited in memory for one add_endpoint.
template <class F>
struct FamilyEdit {
  Table<F> nat{"nat"};
  Table<F> filter{"filter"};
  bool added_net_nat = false;
  FilterAdded added_net_filter;
  bool base_missing = false;  // ocinet's jumps were not there: first rules, or a flush

  void prepare(const ParsedNetwork& n, const Cidr<F>& subnet, const std::string& endpoint, const typename F::Addr& to,
               const std::vector<Port<F>>& ports) {
    base_missing |= ensure_nat_chains(nat);
    // A setup repeated for the same container replaces its rules instead of stacking a second
    // set behind stale ones (which would win, pointing at an old address).
    for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, endpoint);
    added_net_nat = ensure_network_nat(nat, n, subnet);
    add_endpoint_rules(nat, endpoint, to, ports, n.bridge);
    base_missing |= ensure_filter_chains(filter);
    added_net_filter = ensure_network_filter(filter, n);
  }
};

// Takes back what one family's committed tables got from a failed add_endpoint: best effort,
// with the lock still held (the caller reports the original failure either way). Chains and
// jumps stay; they are empty of this call's rules and harmless.
template <class F>
void undo_family(const std::string& endpoint, const std::string& network, bool nat_done, bool filter_done,
                 const FamilyEdit<F>& edit) {
  try {
    if (nat_done) {
      Table<F> nat("nat");
      for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, endpoint);
      if (edit.added_net_nat) nat.delete_rules_with_comment(kPostChain, network);
      nat.commit();
    }
    if (filter_done && (edit.added_net_filter.guard || edit.added_net_filter.forward)) {
      Table<F> filter("filter");
      for (const char* chain : kFilterChains)
        if (chain == kInputChain ? edit.added_net_filter.guard : edit.added_net_filter.forward)
          filter.delete_rules_with_comment(chain, network);
      filter.commit();
    }
  } catch (...) {  // (it runs in a destructor, while the original failure propagates)
  }
}

// Commits one family's edit, nat then filter. Unless keep() ran, its destruction takes back
// what those commits added (undo_family): a failed commit, of this family or a later one in the
// same add_endpoint, leaves nothing of the call in the kernel.
template <class F>
class CommitGuard {
 public:
  CommitGuard(FamilyEdit<F>& edit, const std::string& endpoint, const std::string& network)
      : edit_(edit), endpoint_(endpoint), network_(network) {}
  ~CommitGuard() {
    if (!kept_) undo_family(endpoint_, network_, nat_done_, filter_done_, edit_);
  }
  void commit() {
    edit_.nat.commit();
    nat_done_ = true;
    edit_.filter.commit();
    filter_done_ = true;
  }
  CommitGuard(const CommitGuard&) = delete;
  CommitGuard& operator=(const CommitGuard&) = delete;
  void keep() { kept_ = true; }

 private:
  FamilyEdit<F>& edit_;
  const std::string& endpoint_;
  const std::string& network_;
  bool nat_done_ = false, filter_done_ = false, kept_ = false;
};

// With a network gone, its rules go; with the last one, ocinet's chains and jumps too, leaving
// the tables as they were before ocinet first touched them.
template <class F>
void remove_network_rules(const std::string& comment, bool tables_in_use) {
  Table<F> nat("nat", true);
  if (nat) {
    for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, comment);
    if (!tables_in_use && nat.has_chain(kDnatChain) && nat.rule_count(kDnatChain) == 0 && nat.rule_count(kPostChain) == 0 &&
        nat.rule_count(kLoopback6Chain) == 0) {
      nat.delete_jumps("PREROUTING", kDnatChain);
      nat.delete_jumps("OUTPUT", kDnatChain);
      nat.delete_jumps("OUTPUT", kLoopback6Chain);
      nat.delete_jumps("POSTROUTING", kPostChain);
      for (const char* chain : kNatChains) nat.delete_chain(chain);
    }
    nat.commit();
  }
  Table<F> filter("filter", true);
  if (filter) {
    for (const char* chain : kFilterChains) filter.delete_rules_with_comment(chain, comment);
    if (!tables_in_use && filter.has_chain(kForwardChain) && filter.rule_count(kForwardChain) <= 1 &&
        filter.rule_count(kIsolate1Chain) == 0 && filter.rule_count(kIsolate2Chain) == 0 &&
        filter.rule_count(kInputChain) == 0) {
      filter.delete_jumps("FORWARD", kForwardChain);
      filter.delete_jumps("INPUT", kInputChain);
      for (const char* chain : kFilterChains) filter.delete_chain(chain);
    }
    filter.commit();
  }
}

// Returns whether ocinet's jumps were there in both tables.
template <class F>
bool remove_from_family(const std::string& comment) {
  const bool nat = remove_commented<F>("nat", "PREROUTING", kNatChains, comment, true);
  return remove_commented<F>("filter", "FORWARD", kFilterChains, comment, true) && nat;
}

// One endpoint's rules edited into `v4` (and `v6`, opened on first need: IPv6 tables only for a
// dual-stack network, whose containers have an IPv6 address).
void prepare(FamilyEdit<Inet4>& v4, std::optional<FamilyEdit<Inet6>>& v6, const ParsedNetwork& n, const ParsedEndpoint& e) {
  v4.prepare(n, n.subnet, e.comment, e.ip, e.ports);
  if (n.subnet6 && e.ip6) {
    if (!v6) v6.emplace();
    v6->prepare(n, *n.subnet6, e.comment, *e.ip6, e.ports6);
  } else if (!e.ports6.empty()) {
    fail_invalid("firewall: IPv6 publication on network without an IPv6 subnet");
  }
}

// iptables-legacy's FORWARD for the nftables backend (foreign_forward.h): the network's accepts
// first in the chain, when someone has the filter table in this netns (opening it would create
// it). Each family's table in one commit.
template <class F>
void add_forward_accepts(const ParsedNetwork& n) {
  if (!table_instantiated<F>("filter")) return;
  Table<F> filter("filter");
  if (filter.has_rule_with_comment("FORWARD", n.comment)) return;
  const std::vector<ForwardAccept> accepts = forward_accepts(n.internal);
  for (auto a = accepts.rbegin(); a != accepts.rend(); ++a) {  // each goes first: the last one inserted leads
    Rule<F> r;
    if (a->in) r.in(n.bridge);
    if (a->out) r.out(n.bridge);
    if (a->ctstate) r.ctstate(a->ctstate);
    r.comment(n.comment).accept();
    filter.insert_first("FORWARD", r);
  }
  filter.commit();
}

template <class F>
void remove_forward_accepts(const std::string& comment) {
  if (!table_instantiated<F>("filter")) return;
  Table<F> filter("filter", true);
  if (!filter) return;
  filter.delete_rules_with_comment("FORWARD", comment);
  filter.commit();
}

class IptablesBackend final : public FirewallBackend {
 public:
  const char* name() const override { return "iptables"; }

  bool add_rules(const NetworkRules& net, const EndpointRules& ep) override {
    const ParsedNetwork n = parse_network(net);
    const ParsedEndpoint e = parse_endpoint(ep);
    XtablesLock lock;
    FamilyEdit<Inet4> v4;
    std::optional<FamilyEdit<Inet6>> v6;
    prepare(v4, v6, n, e);

    // A network's first container: iptables-nft's FORWARD chains get the network's accepts (the
    // legacy FORWARD has the jump to OCINET-FORWARD first), before anything is committed here.
    if (v4.added_net_filter.forward || (v6 && v6->added_net_filter.forward)) add_nft_forward_accepts(net);

    // One commit per table. nat first in each family: it holds the rules the kernel is likelier
    // to refuse (DNAT, sctp), and a refusal there leaves nothing of that family to undo. A
    // later failure takes back what the earlier commits added (the guards, still under the lock).
    CommitGuard<Inet4> commit4(v4, e.comment, n.comment);
    std::optional<CommitGuard<Inet6>> commit6;
    if (v6) commit6.emplace(*v6, e.comment, n.comment);
    commit4.commit();
    if (commit6) {
      commit6->commit();
      commit6->keep();
    }
    commit4.keep();
    return v4.base_missing || (v6 && v6->base_missing);
  }

  // A restore: every endpoint's rules edited into the same tables, one commit per table (one
  // add_endpoint each would read and replace the whole tables once per endpoint). A failure
  // leaves what was committed: a restore is idempotent, and the next one completes it.
  void add_endpoints(const std::vector<std::pair<NetworkRules, EndpointRules>>& eps) override {
    XtablesLock lock;
    FamilyEdit<Inet4> v4;
    std::optional<FamilyEdit<Inet6>> v6;
    for (const auto& [net, ep] : eps) prepare(v4, v6, parse_network(net), parse_endpoint(ep));
    v4.nat.commit();
    v4.filter.commit();
    if (v6) {
      v6->nat.commit();
      v6->filter.commit();
    }
    // And the networks' accepts in iptables-nft's FORWARD (idempotent), which go with a restart
    // of the manager that uses it even where ocinet's chains stay.
    std::set<std::string> networks;
    for (const auto& [net, ep] : eps)
      if (networks.insert(net.name).second) add_nft_forward_accepts(net);
  }

  void remove_endpoint(const std::string& tag) override {
    const std::string comment = endpoint_comment(tag);
    XtablesLock lock;
    remove_from_family<Inet4>(comment);
    remove_from_family<Inet6>(comment);
  }

  // Teardown's path: the IPv6 tables only for an endpoint that had an IPv6 address.
  bool remove_endpoint_rules(const EndpointRules& ep) override {
    const std::string comment = endpoint_comment(ep.tag);
    XtablesLock lock;
    const bool intact = remove_from_family<Inet4>(comment);
    if (ep.container_ip6.present()) remove_from_family<Inet6>(comment);
    return !intact;
  }

  // (Under the xtables lock, which every add_endpoint holds from reading to committing, the
  // check for empty chains and their removal are one step anyway.)
  void remove_network(const std::string& name, bool tables_in_use) override {
    const std::string comment = network_comment(name);
    XtablesLock lock;
    remove_network_rules<Inet4>(comment, tables_in_use);
    remove_network_rules<Inet6>(comment, tables_in_use);
    remove_nft_forward_accepts(name);
  }
};

}  // namespace

std::unique_ptr<FirewallBackend> make_iptables_backend() { return std::make_unique<IptablesBackend>(); }

void add_legacy_forward_accepts(const NetworkRules& net) {
  const ParsedNetwork n = parse_network(net);
  if (!table_instantiated<Inet4>("filter") && !(n.subnet6 && table_instantiated<Inet6>("filter"))) return;
  XtablesLock lock;
  add_forward_accepts<Inet4>(n);
  if (n.subnet6) add_forward_accepts<Inet6>(n);
}

void remove_legacy_forward_accepts(const std::string& network) {
  const std::string comment = network_comment(network);
  if (!table_instantiated<Inet4>("filter") && !table_instantiated<Inet6>("filter")) return;
  XtablesLock lock;
  remove_forward_accepts<Inet4>(comment);
  remove_forward_accepts<Inet6>(comment);
}

}  // namespace ocinet

