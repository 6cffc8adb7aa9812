// nftables backend: one table, `ip ocinet`, written in-process (never through the `nft`
// binary). The table's chains hold a fixed set of rules that look up sets and maps; a
// container's setup only adds map elements and its teardown deletes them by key, so the cost
// of one more container stays flat however many there are, and no call rewrites a rule.
//
// Two ways in. libnftables (nft's own library, opened on first use) does everything that has
// a syntax worth reading: creating the table, a network's first elements, listings, and every
// error message. The two calls made for every container, adding its published ports to a
// network that is already set up and deleting them again, are a single nf_tables netlink batch
// of element messages, encoded as nft encodes them: loading libnftables and running a first
// command costs ~1.5 ms per process, the batch ~0.05 ms. Anything unexpected on that path
// (no table yet, a key taken, an old kernel) falls back to libnftables, which redoes the call
// and reports it.
//
//   pub_addr  map  host addr . proto . port  : container addr . port   (-p 127.0.0.1:53:53/udp)
//   pub_any   map  proto . port              : container addr . port   (-p 8080:80, 0.0.0.0)
//   pub_lo6   map  proto . port              : container addr . port   (ip6 only: -p [::1]:8080:80)
//   pub_addr_range, pub_any_range, pub_lo6_range   the same keyed by port intervals, to the
//             container address alone: a range whose container ports are its host ports
//             (-p 8000-8999:8000-8999), one element, DNAT'd without touching the port
//   bridges, internal_bridges  set ifname             every ocinet bridge / the internal ones
//   localnet_bridges           set ifname             networks set up since the localnet chain (a marker)
//   closed_bridges             set ifname             networks set up since the closed forward chain (the
//                                                     newest marker, in both families)
//   same_bridge                set ifname . ifname    "br" . "br" for every bridge
//   subnets, masq_subnets      set ipv4 (interval)    every subnet / those NATed on the way out
//
// Endpoint elements carry `comment "ocinet:<tag>"`, network elements `comment
// "ocinet-net:<name>"`: the comment is how remove_endpoint(tag) and remove_network(name), which
// get nothing else, find what to delete. Nothing outside ocinet's tables is touched but for a
// network's accepts in other managers' FORWARD chains (foreign_forward.h, at the end of the
// netlink part), and the table is never flushed. The table goes away with the last network.
//
// Dual-stack networks get the same layout again in a second table, `ip6 ocinet`, with IPv6
// keys and data: its own bridges, subnets and published ports (a port published with no host
// address answers on the host's IPv6 addresses too, as with Docker). IPv4-only setups never
// create or read it. One container's elements of both tables go in one netlink batch, so one
// transaction either way.
//
// A range whose container ports differ from its host ports (-p 9000-9009:80-89) needs a port
// offset, which nft 1.0.6 cannot say (no `dnat to addr:80-89/9000`, no arithmetic on th dport:
// "syntax error, unexpected +"; a map to a port range picks a free port in it, not the matching
// one, and nft_nat has no base register): it becomes one pub_* element per port, all in one
// netlink batch of a few messages. (The iptables backend writes one rule with the kernel's
// offset.)
//
// Every value that reaches a command string is either re-printed from its parsed binary form
// (addresses through inet_ntop, protocols and ports as integers) or checked against a short
// character list and quoted (names, tags, bridges): no input can add syntax to a command.
#include <linux/netfilter/nf_tables.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/firewall/foreign_forward.h"
#include "netcore/firewall/nft_elements.h"
#include "netcore/firewall/nft_forward.h"
#include "netcore/firewall/nft_lib.h"
#include "netcore/firewall/nft_listing.h"
#include "netcore/firewall/nft_ruleset.h"
#include "netcore/nfnetlink.h"

namespace ocinet {
namespace {

using namespace nft;

// The families (tables) a list of elements touches, IPv4 first.
std::vector<const Family*> families_of(const std::vector<Element>& elems) {
  std::vector<const Family*> out;
  for (const Family* f : kFamilies)
    if (std::any_of(elems.begin(), elems.end(), [&](const Element& e) { return e.family == f; })) out.push_back(f);
  return out;
}

std::vector<Element> of_family(const std::vector<Element>& elems, const Family* f) {
  std::vector<Element> out;
  for (const Element& e : elems)
    if (e.family == f) out.push_back(e);
  return out;
}

class NftablesBackend final : public FirewallBackend {
 public:
  const char* name() const override { return "nftables"; }
  bool filters_ipv6_of_v4only_ports() const override { return true; }
  NfNetlink& probe_socket() { return netlink(); }

  // A restore puts back the networks' accepts in other managers' FORWARD chains too (idempotent):
  // those go with a restart of that manager even where ocinet's own table stays.
  void add_endpoints(const std::vector<std::pair<NetworkRules, EndpointRules>>& eps) override {
    std::set<std::string> networks;
    for (const auto& [net, ep] : eps)
      if (networks.insert(net.name).second) {
        add_foreign_accepts(netlink(), net);
        add_legacy_forward_accepts(net);
      }
    for (const auto& [net, ep] : eps) add_rules(net, ep);
  }

  bool add_rules(const NetworkRules& net, const EndpointRules& ep) override {
    std::vector<Element> elems = network_elements(net);
    const std::vector<Element> published = endpoint_elements(ep);

    // The fast path, for every container but a network's first: its bridge is known in each
    // of the network's tables, so the network's elements are all there (they go in together)
    // and only the ports are new.
    const bool set_up = network_is_set_up(elems);
    if (set_up && (published.empty() || netlink().transaction(add_messages(published)) == 0))
      return false;
    // A network's first container: other managers' FORWARD chains get the network's accepts
    // before its elements go in, so that a failure here leaves the network to its next setup.
    if (!set_up) {
      add_foreign_accepts(netlink(), net);
      add_legacy_forward_accepts(net);
    }

    // libnftables: the network's elements too (those that exist are no-ops), in one transaction.
    elems.insert(elems.end(), published.begin(), published.end());
    const std::string adds = add_commands(elems);
    const std::string what = "adding endpoint " + ep.tag;
    NftResult r = nft().run(adds);
    if (r.ok) return false;
    if (std::optional<bool> made = add_with_tables(elems, adds, r)) return *made;
    if (r.failed_with(ENOENT)) nft_fail(what, r);
    // A published key already maps elsewhere (EEXIST; EBUSY on newer kernels). When it is this
    // endpoint's own, from an earlier setup of the same container, the new values replace it
    // in the same transaction, as the iptables backend replaces its rules.
    if (!r.failed_with(EEXIST) && !r.failed_with(EBUSY)) nft_fail(what, r);
    replace_own(ep.tag, published, adds, what);
    return false;
  }

  bool remove_endpoint_rules(const EndpointRules& ep) override {
    const std::vector<Element> elems = endpoint_elements(ep);
    if (elems.empty()) return !has_table(netlink(), kIpv4);
    const int err = netlink().transaction(add_then_del_messages(elems));
    if (err == 0) return false;
    // ENOENT: no table, so nothing to delete (flushed). Else a map is missing (a table of a
    // release before ranges) or the batch held both families, of which one table may still
    // hold elements: delete_elements sorts that out per table and set.
    if (err == ENOENT && families_of(elems).size() == 1 && !has_table(netlink(), *elems[0].family)) return true;
    delete_elements(elems, "removing endpoint " + ep.tag);
    return false;
  }

  void remove_endpoint(const std::string& tag) override {
    const std::string comment = endpoint_comment(tag);
    // Listing and deleting are two transactions: a concurrent change can make the delete
    // refer to a key that is gone or reused, which delete_elements treats as gone.
    const std::vector<Element> elems = elements_with_comment(parse_listings(list_published({&kIpv4, &kIpv6, &kBridge})), comment);
    if (!elems.empty()) delete_elements(elems, "removing endpoint " + tag);
  }

  void remove_network(const std::string& name, bool tables_in_use) override {
    const std::string comment = network_comment(name);
    remove_foreign_accepts(netlink(), name);
    remove_legacy_forward_accepts(name);
    for (const Family* f : kFamilies) {
      // One listing of the (small) sets; the maps, which grow with containers, are not in it.
      NftResult r = nft().run(std::string("list sets table ") + f->table, true);
      if (!r.ok) {
        if (r.failed_with(ENOENT)) continue;  // no table: nothing of the network's
        nft_fail("listing ocinet's sets", r);
      }
      const std::vector<Element> elems = elements_with_comment(parse_listing(r.output), comment);
      if (!elems.empty()) delete_elements(elems, "removing network " + name);
      // With its last network and container gone, ocinet takes its table out too, leaving the
      // ruleset as it was before ocinet first touched it. (network rm is rare: listings are fine.)
      // Checking and deleting are two transactions: a network's first container could add its
      // elements in between and lose them with the table. tables_in_use (containers hold leases)
      // closes that: a setup takes its lease before it touches the table.
      if (!tables_in_use && table_is_unused(*f)) {
        NftResult d = nft().run(std::string("delete table ") + f->table);
        if (!d.ok && !d.failed_with(ENOENT)) nft_fail(std::string("deleting table ") + f->table, d);
      }
    }
  }

 private:
  // `adds` failed as r says. When a table (either family) is not there yet, the missing ones
  // are created with the elements, in the same transaction; a second round covers another hook
  // creating one in between (EEXIST on `create`). Returns whether this call made a table, once
  // the elements are in; else (r: the last failure) the caller goes on.
  std::optional<bool> add_with_tables(const std::vector<Element>& elems, const std::string& adds, NftResult& r) {
    for (int round = 0; round < 2 && r.failed_with(ENOENT); ++round) {
      std::string create, upgrade;
      for (const Family* f : families_of(elems)) {
        if (!has_table(netlink(), *f))
          create += f->skeleton;
        else if (f->upgrade)
          upgrade += f->upgrade + closed_forward_upgrade(f->json);
      }
      // A table that exists may be an earlier ocinet's, lacking a set or map `adds` names (the
      // ENOENT may also be another family's missing table: the upgrade is idempotent, and this
      // path runs about once per table). Committed on its own: it stays when the elements below
      // are refused (a key taken: the replacement further down needs the upgraded table too),
      // and a failed `create + adds` would otherwise take it back with it.
      if (!upgrade.empty()) {
        const NftResult u = nft().run(upgrade);
        if (!u.ok && !u.failed_with(ENOENT)) nft_fail("upgrading ocinet's tables", u);
      }
      // Nothing to create: another hook made the tables since `adds` failed; try it again.
      r = nft().run(create + adds);
      if (r.ok) return !create.empty();
      if (create.empty() || !r.failed_with(EEXIST)) continue;
      r = nft().run(adds);
      if (r.ok) return false;
    }
    return std::nullopt;
  }

  // Adds `adds` in place of the endpoint's own elements that hold its published keys; a key
  // another endpoint holds is refused, naming that one.
  void replace_own(const std::string& tag, const std::vector<Element>& published, const std::string& adds,
                   const std::string& what) {
    const std::string comment = endpoint_comment(tag);
    const std::vector<Element> listed = parse_listings(list_published(families_of(published)));
    for (const Element& e : published) {
      const std::string owner = owner_in(listed, e);
      if (!owner.empty() && owner != comment) fail_invalid("firewall: " + e.label + " is already published by " + owner);
    }
    const NftResult r = nft().run(add_then_del_commands(elements_with_comment(listed, comment)) + adds);
    if (!r.ok) nft_fail(what, r);
  }

  NftContext& nft() {
    if (!nft_) nft_ = std::make_unique<NftContext>();
    return *nft_;
  }
  // One socket for the probe and every request of this backend: each close of a netfilter
  // socket may wait while the kernel has removed elements left to reclaim, this process's or
  // another's (measured: 3 ms for a socket that had only sent GETGEN, right after another
  // hook's teardown), so there is one close per backend, at its end.
  NfNetlink& netlink() {
    if (!netlink_) netlink_ = std::make_unique<NfNetlink>();
    return *netlink_;
  }

  // Every bridge element (one per family the network has) is there.
  bool network_is_set_up(const std::vector<Element>& network) {
    for (const Element& e : network)
      if (!e.key_bytes.empty() && !has_element(netlink(), e)) return false;
    return true;
  }

  // No bridge left in `bridges` and nothing published: no network or container uses the table.
  bool table_is_unused(const Family& f) {
    auto has_elements = [](const std::string& json_text) {
      try {
        auto j = nlohmann::json::parse(json_text);
        for (const auto& item : j.at("nftables")) {
          for (const char* kind : {"set", "map"})
            if (item.contains(kind) && item[kind].contains("elem") && !item[kind]["elem"].empty()) return true;
        }
        return false;
      } catch (const nlohmann::json::exception&) {
        return true;  // unreadable: keep the table
      }
    };
    if (f.af != AF_BRIDGE) {  // (the bridge table has no network set: its ports are listed below)
      NftResult b = nft().run(std::string("list set ") + f.table + " bridges", true);
      if (!b.ok || has_elements(b.output)) return false;
    }
    // A map the table lacks ("": one of a release before it) holds nothing.
    for (const auto& listing : list_published({&f}))
      if (!listing.empty() && has_elements(listing)) return false;
    return true;
  }

  // JSON listings of the published-port maps of each family ("" for a missing one). nft 1.0.6
  // lists one set per command correctly: with two `list` commands in one buffer the first one
  // fails.
  // (The bridge table's endpoint set, v4only_ports, is listed as its "published" part.)
  std::vector<std::string> list_published(const std::vector<const Family*>& families) {
    std::vector<std::string> out;
    auto list = [&](const Family& f, const char* kind, const char* name) {
      NftResult r = nft().run(std::string("list ") + kind + " " + f.table + " " + name, true);
      if (!r.ok && !r.failed_with(ENOENT)) nft_fail(std::string("listing ") + name, r);
      out.push_back(r.ok ? r.output : "");
    };
    for (const Family* f : families) {
      if (f->af == AF_BRIDGE) {
        list(*f, "set", "v4only_ports");
        continue;
      }
      std::vector<PubMaps> maps = {kPubAddr, kPubAny};
      if (f->af == AF_INET6) maps.push_back(kPubLo6);
      for (const PubMaps& m : maps) {
        list(*f, "map", m.one);
        list(*f, "map", m.range);
      }
    }
    return out;
  }

  // Deletes exactly these elements; absent ones (and map keys that now hold another
  // endpoint's data) count as removed. One transaction per table, unless it fails: then one per
  // set (a set or map the table lacks holds nothing to delete), then one per element, so that
  // one key taken by someone else does not keep the others in place.
  void delete_elements(const std::vector<Element>& all, const std::string& what) {
    auto gone = [](const NftResult& r) { return r.ok || r.failed_with(ENOENT); };
    auto taken = [](const NftResult& r) { return r.failed_with(EEXIST) || r.failed_with(EBUSY); };
    for (const Family* f : families_of(all)) {
      const std::vector<Element> elems = of_family(all, f);
      NftResult r = nft().run(add_then_del_commands(elems));
      if (r.ok) continue;
      if (!r.failed_with(ENOENT) && !taken(r)) nft_fail(what, r);
      for (const auto& group : by_set(elems)) {
        std::vector<Element> set;
        for (const Element* e : group) set.push_back(*e);
        r = nft().run(add_then_del_commands(set));
        if (gone(r)) continue;
        if (!taken(r)) nft_fail(what, r);
        for (const Element& e : set) {
          r = nft().run(e.add_then_del());
          if (!gone(r) && !taken(r)) nft_fail(what, r);
        }
      }
    }
  }

  std::unique_ptr<NftContext> nft_;
  std::unique_ptr<NfNetlink> netlink_;
};

}  // namespace

bool nftables_available() {
  NfNetlink nl;
  return answers_nftables(nl);
}

std::unique_ptr<FirewallBackend> make_nftables_backend_if_available() {
  auto backend = std::make_unique<NftablesBackend>();
  if (!answers_nftables(backend->probe_socket())) return nullptr;
  return backend;
}

std::unique_ptr<FirewallBackend> make_nftables_backend() { return std::make_unique<NftablesBackend>(); }

}  // namespace ocinet
