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
#include <fcntl.h>
#include <libiptc/libiptc.h>
extern "C" {  // unlike libiptc.h, it does not say so itself
#include <libiptc/libip6tc.h>
}
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
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "netcore/dynlib.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/firewall/foreign_forward.h"
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
// Keeps containers off the host's loopback services (ensure_network_filter).
constexpr const char* kInputChain = "OCINET-INPUT";
// IPv6 only: ports published on [::1], jumped to from OUTPUT for ::1 alone (ensure_nat_chains).
constexpr const char* kLoopback6Chain = "OCINET-DNAT-LO";
constexpr const char* kNatChains[] = {kDnatChain, kPostChain, kLoopback6Chain};
constexpr const char* kFilterChains[] = {kForwardChain, kIsolate1Chain, kIsolate2Chain, kInputChain};

// The lock iptables-legacy and iptables-legacy-restore take; without it a concurrent run could
// commit a table it read before our commit and silently drop our rules, or we theirs.
constexpr const char* kLockPath = "/run/xtables.lock";
constexpr auto kLockWait = std::chrono::seconds(5);

// ---------------------------------------------------------------------------------------------
// The two families: their entry layouts and libiptc/libip6tc, behind one set of names.

// libip4tc and libip6tc are opened when a family is first used, not linked (netcore/dynlib.h
// says why). Both export the same functions under their own prefix; one list serves both.
#define OCINET_IPTC_FUNCTIONS(X, P)                                                                     \
  X(P, init) X(P, free) X(P, strerror) X(P, is_chain) X(P, create_chain) X(P, append_entry)            \
  X(P, insert_entry) X(P, first_rule) X(P, next_rule) X(P, get_target) X(P, delete_num_entry)           \
  X(P, flush_entries) X(P, delete_chain) X(P, commit)
#define OCINET_IPTC_FIELD(P, name) decltype(&P##_##name) name;
#define OCINET_IPTC_RESOLVE(P, name) lib.sym(api.name, #P "_" #name);
#define OCINET_IPTC_API(P, soname)                                                 \
  struct Api {                                                                     \
    OCINET_IPTC_FUNCTIONS(OCINET_IPTC_FIELD, P)                                    \
  };                                                                               \
  static const Api& lib() {                                                        \
    static const Api loaded = [] {                                                 \
      DynLib lib(soname, "firewall: loading " soname " (iptables backend)");       \
      Api api{};                                                                   \
      OCINET_IPTC_FUNCTIONS(OCINET_IPTC_RESOLVE, P)                                \
      return api;                                                                  \
    }(); /* a throw leaves it unset: the next call retries */                      \
    return loaded;                                                                 \
  }

struct Inet4 {
  static constexpr bool kV6 = false;
  static constexpr const char* kCommand = "iptables";
  static constexpr const char* kTableNames = "/proc/net/ip_tables_names";
  using Addr = in_addr;
  using Ip = ipt_ip;
  using Entry = ipt_entry;
  OCINET_IPTC_API(iptc, "libip4tc.so.2")
  static Ip& ip(Entry* e) { return e->ip; }
};

struct Inet6 {
  static constexpr bool kV6 = true;
  static constexpr const char* kCommand = "ip6tables";
  static constexpr const char* kTableNames = "/proc/net/ip6_tables_names";
  using Addr = in6_addr;
  using Ip = ip6t_ip6;
  using Entry = ip6t_entry;
  OCINET_IPTC_API(ip6tc, "libip6tc.so.2")
  static Ip& ip(Entry* e) { return e->ipv6; }
};

// ---------------------------------------------------------------------------------------------
// Input validation and parsing. Everything is checked before the lock is taken, so a bad
// request never touches the kernel.

template <class F>
struct Cidr {
  typename F::Addr addr{};
  typename F::Addr mask{};
};

in_addr parse_ip(const std::string& s, const std::string& what) { return fw_parse_ip(s, what); }

Cidr<Inet4> host_cidr(in_addr a) {
  Cidr<Inet4> c;
  c.addr = a;
  c.mask.s_addr = 0xffffffffu;
  return c;
}

Cidr<Inet6> host_cidr(const in6_addr& a) {
  Cidr<Inet6> c;
  c.addr = a;
  std::memset(&c.mask, 0xff, sizeof c.mask);
  return c;
}

Cidr<Inet4> parse_cidr(const std::string& s, const std::string& what) {
  Ipv4Net n = fw_parse_cidr(s, what);
  Cidr<Inet4> c;
  c.addr.s_addr = htonl(n.addr);  // host bits clear: the kernel compares (addr & mask) with it
  c.mask.s_addr = htonl(n.mask());
  return c;
}

Cidr<Inet6> parse_cidr6(const std::string& s, const std::string& what) {
  Ipv6Net n = fw_parse_cidr6(s, what);
  Cidr<Inet6> c;
  std::memcpy(&c.addr, n.addr, sizeof c.addr);  // masked to the prefix already
  for (int i = 0; i < 16; i++) {
    int bits = std::clamp(n.prefix - 8 * i, 0, 8);
    c.mask.s6_addr[i] = static_cast<uint8_t>(0xff00 >> bits);
  }
  return c;
}

// The addresses a host's own clients use for ports published on loopback.
template <class F>
Cidr<F> loopback();
template <>
Cidr<Inet4> loopback<Inet4>() { return parse_cidr("127.0.0.0/8", "loopback"); }
template <>
Cidr<Inet6> loopback<Inet6>() { return host_cidr(in6addr_loopback); }

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

// One port or a range (host_port..host_last -> container_port..): one DNAT rule either way.
template <class F>
struct Port {
  std::optional<typename F::Addr> host_ip;  // unset: every local address (no -d)
  uint16_t host_port = 0;
  uint16_t host_last = 0;
  uint16_t container_port = 0;
  uint16_t proto = 0;
};

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
  p.bridge = net.bridge;
  p.subnet = parse_cidr(net.subnet, "subnet");
  if (!net.subnet6.empty()) p.subnet6 = parse_cidr6(net.subnet6, "IPv6 subnet");
  p.internal = net.internal;
  return p;
}

ParsedEndpoint parse_endpoint(const EndpointRules& ep) {
  ParsedEndpoint p;
  p.comment = endpoint_comment(ep.tag);
  p.ip = parse_ip(ep.container_ip, "container address");
  if (!ep.container_ip6.empty()) p.ip6 = fw_parse_ip6(ep.container_ip6, "container IPv6 address");
  for (const auto& pm : ep.ports) {
    const uint16_t proto = parse_proto(pm.proto);
    fw_check_mapping(pm);
    const PortHosts hosts = fw_port_hosts(pm, p.ip6.has_value());
    if (hosts.v4) p.ports.push_back({hosts.addr4, pm.host_port, pm.host_last(), pm.container_port, proto});
    if (hosts.v6) p.ports6.push_back({hosts.addr6, pm.host_port, pm.host_last(), pm.container_port, proto});
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

// The inversion flags have the same values in both families (IPT_INV_* = IP6T_INV_*).
static_assert(IPT_INV_SRCIP == IP6T_INV_SRCIP && IPT_INV_DSTIP == IP6T_INV_DSTIP && IPT_INV_VIA_IN == IP6T_INV_VIA_IN &&
              IPT_INV_VIA_OUT == IP6T_INV_VIA_OUT);

template <class F>
class Rule {
 public:
  Rule& src(const Cidr<F>& c, bool invert = false) {
    ip_.src = c.addr;
    ip_.smsk = c.mask;
    if (invert) ip_.invflags |= IPT_INV_SRCIP;
    return *this;
  }
  Rule& dst(const Cidr<F>& c, bool invert = false) {
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

  // -p <proto> -m <proto> --dport <first>[:<last>]: the port matches check the protocol field too.
  Rule& dport(uint16_t proto, uint16_t first, uint16_t last) {
    ip_.proto = proto;
    if constexpr (F::kV6) ip_.flags |= IP6T_F_PROTO;  // ip6tables matches the protocol only with it
    if (proto == IPPROTO_TCP) {
      xt_tcp m{};
      m.spts[1] = 0xffff;  // an all-zero source range would only match source port 0
      m.dpts[0] = first;
      m.dpts[1] = last;
      return match("tcp", 0, m);
    }
    if (proto == IPPROTO_UDP) {
      xt_udp m{};
      m.spts[1] = 0xffff;
      m.dpts[0] = first;
      m.dpts[1] = last;
      return match("udp", 0, m);
    }
    // Laid out as libxt_sctp does (source range unset, unused chunk slots 0xff), so that
    // iptables -C/-D by hand finds the rule; the kernel only reads what `flags` selects.
    xt_sctp_info m{};
    m.dpts[0] = first;
    m.dpts[1] = last;
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
  Rule& ctstate(uint16_t states, bool invert = false) {
    xt_conntrack_mtinfo3 m{};
    m.match_flags = XT_CONNTRACK_STATE;
    if (invert) m.invert_flags = XT_CONNTRACK_STATE;
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
    // Revision 0 is MASQUERADE's only revision; an empty range means "any port". The IPv6
    // target takes the newer range struct.
    if constexpr (F::kV6) {
      nf_nat_range r{};
      return target("MASQUERADE", 0, r);
    } else {
      nf_nat_ipv4_multi_range_compat r{};
      r.rangesize = 1;
      return target("MASQUERADE", 0, r);
    }
  }
  // --to-destination ADDR:PORT for one port. For a range: ADDR alone where the container's
  // ports are the host's (DNAT without a port keeps it), else ADDR:FIRST-LAST/BASE, the kernel's
  // port offset (4.19+): host port BASE+i goes to FIRST+i.
  Rule& dnat(const typename F::Addr& to, const Port<F>& p) {
    // Revision 2 (kernel 4.18+) is what iptables 1.8 itself writes. A revision-0 rule works in
    // the kernel, but iptables-save then prints it as "DNAT [unsupported revision]", which
    // breaks save/restore round trips and hand-written -C/-D for anyone managing the host.
    nf_nat_range2 r{};
    r.flags = NF_NAT_RANGE_MAP_IPS;
    if constexpr (F::kV6)
      r.min_addr.in6 = r.max_addr.in6 = to;
    else
      r.min_addr.ip = r.max_addr.ip = to.s_addr;
    const bool range = p.host_last > p.host_port;
    if (!range || p.container_port != p.host_port) {
      r.flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
      r.min_proto.all = htons(p.container_port);
      r.max_proto.all = htons(uint16_t(p.container_port + (p.host_last - p.host_port)));
      if (range) {
        r.flags |= NF_NAT_RANGE_PROTO_OFFSET;
        r.base_proto.all = htons(p.host_port);
      }
    }
    return target("DNAT", 2, r);
  }

  // The contiguous entry libiptc copies; valid until the next change to this Rule.
  const typename F::Entry* entry() {
    using Entry = typename F::Entry;
    size_t size = sizeof(Entry) + matches_.size() + target_.size();
    buf_.assign((size + sizeof(uint64_t) - 1) / sizeof(uint64_t), 0);  // u64 counters need 8-byte alignment
    auto* e = reinterpret_cast<Entry*>(buf_.data());
    F::ip(e) = ip_;
    e->target_offset = static_cast<uint16_t>(sizeof(Entry) + matches_.size());
    e->next_offset = static_cast<uint16_t>(size);
    auto* bytes = reinterpret_cast<unsigned char*>(buf_.data());
    std::copy(matches_.begin(), matches_.end(), bytes + sizeof(Entry));
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

  typename F::Ip ip_{};
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
template <class Entry>
std::string_view rule_comment(const Entry* e) {
  for (size_t off = sizeof(Entry); off + sizeof(xt_entry_match) <= e->target_offset;) {
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

template <class F>
[[noreturn]] void iptc_fail(const std::string& what, int err) {
  fail_system("firewall: " + what + ": " + F::lib().strerror(err), 0);
}

// Whether the kernel has instantiated `table` of this family in the current netns. x_tables
// creates a table in a netns the first time anyone opens it: ocinet's removals look here first
// so that an IPv4-only host does not grow empty IPv6 tables.
template <class F>
bool table_instantiated(const char* table) {
  int fd = open(F::kTableNames, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no x_tables for this family: nothing of ocinet's there
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  for (const char* line = buf; *line;) {
    const char* end = std::strchr(line, '\n');
    size_t len = end ? size_t(end - line) : std::strlen(line);
    if (len == std::strlen(table) && std::strncmp(line, table, len) == 0) return true;
    if (!end) break;
    line = end + 1;
  }
  return false;
}

// One table's snapshot. Edits stay in memory until commit(); dropping the object without a
// commit discards them, which is how a failed add_endpoint leaves the kernel untouched.
template <class F>
class Table {
 public:
  // With missing_ok, a table (or x_tables itself) the kernel does not have yields an empty
  // Table instead of an error: there is nothing to remove from it. For IPv6, missing_ok also
  // leaves a table that nobody has instantiated in this netns alone.
  explicit Table(const char* name, bool missing_ok = false) : name_(name) {
    if (F::kV6 && missing_ok && !table_instantiated<F>(name)) return;
    h_.reset(F::lib().init(name));
    if (!h_) {
      int err = errno;
      if (missing_ok && (err == ENOENT || err == ENOPROTOOPT || err == EAFNOSUPPORT)) return;
      iptc_fail<F>(std::string("reading ") + F::kCommand + " table " + name, err);
    }
  }

  explicit operator bool() const { return h_ != nullptr; }
  xtc_handle* get() const { return h_.get(); }
  const char* name() const { return name_; }
  bool changed() const { return changed_; }

  bool has_chain(const char* chain) const { return F::lib().is_chain(chain, h_.get()); }

  void ensure_chain(const char* chain) {
    if (has_chain(chain)) return;
    if (!F::lib().create_chain(chain, h_.get())) iptc_fail<F>(where("creating chain", chain), errno);
    changed_ = true;
  }

  void append(const char* chain, Rule<F>& rule) {
    if (!F::lib().append_entry(chain, rule.entry(), h_.get())) iptc_fail<F>(where("adding rule to", chain), errno);
    changed_ = true;
  }

  void insert_first(const char* chain, Rule<F>& rule) {
    if (!F::lib().insert_entry(chain, rule.entry(), 0, h_.get())) iptc_fail<F>(where("adding rule to", chain), errno);
    changed_ = true;
  }

  // 0-based positions of the rules in `chain` whose comment is exactly `comment`.
  std::vector<unsigned> rules_with_comment(const char* chain, const std::string& comment) const {
    std::vector<unsigned> found;
    if (!h_ || !has_chain(chain)) return found;
    unsigned n = 0;
    for (auto* e = F::lib().first_rule(chain, h_.get()); e; e = F::lib().next_rule(e, h_.get()), ++n)
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
      if (!F::lib().delete_num_entry(chain, *it, h_.get())) iptc_fail<F>(where("deleting rule from", chain), errno);
      changed_ = true;
    }
  }

  // Whether any rule of `from` jumps to `to`, whatever its matches: one jump is enough, and a
  // second one (say, added by hand) is not ours to judge.
  bool jumps_to(const char* from, const char* to) const {
    for (auto* e = F::lib().first_rule(from, h_.get()); e; e = F::lib().next_rule(e, h_.get())) {
      const char* target = F::lib().get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) return true;
    }
    return false;
  }

  size_t rule_count(const char* chain) const {
    size_t n = 0;
    if (!h_ || !has_chain(chain)) return 0;
    for (auto* e = F::lib().first_rule(chain, h_.get()); e; e = F::lib().next_rule(e, h_.get())) n++;
    return n;
  }

  // Deletes the rules of `from` that jump to `to` (ocinet's hooks into the built-in chains).
  void delete_jumps(const char* from, const char* to) {
    std::vector<unsigned> found;
    unsigned n = 0;
    for (auto* e = F::lib().first_rule(from, h_.get()); e; e = F::lib().next_rule(e, h_.get()), ++n) {
      const char* target = F::lib().get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) found.push_back(n);
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!F::lib().delete_num_entry(from, *it, h_.get())) iptc_fail<F>(where("deleting jump from", from), errno);
      changed_ = true;
    }
  }

  void delete_chain(const char* chain) {
    if (!has_chain(chain)) return;
    if (!F::lib().flush_entries(chain, h_.get()) || !F::lib().delete_chain(chain, h_.get()))
      iptc_fail<F>(where("deleting chain", chain), errno);
    changed_ = true;
  }

  void commit() {
    if (!changed_) return;
    if (!F::lib().commit(h_.get())) iptc_fail<F>(std::string("committing ") + F::kCommand + " table " + name_, errno);
    changed_ = false;
  }

 private:
  std::string where(const char* what, const char* chain) const {
    return std::string(what) + " " + F::kCommand + " " + name_ + " " + chain;
  }

  struct HandleFree {
    void operator()(xtc_handle* h) const { F::lib().free(h); }
  };
  const char* name_;
  std::unique_ptr<xtc_handle, HandleFree> h_;
  bool changed_ = false;
};


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
  } catch (const Error&) {
  }
}

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

  bool add_endpoint(const NetworkRules& net, const EndpointRules& ep) override {
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
    // later failure takes back what the earlier commits added.
    int done = 0;  // commits that went through: nat4, filter4, nat6, filter6
    try {
      v4.nat.commit();
      ++done;
      v4.filter.commit();
      ++done;
      if (v6) {
        v6->nat.commit();
        ++done;
        v6->filter.commit();
        ++done;
      }
    } catch (const Error&) {
      undo_family(e.comment, n.comment, done > 0, done > 1, v4);
      if (v6) undo_family(e.comment, n.comment, done > 2, false, *v6);
      throw;
    }
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
    if (!ep.container_ip6.empty()) remove_from_family<Inet6>(comment);
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
