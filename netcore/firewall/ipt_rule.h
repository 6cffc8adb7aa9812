// One iptables rule as libiptc takes it: addresses, interfaces, matches and a target, encoded
// in the kernel's layout for either family.
#pragma once
#include <arpa/inet.h>
// libiptc first: it includes the kernel's interface headers, which clash with net/if.h.
#include "netcore/firewall/ipt_lib.h"
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

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "config/validate.h"

namespace ocinet::ipt {

template <class F>
struct Cidr {
  typename F::Addr addr{};
  typename F::Addr mask{};
};

inline Cidr<Inet4> host_cidr(in_addr a) {
  Cidr<Inet4> c;
  c.addr = a;
  c.mask.s_addr = 0xffffffffu;
  return c;
}

inline Cidr<Inet6> host_cidr(const in6_addr& a) {
  Cidr<Inet6> c;
  c.addr = a;
  std::memset(&c.mask, 0xff, sizeof c.mask);
  return c;
}

inline Cidr<Inet4> cidr(const Ipv4Net& n) {
  Cidr<Inet4> c;
  c.addr.s_addr = htonl(n.addr);  // host bits clear: the kernel compares (addr & mask) with it
  c.mask.s_addr = htonl(n.mask());
  return c;
}

inline Cidr<Inet6> cidr(const Ipv6Net& n) {
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
inline Cidr<Inet4> loopback<Inet4>() { return cidr(Ipv4Net{0x7f000000u, 8}); }
template <>
inline Cidr<Inet6> loopback<Inet6>() { return host_cidr(in6addr_loopback); }

// One port or a range (host_port..host_last -> container_port..): one DNAT rule either way.
template <class F>
struct Port {
  std::optional<typename F::Addr> host_ip;  // unset: every local address (no -d)
  uint16_t host_port = 0;
  uint16_t host_last = 0;
  uint16_t container_port = 0;
  uint16_t proto = 0;
};

// ---------------------------------------------------------------------------------------------
// Rule building: an ipt_entry followed by its matches and its target, each sized with XT_ALIGN
// exactly as the kernel's checks expect.

static_assert(sizeof(xt_entry_match) == sizeof(xt_entry_target), "match and target headers share one layout");

// Appends one match or target: header (size, name, revision) then its payload.
inline void append_extension(std::vector<unsigned char>& out, const char* name, uint8_t revision, const void* data,
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

inline void set_iface(char* name, unsigned char* mask, const std::string& iface) {
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
}  // namespace ocinet::ipt
