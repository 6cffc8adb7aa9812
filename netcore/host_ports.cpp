#include "netcore/host_ports.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "netcore/firewall/fw_input.h"
#include "netcore/fsutil.h"
#include "netcore/port_table.h"

namespace ocinet {
namespace {

// Socket states as inet_diag reports them (the kernel's include/net/tcp_states.h). An SCTP
// listener is in LISTEN too; a UDP socket has no listen state: bound and unconnected is CLOSE.
constexpr int kStateClose = 7, kStateListen = 10;

// One netlink socket for every dump of an invocation; dumps run one after the other on it.
class SockDiag {
 public:
  SockDiag() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {
    if (!fd_) fail_system("sock_diag: opening a netlink socket", errno);
  }

  // Appends the sockets of `family` that take `proto` traffic on ports lo..hi (the kernel
  // filters by state and port). A protocol the kernel has no diag for (ENOENT) is an error,
  // unless `optional`: then it has no sockets.
  void dump(int family, const std::string& proto, uint16_t lo, uint16_t hi, bool optional,
            std::vector<HostSocket>& out);

 private:
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

int ip_proto(const std::string& proto) {
  if (proto == "tcp") return IPPROTO_TCP;
  if (proto == "udp") return IPPROTO_UDP;
  return IPPROTO_SCTP;
}

// A dump request with a filter on the local port: sport >= lo && sport <= hi. Each comparison
// is an op followed by one carrying the port; a failed one jumps 4 bytes past the end (reject),
// running off the end exactly is accept (the kernel's inet_diag_bc_run).
struct DumpRequest {
  nlmsghdr h;
  inet_diag_req_v2 r;
  nlattr bytecode;
  inet_diag_bc_op ops[4];
};
static_assert(sizeof(DumpRequest) ==
              NLMSG_LENGTH(sizeof(inet_diag_req_v2)) + NLA_HDRLEN + 4 * sizeof(inet_diag_bc_op));

void SockDiag::dump(int family, const std::string& proto, uint16_t lo, uint16_t hi, bool optional,
                    std::vector<HostSocket>& out) {
  const std::string what = "sock_diag: reading the host's " + proto + (family == AF_INET ? "" : "6") + " sockets";
  DumpRequest q{};
  q.h.nlmsg_len = sizeof q;
  q.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  q.h.nlmsg_seq = ++seq_;
  q.r.sdiag_family = uint8_t(family);
  q.r.sdiag_protocol = uint8_t(ip_proto(proto));
  q.r.idiag_states = 1u << (proto == "udp" ? kStateClose : kStateListen);
  q.bytecode.nla_type = INET_DIAG_REQ_BYTECODE;
  q.bytecode.nla_len = NLA_HDRLEN + sizeof q.ops;
  q.ops[0] = {INET_DIAG_BC_S_GE, 8, 20};
  q.ops[1] = {0, 0, lo};
  q.ops[2] = {INET_DIAG_BC_S_LE, 8, 12};
  q.ops[3] = {0, 0, hi};
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), &q, sizeof q, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) != ssize_t(sizeof q))
    fail_system(what, errno);
  // 32 KiB: the most the kernel puts in one dump message batch.
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_system(what, n < 0 ? errno : EPROTO);
    int len = int(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_) continue;  // not the answer to this request
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        // Both carry the error first (0 at the end of a dump that went well).
        const int err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? -*static_cast<const int*>(NLMSG_DATA(h)) : 0;
        if (err == ENOENT && optional) return;  // no diag module for this protocol: no such sockets
        if (err) fail_system(what, err);
        return;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      HostSocket s;
      s.family = d->idiag_family;
      s.proto = proto;
      s.port = ntohs(d->id.idiag_sport);
      std::memcpy(&s.addr, d->id.idiag_src, s.family == AF_INET ? 4 : 16);
      if (s.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s.addr)) {  // bound to ::ffff:a.b.c.d: IPv4 only
        in6_addr v4{};
        std::memcpy(&v4, &s.addr.s6_addr[12], 4);
        s.family = AF_INET;
        s.addr = v4;
      }
      // The kernel adds INET_DIAG_SKV6ONLY to every IPv6 socket in LISTEN or CLOSE, unasked.
      int alen = int(h->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg)));
      for (auto* a = reinterpret_cast<const rtattr*>(d + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
        if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1)
          s.v6only = *static_cast<const uint8_t*>(RTA_DATA(a)) != 0;
      out.push_back(s);
    }
  }
}

}  // namespace

std::string HostSocket::str() const {
  char text[INET6_ADDRSTRLEN] = "?";
  ::inet_ntop(family, &addr, text, sizeof text);
  const std::string a = family == AF_INET6 ? "[" + std::string(text) + "]" : text;
  return a + ":" + std::to_string(port);
}

const HostSocket* host_socket_using(const std::vector<HostSocket>& sockets, const PortMapping& m,
                                    bool container_has_ip6) {
  if (sockets.empty()) return nullptr;
  const PortHosts h = fw_port_hosts(m, container_has_ip6);
  for (const auto& s : sockets) {
    if (s.port < m.host_port || s.port > m.host_last() || s.proto != m.proto) continue;
    if (s.family == AF_INET) {
      in_addr a;
      std::memcpy(&a, &s.addr, 4);
      if (h.v4 && (a.s_addr == INADDR_ANY || !h.addr4 || a.s_addr == h.addr4->s_addr)) return &s;
      continue;
    }
    const bool wildcard = IN6_IS_ADDR_UNSPECIFIED(&s.addr);
    if (h.v6 && (wildcard || !h.addr6 || IN6_ARE_ADDR_EQUAL(&s.addr, &*h.addr6))) return &s;
    if (h.v4 && wildcard && !s.v6only) return &s;  // [::] takes IPv4 on every address as well
  }
  return nullptr;
}

void check_host_ports(const std::vector<HostSocket>& sockets, const std::vector<PortSpec>& specs,
                      bool container_has_ip6) {
  for (const auto& s : specs) {
    if (!s.host_fixed()) continue;
    PortMapping m;  // the whole range at once: one pass over the sockets, however long it is
    m.host_ip = s.host_ip;
    m.proto = s.proto;
    m.host_port = s.host_start;
    m.host_port_end = s.host_end;
    m.container_port = s.ct_start;
    if (const HostSocket* user = host_socket_using(sockets, m, container_has_ip6))
      fail_invalid("io.ocinet.ports: host port " + std::to_string(user->port) + "/" + m.proto +
                   " is in use on the host (" + user->str() + ")");
  }
}

std::vector<HostSocket> host_sockets_for(const std::vector<PortSpec>& specs) {
  std::vector<HostSocket> out;
  if (specs.empty()) return out;
  SockDiag diag;
  for (const std::string proto : {"tcp", "udp", "sctp"}) {
    uint16_t lo = 65535, hi = 0;
    for (const auto& s : specs) {
      if (s.proto != proto) continue;
      const auto [first, last] = host_port_bounds(s);
      lo = std::min(lo, first);
      hi = std::max(hi, last);
    }
    if (lo > hi) continue;  // no publication of this protocol
    // IPv6 sockets too for IPv4-only containers: [::] without IPV6_V6ONLY takes IPv4 as well.
    for (int family : {AF_INET, AF_INET6}) diag.dump(family, proto, lo, hi, /*optional=*/proto == "sctp", out);
  }
  return out;
}

}  // namespace ocinet
