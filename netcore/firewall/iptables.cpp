// iptables backend: legacy x_tables through libiptc, in-process. Forking iptables per rule would
// cost more than the rest of container setup together; libiptc lets one call read each table
// once, edit it in memory and replace it in a single commit.
//
// Everything ocinet owns lives in its own chains (OCINET-DNAT, OCINET-POSTROUTING in nat,
// OCINET-FORWARD in filter) and carries a comment match: "ocinet:<tag>" for an endpoint's rules,
// "ocinet-net:<name>" for a network's. Rules are found and removed by that comment only, so
// ocinet never touches a rule it did not write.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_conntrack.h>
// Its inline helpers are C-only (_Bool); only the struct is used here.
#define _Bool bool
#include <linux/netfilter/xt_sctp.h>
#undef _Bool
#include <linux/netfilter/xt_tcpudp.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "netcore/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/firewall/fw_input.h"

namespace ocinet {
namespace {

constexpr const char* kDnatChain = "OCINET-DNAT";
constexpr const char* kPostChain = "OCINET-POSTROUTING";
constexpr const char* kForwardChain = "OCINET-FORWARD";
// Docker's two-stage isolation: stage 1 sends traffic leaving an ocinet bridge for another
// interface to stage 2, which drops it if that interface is another ocinet bridge.
constexpr const char* kIsolate1Chain = "OCINET-ISOLATE-1";
constexpr const char* kIsolate2Chain = "OCINET-ISOLATE-2";
constexpr const char* kNatChains[] = {kDnatChain, kPostChain};
constexpr const char* kFilterChains[] = {kForwardChain, kIsolate1Chain, kIsolate2Chain};

// The lock iptables-legacy and iptables-legacy-restore take; without it a concurrent run could
// commit a table it read before our commit and silently drop our rules, or we theirs.
constexpr const char* kLockPath = "/run/xtables.lock";
constexpr auto kLockWait = std::chrono::seconds(5);

// ---------------------------------------------------------------------------------------------
// Input validation and parsing. Everything is checked before the lock is taken, so a bad
// request never touches the kernel.

struct Cidr {
  in_addr addr{};
  in_addr mask{};
};

in_addr parse_ip(const std::string& s, const std::string& what) { return fw_parse_ip(s, what); }

Cidr host_cidr(in_addr a) {
  Cidr c;
  c.addr = a;
  c.mask.s_addr = 0xffffffffu;
  return c;
}

Cidr parse_cidr(const std::string& s, const std::string& what) {
  Ipv4Net n = fw_parse_cidr(s, what);
  Cidr c;
  c.addr.s_addr = htonl(n.addr);  // host bits clear: the kernel compares (addr & mask) with it
  c.mask.s_addr = htonl(n.mask());
  return c;
}

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

uint16_t parse_proto(const std::string& p) {
  if (p == "tcp") return IPPROTO_TCP;
  if (p == "udp") return IPPROTO_UDP;
  if (p == "sctp") return IPPROTO_SCTP;
  fail_invalid("firewall: unsupported protocol \"" + p + "\" (tcp, udp or sctp)");
}

struct Port {
  bool any_host = true;  // no -d: every local address
  in_addr host_ip{};
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  uint16_t proto = 0;
};

struct ParsedNetwork {
  std::string comment;
  std::string bridge;
  Cidr subnet;
  bool internal = false;
};

struct ParsedEndpoint {
  std::string comment;
  in_addr ip{};
  std::vector<Port> ports;
};

ParsedNetwork parse_network(const NetworkRules& net) {
  ParsedNetwork p;
  p.comment = network_comment(net.name);
  check_iface(net.bridge);
  p.bridge = net.bridge;
  p.subnet = parse_cidr(net.subnet, "subnet");
  p.internal = net.internal;
  return p;
}

ParsedEndpoint parse_endpoint(const EndpointRules& ep) {
  ParsedEndpoint p;
  p.comment = endpoint_comment(ep.tag);
  p.ip = parse_ip(ep.container_ip, "container address");
  for (const auto& pm : ep.ports) {
    Port port;
    port.proto = parse_proto(pm.proto);
    if (pm.host_port == 0 || pm.container_port == 0) fail_invalid("firewall: port mapping with port 0");
    port.host_port = pm.host_port;
    port.container_port = pm.container_port;
    if (!pm.host_ip.empty()) {
      port.host_ip = parse_ip(pm.host_ip, "host address");
      // 0.0.0.0 is Docker's spelling of "every address", i.e. no destination match.
      port.any_host = port.host_ip.s_addr == INADDR_ANY;
    }
    p.ports.push_back(port);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Rule building: an ipt_entry followed by its matches and its target, each sized with XT_ALIGN
// exactly as the kernel's checks expect.

static_assert(sizeof(xt_entry_match) == sizeof(xt_entry_target), "match and target headers share one layout");

// Appends one match or target: header (size, name, revision) then its payload.
void append_extension(std::vector<unsigned char>& out, const char* name, uint8_t revision, const void* data,
                      size_t size) {
  size_t total = XT_ALIGN(sizeof(xt_entry_match) + size);
  size_t at = out.size();
  out.resize(at + total, 0);
  auto* hdr = reinterpret_cast<xt_entry_match*>(out.data() + at);
  hdr->u.user.match_size = static_cast<uint16_t>(total);
  std::strncpy(hdr->u.user.name, name, sizeof hdr->u.user.name - 1);
  hdr->u.user.revision = revision;
  std::memcpy(out.data() + at + sizeof(xt_entry_match), data, size);
}

void set_iface(char* name, unsigned char* mask, const std::string& iface) {
  std::strncpy(name, iface.c_str(), IFNAMSIZ - 1);
  // Mask includes the terminating NUL so "br0" does not also match "br01" (iptables does this).
  std::memset(mask, 0xff, iface.size() + 1);
}

class Rule {
 public:
  Rule& src(const Cidr& c, bool invert = false) {
    ip_.src = c.addr;
    ip_.smsk = c.mask;
    if (invert) ip_.invflags |= IPT_INV_SRCIP;
    return *this;
  }
  Rule& dst(const Cidr& c, bool invert = false) {
    ip_.dst = c.addr;
    ip_.dmsk = c.mask;
    if (invert) ip_.invflags |= IPT_INV_DSTIP;
    return *this;
  }
  Rule& in(const std::string& iface, bool invert = false) {
    set_iface(ip_.iniface, ip_.iniface_mask, iface);
    if (invert) ip_.invflags |= IPT_INV_VIA_IN;
    return *this;
  }
  Rule& out(const std::string& iface, bool invert = false) {
    set_iface(ip_.outiface, ip_.outiface_mask, iface);
    if (invert) ip_.invflags |= IPT_INV_VIA_OUT;
    return *this;
  }

  // -p <proto> -m <proto> --dport <port>: the port matches check the protocol field too.
  Rule& dport(uint16_t proto, uint16_t port) {
    ip_.proto = proto;
    if (proto == IPPROTO_TCP) {
      xt_tcp m{};
      m.spts[1] = 0xffff;  // an all-zero source range would only match source port 0
      m.dpts[0] = m.dpts[1] = port;
      return match("tcp", 0, m);
    }
    if (proto == IPPROTO_UDP) {
      xt_udp m{};
      m.spts[1] = 0xffff;
      m.dpts[0] = m.dpts[1] = port;
      return match("udp", 0, m);
    }
    // Laid out as libxt_sctp does (source range unset, unused chunk slots 0xff), so that
    // iptables -C/-D by hand finds the rule; the kernel only reads what `flags` selects.
    xt_sctp_info m{};
    m.dpts[0] = m.dpts[1] = port;
    m.flags = XT_SCTP_DEST_PORTS;
    for (auto& f : m.flag_info) f.chunktype = 0xff;
    return match("sctp", 0, m);
  }
  Rule& comment(const std::string& text) {
    xt_comment_info m{};
    std::strncpy(m.comment, text.c_str(), sizeof m.comment - 1);
    return match("comment", 0, m);
  }
  Rule& dst_type_local() {
    xt_addrtype_info_v1 m{};
    m.dest = XT_ADDRTYPE_LOCAL;
    return match("addrtype", 1, m);
  }
  Rule& ctstate(uint16_t states) {
    xt_conntrack_mtinfo3 m{};
    m.match_flags = XT_CONNTRACK_STATE;
    m.state_mask = states;
    return match("conntrack", 3, m);
  }

  // Verdicts and jumps: libiptc maps a standard target named after a label or a chain.
  Rule& jump(const char* label) {
    int verdict = 0;  // filled in by libiptc
    target_.clear();
    append_extension(target_, label, 0, &verdict, sizeof verdict);
    return *this;
  }
  Rule& accept() { return jump(IPTC_LABEL_ACCEPT); }
  Rule& masquerade() {
    // Revision 0 is MASQUERADE's only IPv4 revision; an empty range means "any port".
    nf_nat_ipv4_multi_range_compat r{};
    r.rangesize = 1;
    return target("MASQUERADE", 0, r);
  }
  Rule& dnat(in_addr to, uint16_t port) {
    // Revision 2 (kernel 4.18+) is what iptables 1.8 itself writes. A revision-0 rule works in
    // the kernel, but iptables-save then prints it as "DNAT [unsupported revision]", which
    // breaks save/restore round trips and hand-written -C/-D for anyone managing the host.
    nf_nat_range2 r{};
    r.flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
    r.min_addr.ip = r.max_addr.ip = to.s_addr;
    r.min_proto.all = r.max_proto.all = htons(port);
    return target("DNAT", 2, r);
  }

  // The contiguous entry libiptc copies; valid until the next change to this Rule.
  const ipt_entry* entry() {
    size_t size = sizeof(ipt_entry) + matches_.size() + target_.size();
    buf_.assign((size + sizeof(uint64_t) - 1) / sizeof(uint64_t), 0);  // u64 counters need 8-byte alignment
    auto* e = reinterpret_cast<ipt_entry*>(buf_.data());
    e->ip = ip_;
    e->target_offset = static_cast<uint16_t>(sizeof(ipt_entry) + matches_.size());
    e->next_offset = static_cast<uint16_t>(size);
    auto* bytes = reinterpret_cast<unsigned char*>(buf_.data());
    std::copy(matches_.begin(), matches_.end(), bytes + sizeof(ipt_entry));
    std::copy(target_.begin(), target_.end(), bytes + e->target_offset);
    return e;
  }

 private:
  template <class T>
  Rule& match(const char* name, uint8_t revision, const T& data) {
    append_extension(matches_, name, revision, &data, sizeof data);
    return *this;
  }
  template <class T>
  Rule& target(const char* name, uint8_t revision, const T& data) {
    target_.clear();
    append_extension(target_, name, revision, &data, sizeof data);
    return *this;
  }

  ipt_ip ip_{};
  std::vector<unsigned char> matches_;
  std::vector<unsigned char> target_;
  std::vector<uint64_t> buf_;
};

// ---------------------------------------------------------------------------------------------
// Lock and table handles.

class XtablesLock {
 public:
  XtablesLock() {
    fd_ = open(kLockPath, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail_system(std::string("firewall: opening ") + kLockPath, errno);
    // Polling with a short, growing sleep rather than a blocking flock: a blocking call could
    // not be bounded in time without a signal, and a stuck iptables must not hang the hook.
    auto deadline = std::chrono::steady_clock::now() + kLockWait;
    auto pause = std::chrono::milliseconds(1);
    while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
        close(fd_);
        if (err == EWOULDBLOCK)
          fail_system(std::string("firewall: ") + kLockPath + " still held by another process after 5 s", 0);
        fail_system(std::string("firewall: locking ") + kLockPath, err);
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }
  ~XtablesLock() { close(fd_); }  // closing the descriptor releases the flock
  XtablesLock(const XtablesLock&) = delete;
  XtablesLock& operator=(const XtablesLock&) = delete;

 private:
  int fd_ = -1;
};

// The comment of a rule, or "" when it has none.
std::string_view rule_comment(const ipt_entry* e) {
  for (size_t off = sizeof(ipt_entry); off + sizeof(xt_entry_match) <= e->target_offset;) {
    auto* m = reinterpret_cast<const xt_entry_match*>(reinterpret_cast<const unsigned char*>(e) + off);
    if (m->u.match_size < sizeof(xt_entry_match)) break;  // malformed: stop rather than loop
    if (std::strcmp(m->u.user.name, "comment") == 0) {
      auto* info = reinterpret_cast<const xt_comment_info*>(m->data);
      return std::string_view(info->comment, strnlen(info->comment, sizeof info->comment));
    }
    off += m->u.match_size;
  }
  return {};
}

[[noreturn]] void iptc_fail(const std::string& what, int err) {
  fail_system("firewall: " + what + ": " + iptc_strerror(err), 0);
}

struct HandleFree {
  void operator()(xtc_handle* h) const { iptc_free(h); }
};
using HandlePtr = std::unique_ptr<xtc_handle, HandleFree>;

// One table's snapshot. Edits stay in memory until commit(); dropping the object without a
// commit discards them, which is how a failed add_endpoint leaves the kernel untouched.
class Table {
 public:
  // With missing_ok, a table (or x_tables itself) the kernel does not have yields an empty
  // Table instead of an error: there is nothing to remove from it.
  explicit Table(const char* name, bool missing_ok = false) : name_(name) {
    h_.reset(iptc_init(name));
    if (!h_) {
      int err = errno;
      if (missing_ok && (err == ENOENT || err == ENOPROTOOPT)) return;
      iptc_fail(std::string("reading table ") + name, err);
    }
  }

  explicit operator bool() const { return h_ != nullptr; }
  xtc_handle* get() const { return h_.get(); }
  const char* name() const { return name_; }
  bool changed() const { return changed_; }

  bool has_chain(const char* chain) const { return iptc_is_chain(chain, h_.get()); }

  void ensure_chain(const char* chain) {
    if (has_chain(chain)) return;
    if (!iptc_create_chain(chain, h_.get())) iptc_fail(where("creating chain", chain), errno);
    changed_ = true;
  }

  void append(const char* chain, Rule& rule) {
    if (!iptc_append_entry(chain, rule.entry(), h_.get())) iptc_fail(where("adding rule to", chain), errno);
    changed_ = true;
  }

  void insert_first(const char* chain, Rule& rule) {
    if (!iptc_insert_entry(chain, rule.entry(), 0, h_.get())) iptc_fail(where("adding rule to", chain), errno);
    changed_ = true;
  }

  // 0-based positions of the rules in `chain` whose comment is exactly `comment`.
  std::vector<unsigned> rules_with_comment(const char* chain, const std::string& comment) const {
    std::vector<unsigned> found;
    if (!h_ || !has_chain(chain)) return found;
    unsigned n = 0;
    for (auto* e = iptc_first_rule(chain, h_.get()); e; e = iptc_next_rule(e, h_.get()), ++n)
      if (rule_comment(e) == comment) found.push_back(n);
    return found;
  }

  bool has_rule_with_comment(const char* chain, const std::string& comment) const {
    return !rules_with_comment(chain, comment).empty();
  }

  void delete_rules_with_comment(const char* chain, const std::string& comment) {
    auto found = rules_with_comment(chain, comment);
    // Backwards, so a deletion does not shift the positions still to delete.
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!iptc_delete_num_entry(chain, *it, h_.get())) iptc_fail(where("deleting rule from", chain), errno);
      changed_ = true;
    }
  }

  // Whether any rule of `from` jumps to `to`, whatever its matches: one jump is enough, and a
  // second one (say, added by hand) is not ours to judge.
  bool jumps_to(const char* from, const char* to) const {
    for (auto* e = iptc_first_rule(from, h_.get()); e; e = iptc_next_rule(e, h_.get())) {
      const char* target = iptc_get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) return true;
    }
    return false;
  }

  size_t rule_count(const char* chain) const {
    size_t n = 0;
    if (!h_ || !has_chain(chain)) return 0;
    for (auto* e = iptc_first_rule(chain, h_.get()); e; e = iptc_next_rule(e, h_.get())) n++;
    return n;
  }

  // Deletes the rules of `from` that jump to `to` (ocinet's hooks into the built-in chains).
  void delete_jumps(const char* from, const char* to) {
    std::vector<unsigned> found;
    unsigned n = 0;
    for (auto* e = iptc_first_rule(from, h_.get()); e; e = iptc_next_rule(e, h_.get()), ++n) {
      const char* target = iptc_get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) found.push_back(n);
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!iptc_delete_num_entry(from, *it, h_.get())) iptc_fail(where("deleting jump from", from), errno);
      changed_ = true;
    }
  }

  void delete_chain(const char* chain) {
    if (!has_chain(chain)) return;
    if (!iptc_flush_entries(chain, h_.get()) || !iptc_delete_chain(chain, h_.get()))
      iptc_fail(where("deleting chain", chain), errno);
    changed_ = true;
  }

  void commit() {
    if (!changed_) return;
    if (!iptc_commit(h_.get())) iptc_fail(std::string("committing table ") + name_, errno);
    changed_ = false;
  }

 private:
  std::string where(const char* what, const char* chain) const {
    return std::string(what) + " " + name_ + " " + chain;
  }

  const char* name_;
  HandlePtr h_;
  bool changed_ = false;
};


// ---------------------------------------------------------------------------------------------
// What ocinet puts in each table.

// Jumps from the built-in chains carry no comment: they belong to ocinet as a whole, not to a
// network, so no network's removal takes them away.
void ensure_jump(Table& t, const char* from, const char* to, Rule rule, bool first = false) {
  if (t.jumps_to(from, to)) return;
  rule.jump(to);
  if (first)
    t.insert_first(from, rule);
  else
    t.append(from, rule);
}

void ensure_nat_chains(Table& nat) {
  for (const char* chain : kNatChains) nat.ensure_chain(chain);
  // Only traffic addressed to this host is port-forwarded, as with Docker; loopback
  // destinations are left out of OUTPUT because DNAT of 127/8 needs route_localnet.
  // Loopback destinations are left out of PREROUTING: DNAT runs before the kernel drops a
  // packet from another host addressed to 127.0.0.1 as a martian, so a neighbour routing
  // 127.0.0.1 to us would otherwise reach ports published on 127.0.0.1.
  ensure_jump(nat, "PREROUTING", kDnatChain, Rule().dst(parse_cidr("127.0.0.0/8", "loopback"), true).dst_type_local());
  // From the host itself, loopback included: a port published on 127.0.0.1 is for the host's
  // own clients (its packets reach the bridge thanks to route_localnet on the bridge only).
  ensure_jump(nat, "OUTPUT", kDnatChain, Rule().dst_type_local());
  ensure_jump(nat, "POSTROUTING", kPostChain, Rule());
}

void ensure_filter_chains(Table& filter) {
  for (const char* chain : kFilterChains) filter.ensure_chain(chain);
  // Isolation is judged before any accept of OCINET-FORWARD.
  ensure_jump(filter, kForwardChain, kIsolate1Chain, Rule(), true);
  // First, so a DROP policy or a reject rule appended by another tool does not cut containers off.
  ensure_jump(filter, "FORWARD", kForwardChain, Rule(), true);
}

// Each returns whether it added anything, so a failed commit elsewhere knows what to undo.
bool ensure_network_nat(Table& nat, const ParsedNetwork& n) {
  if (nat.has_rule_with_comment(kPostChain, n.comment)) return false;
  auto masquerade = [&](Rule r) {
    r.comment(n.comment).masquerade();
    nat.append(kPostChain, r);
  };
  if (!n.internal) masquerade(Rule().src(n.subnet).out(n.bridge, true));  // outbound
  // Hairpin: a container reaching its own or a neighbour's published port through a host
  // address comes back out of the same bridge; without masquerading the reply would skip the
  // un-DNAT. Outside clients are not in the subnet, so their source address is kept.
  masquerade(Rule().src(n.subnet).out(n.bridge).ctstate(XT_CONNTRACK_STATE_DNAT));
  // The host's own connections to ports published on 127.0.0.1: the container answers the
  // bridge address instead of a loopback address it could not route back to.
  masquerade(Rule().src(parse_cidr("127.0.0.0/8", "loopback")).out(n.bridge));
  return true;
}

bool ensure_network_filter(Table& filter, const ParsedNetwork& n) {
  if (filter.has_rule_with_comment(kForwardChain, n.comment)) return false;
  auto add = [&](const char* chain, Rule r, const char* target) {
    r.comment(n.comment).jump(target);
    filter.append(chain, r);
  };
  if (n.internal) {
    // No way on or off the bridge but between its own ports.
    add(kIsolate1Chain, Rule().in(n.bridge).out(n.bridge, true), IPTC_LABEL_DROP);
    add(kIsolate1Chain, Rule().in(n.bridge, true).out(n.bridge), IPTC_LABEL_DROP);
  } else {
    add(kIsolate1Chain, Rule().in(n.bridge).out(n.bridge, true), kIsolate2Chain);
  }
  add(kIsolate2Chain, Rule().out(n.bridge), IPTC_LABEL_DROP);
  add(kForwardChain, Rule().out(n.bridge).ctstate(XT_CONNTRACK_STATE_BIT(IP_CT_RELATED) | XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED)),
      IPTC_LABEL_ACCEPT);
  add(kForwardChain, Rule().out(n.bridge).ctstate(XT_CONNTRACK_STATE_DNAT), IPTC_LABEL_ACCEPT);  // published ports
  add(kForwardChain, Rule().in(n.bridge).out(n.bridge), IPTC_LABEL_ACCEPT);
  if (!n.internal) add(kForwardChain, Rule().in(n.bridge).out(n.bridge, true), IPTC_LABEL_ACCEPT);
  return true;
}

void add_endpoint_rules(Table& nat, const ParsedEndpoint& ep) {
  for (const Port& p : ep.ports) {
    Rule dnat;
    if (!p.any_host) dnat.dst(host_cidr(p.host_ip));
    dnat.dport(p.proto, p.host_port).comment(ep.comment).dnat(ep.ip, p.container_port);
    nat.append(kDnatChain, dnat);
  }
}

// Deletes every rule with `comment` from the table's ocinet chains and commits if any went.
template <size_t N>
void remove_commented(const char* table, const char* const (&chains)[N], const std::string& comment,
                      bool missing_ok) {
  Table t(table, missing_ok);
  if (!t) return;
  for (const char* chain : chains) t.delete_rules_with_comment(chain, comment);
  t.commit();
}

class IptablesBackend final : public FirewallBackend {
 public:
  const char* name() const override { return "iptables"; }

  void add_endpoint(const NetworkRules& net, const EndpointRules& ep) override {
    const ParsedNetwork n = parse_network(net);
    const ParsedEndpoint e = parse_endpoint(ep);
    XtablesLock lock;
    Table nat("nat");
    Table filter("filter");

    ensure_nat_chains(nat);
    // A setup repeated for the same container replaces its rules instead of stacking a second
    // set behind stale ones (which would win, pointing at an old address).
    for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, e.comment);
    const bool added_net_nat = ensure_network_nat(nat, n);
    add_endpoint_rules(nat, e);

    ensure_filter_chains(filter);
    ensure_network_filter(filter, n);

    // nat first: it holds the rules the kernel is likelier to refuse (DNAT, sctp), and a refusal
    // there leaves nothing to undo. Only a failing filter commit needs nat's commit rolled back.
    nat.commit();
    try {
      filter.commit();
    } catch (const Error&) {
      undo_nat(e.comment, added_net_nat ? n.comment : std::string());
      throw;
    }
  }

  void remove_endpoint(const std::string& tag) override { remove_everywhere(endpoint_comment(tag)); }
  void remove_network(const std::string& name) override {
    std::string comment = network_comment(name);
    XtablesLock lock;
    // With its last network gone, ocinet takes its chains and jumps out too, leaving the
    // tables as they were before ocinet first touched them.
    Table nat("nat", true);
    if (nat) {
      for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, comment);
      if (nat.has_chain(kDnatChain) && nat.rule_count(kDnatChain) == 0 && nat.rule_count(kPostChain) == 0) {
        nat.delete_jumps("PREROUTING", kDnatChain);
        nat.delete_jumps("OUTPUT", kDnatChain);
        nat.delete_jumps("POSTROUTING", kPostChain);
        for (const char* chain : kNatChains) nat.delete_chain(chain);
      }
      nat.commit();
    }
    Table filter("filter", true);
    if (filter) {
      for (const char* chain : kFilterChains) filter.delete_rules_with_comment(chain, comment);
      if (filter.has_chain(kForwardChain) && filter.rule_count(kForwardChain) <= 1 &&
          filter.rule_count(kIsolate1Chain) == 0 && filter.rule_count(kIsolate2Chain) == 0) {
        filter.delete_jumps("FORWARD", kForwardChain);
        for (const char* chain : kFilterChains) filter.delete_chain(chain);
      }
      filter.commit();
    }
  }

 private:
  static void remove_everywhere(const std::string& comment) {
    XtablesLock lock;
    remove_commented("nat", kNatChains, comment, true);
    remove_commented("filter", kFilterChains, comment, true);
  }

  // Best effort with the lock still held: the caller reports the original failure either way.
  // Chains and jumps stay; they are empty of this call's rules and harmless.
  static void undo_nat(const std::string& endpoint, const std::string& network) {
    try {
      Table nat("nat");
      for (const char* chain : kNatChains) nat.delete_rules_with_comment(chain, endpoint);
      if (!network.empty()) nat.delete_rules_with_comment(kPostChain, network);
      nat.commit();
    } catch (const Error&) {
    }
  }
};

}  // namespace

std::unique_ptr<FirewallBackend> make_iptables_backend() { return std::make_unique<IptablesBackend>(); }

}  // namespace ocinet
