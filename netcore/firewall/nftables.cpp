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
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/x_tables.h>
#include <linux/membarrier.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// libnftables.h defines _GNU_SOURCE bare, which g++ predefines as 1: keep ours, skip the warning.
#pragma push_macro("_GNU_SOURCE")
#undef _GNU_SOURCE
#include <nftables/libnftables.h>
#pragma pop_macro("_GNU_SOURCE")

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "netcore/dynlib.h"
#include "base/error.h"
#include "netcore/firewall/firewall.h"
#include "netcore/firewall/foreign_forward.h"
#include "netcore/firewall/fw_input.h"

namespace ocinet {
namespace {

constexpr const char* kTableName = "ocinet";

// The whole table, created in one transaction the first time this netns needs it. `create`
// (not `add`) makes a second hook that races us fail with EEXIST instead of adding the rules
// twice; it then adds its elements to the table we made.
//
// Why each rule is there:
// - prerouting: only traffic addressed to this host is port-forwarded, as with Docker. Loopback
//   destinations are left out: a packet from another host addressed to 127.0.0.1 would
//   otherwise be DNAT'd before the routing code could drop it as a martian, and a port
//   published on 127.0.0.1 must not be reachable from other hosts.
// - output: the host's own clients, loopback included (route_localnet is on for ocinet bridges
//   only, so the DNAT'd packets may leave through them).
// - published: specific host addresses first, then every address. A lookup that misses ends
//   the rule without a verdict, so unpublished traffic goes on untouched.
// - postrouting: outbound MASQUERADE for non-internal subnets; hairpin (a container reaching
//   its own or a neighbour's published port through a host address comes back out of a bridge
//   and must be masqueraded, or the reply would skip the un-DNAT; outside clients are not in a
//   subnet, so their address is kept); the host's loopback clients, whose 127/8 source the
//   container could not answer.
// - forward: Docker's isolation, then its accepts. Traffic within one bridge (seen here with
//   br_netfilter, or after a hairpin DNAT) is accepted first; internal bridges let nothing on
//   or off. A published port is for everyone, containers of other networks included (Docker's
//   -p), so DNAT'd traffic and its answers are accepted before traffic between two different
//   ocinet bridges is dropped (nft cannot compare iifname with oifname, hence same_bridge).
//   What comes in for a bridge from elsewhere and was not DNAT'd is dropped last: a host that
//   routes a container subnet through this one reaches no port that was not published (as
//   Docker 28 does). Drops are final for the kernel; the accepts only end this table's chain
//   (another table's drop still applies).
// - localnet: route_localnet on a bridge (for ports published on 127.0.0.1) also lets the
//   kernel accept a packet addressed to 127.0.0.1 that comes in through that bridge: a
//   container routing 127.0.0.0/8 to its gateway would reach every service the host binds to
//   its loopback (CVE-2020-8558 with kube-proxy); and one *from* 127/8, which services that
//   trust loopback sources would take as the host's own. Both dropped before conntrack, for
//   every ocinet bridge; the address test comes first, the cheaper one for every other packet.
//   Nothing legitimate is dropped: the host's own connections to a port published on
//   127.0.0.1 leave masqueraded, so their answers come in addressed to the bridge, and are
//   turned back to 127/8 only after this chain. localnet_in does the same after DNAT, for a
//   new connection someone else's rule turned to 127/8 (answers are in the reply direction).
//
// A table made by an earlier ocinet lacks the chain, or has the forward chain of before direct
// routing was closed. The first setup on any network finds that out (its bridge is missing
// from closed_bridges, the newest set, which the fast path looks the bridge up in) and brings
// the chains up to date, covering every bridge at once, in a transaction of its own
// (idempotent: `add` of what exists is a no-op, the flushes keep the rules single). A table of
// a release before port ranges lacks the *_range maps and their rules in `published`: nothing
// needs them until a container publishes a range, whose elements then name a missing map
// (ENOENT), which runs the same upgrade.
constexpr const char* kUpgrade4 = R"(add set ip ocinet localnet_bridges { type ifname; }
add chain ip ocinet localnet { type filter hook prerouting priority raw; policy accept; }
flush chain ip ocinet localnet
add rule ip ocinet localnet ip daddr 127.0.0.0/8 iifname @bridges drop
add rule ip ocinet localnet ip saddr 127.0.0.0/8 iifname @bridges drop
add chain ip ocinet localnet_in { type filter hook input priority filter; policy accept; }
flush chain ip ocinet localnet_in
add rule ip ocinet localnet_in ip daddr 127.0.0.0/8 iifname @bridges ct direction original drop
add map ip ocinet pub_addr_range { type ipv4_addr . inet_proto . inet_service : ipv4_addr; flags interval; }
add map ip ocinet pub_any_range { type inet_proto . inet_service : ipv4_addr; flags interval; }
flush chain ip ocinet published
add rule ip ocinet published dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
add rule ip ocinet published dnat to ip daddr . meta l4proto . th dport map @pub_addr_range
add rule ip ocinet published dnat ip to meta l4proto . th dport map @pub_any
add rule ip ocinet published dnat to meta l4proto . th dport map @pub_any_range
)";
// An ip6 table of an earlier ocinet lacks pub_lo6 and the rules using it, the closed forward
// chain, or the range maps: the first setup that adds to a missing set or map (closed_bridges is
// the marker, as in IPv4; a range's map for ranges) rewrites the chains with their rules of now,
// in one transaction.
constexpr const char* kUpgrade6 = R"(add map ip6 ocinet pub_lo6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
add map ip6 ocinet pub_addr_range { type ipv6_addr . inet_proto . inet_service : ipv6_addr; flags interval; }
add map ip6 ocinet pub_any_range { type inet_proto . inet_service : ipv6_addr; flags interval; }
add map ip6 ocinet pub_lo6_range { type inet_proto . inet_service : ipv6_addr; flags interval; }
flush chain ip6 ocinet published
add rule ip6 ocinet published dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub_addr
add rule ip6 ocinet published dnat to ip6 daddr . meta l4proto . th dport map @pub_addr_range
add rule ip6 ocinet published dnat ip6 to meta l4proto . th dport map @pub_any
add rule ip6 ocinet published dnat to meta l4proto . th dport map @pub_any_range
flush chain ip6 ocinet output
add rule ip6 ocinet output ip6 daddr != ::1 fib daddr type local jump published
add rule ip6 ocinet output ip6 daddr ::1 dnat ip6 to meta l4proto . th dport map @pub_lo6
add rule ip6 ocinet output ip6 daddr ::1 dnat to meta l4proto . th dport map @pub_lo6_range
flush chain ip6 ocinet postrouting
add rule ip6 ocinet postrouting ip6 saddr @masq_subnets oifname != @bridges masquerade
add rule ip6 ocinet postrouting ct status dnat ip6 saddr @subnets oifname @bridges masquerade
add rule ip6 ocinet postrouting ip6 saddr ::1 oifname @bridges masquerade
add chain ip6 ocinet localnet { type filter hook input priority filter; policy accept; }
flush chain ip6 ocinet localnet
add rule ip6 ocinet localnet ip6 daddr ::1 iifname @bridges ct direction original drop
)";
// The forward chain of both skeletons, for the upgrades of both families (its rules, in order,
// are those of the skeletons: say why there).
std::string closed_forward_upgrade(const char* family) {
  const std::string t = std::string(family) + " ocinet";
  std::string out = "add set " + t + " closed_bridges { type ifname; }\n" + "add chain " + t +
                    " forward { type filter hook forward priority filter; policy accept; }\n" + "flush chain " + t + " forward\n";
  for (const char* rule : {"iifname . oifname @same_bridge accept", "iifname @internal_bridges drop",
                           "oifname @internal_bridges drop", "oifname @bridges ct state established,related accept",
                           "oifname @bridges ct status dnat accept", "iifname @bridges oifname @bridges drop",
                           "iifname @bridges accept", "oifname @bridges drop"})
    out += "add rule " + t + " forward " + rule + "\n";
  return out;
}

constexpr const char* kSkeleton = R"(create table ip ocinet
table ip ocinet {
	map pub_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub_addr_range { type ipv4_addr . inet_proto . inet_service : ipv4_addr; flags interval; }
	map pub_any_range { type inet_proto . inet_service : ipv4_addr; flags interval; }
	set bridges { type ifname; }
	set internal_bridges { type ifname; }
	set localnet_bridges { type ifname; }
	set closed_bridges { type ifname; }
	set same_bridge { type ifname . ifname; }
	set subnets { type ipv4_addr; flags interval; }
	set masq_subnets { type ipv4_addr; flags interval; }
	chain published {
		dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
		dnat to ip daddr . meta l4proto . th dport map @pub_addr_range
		dnat ip to meta l4proto . th dport map @pub_any
		dnat to meta l4proto . th dport map @pub_any_range
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump published
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr @masq_subnets oifname != @bridges masquerade
		ct status dnat ip saddr @subnets oifname @bridges masquerade
		ip saddr 127.0.0.0/8 oifname @bridges masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname . oifname @same_bridge accept
		iifname @internal_bridges drop
		oifname @internal_bridges drop
		oifname @bridges ct state established,related accept
		oifname @bridges ct status dnat accept
		iifname @bridges oifname @bridges drop
		iifname @bridges accept
		oifname @bridges drop
	}
	chain localnet {
		type filter hook prerouting priority raw; policy accept;
		ip daddr 127.0.0.0/8 iifname @bridges drop
		ip saddr 127.0.0.0/8 iifname @bridges drop
	}
	chain localnet_in {
		type filter hook input priority filter; policy accept;
		ip daddr 127.0.0.0/8 iifname @bridges ct direction original drop
	}
}
)";

// The IPv6 table: the same rules with IPv6 types, less what only IPv4 needs. ::1 is special:
// IPv6 has no route_localnet. A container drops packets from ::1 (RFC 4291 2.5.3), so the
// host's requests to [::1]:port leave masqueraded; the answers, turned back to ::1, come in
// on the bridge, where only a local route for ::1 through the bridge delivers them (setup adds
// it; and br_netfilter must not hand bridged IPv6 to netfilter, which would turn them back
// before the input check drops them: setup refuses [::1] then). So only ports published on
// [::1] explicitly (pub_lo6) are DNAT'd from ::1; a port published on every address is not,
// and a host client asking [::1]:port for it is refused at once rather than left hanging.
// The route must deliver those answers only: `localnet` drops what comes in from a bridge for
// ::1 in the original direction (a new connection someone's DNAT turned to ::1).
constexpr const char* kSkeleton6 = R"(create table ip6 ocinet
table ip6 ocinet {
	map pub_addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv6_addr . inet_service; }
	map pub_lo6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
	map pub_addr_range { type ipv6_addr . inet_proto . inet_service : ipv6_addr; flags interval; }
	map pub_any_range { type inet_proto . inet_service : ipv6_addr; flags interval; }
	map pub_lo6_range { type inet_proto . inet_service : ipv6_addr; flags interval; }
	set bridges { type ifname; }
	set internal_bridges { type ifname; }
	set closed_bridges { type ifname; }
	set same_bridge { type ifname . ifname; }
	set subnets { type ipv6_addr; flags interval; }
	set masq_subnets { type ipv6_addr; flags interval; }
	chain published {
		dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub_addr
		dnat to ip6 daddr . meta l4proto . th dport map @pub_addr_range
		dnat ip6 to meta l4proto . th dport map @pub_any
		dnat to meta l4proto . th dport map @pub_any_range
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr != ::1 fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip6 daddr != ::1 fib daddr type local jump published
		ip6 daddr ::1 dnat ip6 to meta l4proto . th dport map @pub_lo6
		ip6 daddr ::1 dnat to meta l4proto . th dport map @pub_lo6_range
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 saddr @masq_subnets oifname != @bridges masquerade
		ct status dnat ip6 saddr @subnets oifname @bridges masquerade
		ip6 saddr ::1 oifname @bridges masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname . oifname @same_bridge accept
		iifname @internal_bridges drop
		oifname @internal_bridges drop
		oifname @bridges ct state established,related accept
		oifname @bridges ct status dnat accept
		iifname @bridges oifname @bridges drop
		iifname @bridges accept
		oifname @bridges drop
	}
	chain localnet {
		type filter hook input priority filter; policy accept;
		ip6 daddr ::1 iifname @bridges ct direction original drop
	}
}
)";

// The bridge-family table: Docker disables IPv6 inside containers of IPv4-only networks, so a
// container there can neither send nor receive IPv6 (a rogue router advertisement from a
// neighbour configures nothing). ocinet leaves IPv6 on in the container (writing disable_ipv6
// costs O(number of namespaces) in the kernel: README, Performance) and drops, on the bridge,
// every IPv6 frame that comes in through the port of a container of an IPv4-only network:
// nothing of it reaches a neighbour or the host. One element per such container (its host-side
// veth name), added and removed with its published ports. By port rather than by bridge
// (`meta ibrname`): that needs nft_meta_bridge, which not every kernel has (this VM's has not).
constexpr const char* kSkeletonBridge = R"(create table bridge ocinet
table bridge ocinet {
	set v4only_ports { type ifname; }
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname @v4only_ports ether type ip6 drop
		iifname @v4only_ports vlan type ip6 drop
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname @v4only_ports ether type ip6 drop
		iifname @v4only_ports vlan type ip6 drop
	}
}
)";

// One of ocinet's tables: as commands spell it, as JSON listings name its family, as
// netlink numbers it, and how to create it.
struct Family {
  const char* table;     // "ip ocinet"
  const char* json;      // "ip"
  uint8_t nfproto;       // NFPROTO_IPV4
  const char* skeleton;
  int af;                // AF_INET
  const char* upgrade;   // brings a table made by an earlier ocinet up to the skeleton, or nullptr
};
constexpr Family kIpv4{"ip ocinet", "ip", NFPROTO_IPV4, kSkeleton, AF_INET, kUpgrade4};
constexpr Family kIpv6{"ip6 ocinet", "ip6", NFPROTO_IPV6, kSkeleton6, AF_INET6, kUpgrade6};
constexpr Family kBridge{"bridge ocinet", "bridge", NFPROTO_BRIDGE, kSkeletonBridge, AF_BRIDGE, nullptr};
constexpr const Family* kFamilies[] = {&kIpv4, &kIpv6, &kBridge};

// nft refuses longer comments (NFTNL_UDATA_COMMENT_MAXLEN).
constexpr size_t kMaxComment = 128;

// ---------------------------------------------------------------------------------------------
// libnftables, opened on first use rather than linked (netcore/dynlib.h says why).

struct NftApi {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) output_buffer;
  decltype(&nft_ctx_get_error_buffer) error_buffer;
  decltype(&nft_ctx_output_set_flags) set_output_flags;
  decltype(&nft_run_cmd_from_buffer) run;
};

NftApi load_nft_api() {
  DynLib lib("libnftables.so.1", "firewall: loading libnftables");
  NftApi api{};
  lib.sym(api.ctx_new, "nft_ctx_new");
  lib.sym(api.ctx_free, "nft_ctx_free");
  lib.sym(api.buffer_output, "nft_ctx_buffer_output");
  lib.sym(api.buffer_error, "nft_ctx_buffer_error");
  lib.sym(api.output_buffer, "nft_ctx_get_output_buffer");
  lib.sym(api.error_buffer, "nft_ctx_get_error_buffer");
  lib.sym(api.set_output_flags, "nft_ctx_output_set_flags");
  lib.sym(api.run, "nft_run_cmd_from_buffer");
  return api;
}

const NftApi& nft_api() {
  static const NftApi api = load_nft_api();  // a throw leaves it unset: the next call retries
  return api;
}

// What one nft_run_cmd_from_buffer call (one transaction) said.
struct NftResult {
  bool ok = false;
  std::string output;
  std::string error;

  // libnftables reports kernel and lookup failures with strerror() text, which is the only
  // structured part of its messages: "Could not process rule: File exists".
  bool failed_with(int err) const { return !ok && error.find(std::strerror(err)) != std::string::npos; }

  // The first line, without nft's "<input>:1:2-3: Error: " prefix; the lines after it repeat
  // the command and underline it.
  std::string why() const {
    std::string line = error.substr(0, error.find('\n'));
    auto at = line.find("Error: ");
    if (at != std::string::npos) line.erase(0, at + 7);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    return line.empty() ? "libnftables failed without a message" : line;
  }
};

class NftContext {
 public:
  NftContext() : api_(nft_api()) {
    ctx_.reset(api_.ctx_new(NFT_CTX_DEFAULT));
    if (!ctx_) fail_system("firewall: creating the libnftables context", errno);
    // Captured, never printed: the library must not write to the hook's stdout (precreate) or
    // stderr (one error line, printed by main). Only its "(you must be root)" hint for EPERM
    // bypasses the buffer, and the hook runs as root.
    if (api_.buffer_output(ctx_.get()) != 0 || api_.buffer_error(ctx_.get()) != 0)
      fail_system("firewall: buffering libnftables output", 0);
  }

  // Numbers for protocols and ports: listings are parsed back, and no name service is asked.
  NftResult run(const std::string& commands, bool json = false) {
    api_.set_output_flags(ctx_.get(), NFT_CTX_OUTPUT_NUMERIC_ALL | (json ? NFT_CTX_OUTPUT_JSON : 0));
    NftResult r;
    r.ok = api_.run(ctx_.get(), commands.c_str()) == 0;
    // Reading a buffer also empties it for the next run.
    const char* out = api_.output_buffer(ctx_.get());
    const char* err = api_.error_buffer(ctx_.get());
    r.output = out ? out : "";
    r.error = err ? err : "";
    return r;
  }

 private:
  struct Free {
    decltype(&nft_ctx_free) free;
    void operator()(nft_ctx* c) const { free(c); }
  };
  const NftApi& api_;
  std::unique_ptr<nft_ctx, Free> ctx_{nullptr, Free{api_.ctx_free}};
};

[[noreturn]] void nft_fail(const std::string& what, const NftResult& r) {
  fail_system("firewall: " + what + ": " + r.why(), 0);
}

// ---------------------------------------------------------------------------------------------
// Input validation. Everything is checked before libnftables is even loaded, so a bad request
// never touches the kernel.


std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string ip_text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

in_addr parse_ip(const std::string& s, const std::string& what) { return fw_parse_ip(s, what); }

// An interval set stores the network, not the address.
std::string parse_cidr(const std::string& s, const std::string& what) { return fw_parse_cidr(s, what).str(); }
std::string parse_cidr6(const std::string& s, const std::string& what) { return fw_parse_cidr6(s, what).str(); }

std::string comment_for(const char* prefix, const std::string& id, const char* what) {
  return fw_comment(prefix, id, what, kMaxComment);
}

std::string endpoint_comment(const std::string& tag) { return comment_for("ocinet:", tag, "endpoint tag"); }
std::string network_comment(const std::string& name) { return comment_for("ocinet-net:", name, "network name"); }

// Quoted into commands: stricter than the kernel, which allows almost any byte; '*' would
// also turn a match into a wildcard.
bool valid_iface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  for (char ch : name)
    if (!fw_name_char(ch)) return false;
  return true;
}

std::string check_iface(const std::string& name) {
  if (!valid_iface(name)) fail_invalid("firewall: bridge name \"" + name + "\" is not a valid interface name");
  return name;
}

int parse_proto(const std::string& p) {
  if (p == "tcp") return IPPROTO_TCP;
  if (p == "udp") return IPPROTO_UDP;
  if (p == "sctp") return IPPROTO_SCTP;
  fail_invalid("firewall: unsupported protocol \"" + p + "\" (tcp, udp or sctp)");
}

// ---------------------------------------------------------------------------------------------
// Elements, in nft syntax.

struct Element {
  const char* set;      // name in the ocinet table
  std::string key;      // e.g. 6 . 8080, or 6 . 8000-8999 in a *_range map
  std::string data;     // maps only, e.g. 172.17.0.2 . 80
  std::string comment;  // unquoted; empty for none
  std::string label;    // published ports only, for messages: "tcp/8080", "udp 127.0.0.1:5353"
  // The kernel's encoding of key and data (netlink fast path), where one is needed.
  std::string key_bytes;
  std::string data_bytes;
  const Family* family = &kIpv4;
  std::string key_end_bytes{};  // an interval's last key (a *_range map's element), else ""

  // "key [comment "…"] [: data]", as an element list of nft commands writes it.
  std::string item() const {
    std::string c = key;
    if (!comment.empty()) c += " comment \"" + comment + "\"";
    if (!data.empty()) c += " : " + data;
    return c;
  }
  std::string add() const { return "add element " + std::string(family->table) + " " + set + " { " + item() + " }\n"; }
  std::string del() const { return "delete element " + std::string(family->table) + " " + set + " { " + key + " }\n"; }
  // nft 1.0.6 has no `destroy`: adding the element first makes the delete succeed whether or
  // not it was there, within one transaction. For a map, a key that now holds other data (not
  // this element, then) makes the add fail instead of deleting someone else's entry; so does,
  // in a *_range map, an interval that overlaps someone else's (nft deletes the element that
  // holds an interval given, whatever its bounds).
  std::string add_then_del() const {
    Element bare = *this;
    bare.comment.clear();
    return bare.add() + del();
  }
};

bool same_place(const Element& a, const Element& b) { return a.family == b.family && std::strcmp(a.set, b.set) == 0; }

// The elements grouped by table and set, in the order each set first appears: one element list
// per set (nft parses one command of a thousand elements far faster than a thousand commands).
std::vector<std::vector<const Element*>> by_set(const std::vector<Element>& elems) {
  std::vector<std::vector<const Element*>> groups;
  for (const Element& e : elems) {
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return same_place(*g[0], e); });
    if (g == groups.end())
      groups.push_back({&e});
    else
      g->push_back(&e);
  }
  return groups;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// nft's encoding of a concatenation: each field in network byte order, padded to 4 bytes (one
// register); an interface name fills IFNAMSIZ bytes.
struct Encoder {
  std::string bytes;
  Encoder& field(const void* p, size_t len) {
    bytes.append(static_cast<const char*>(p), len);
    bytes.append((4 - len % 4) % 4, '\0');
    return *this;
  }
  Encoder& addr(in_addr a) { return field(&a, sizeof a); }
  Encoder& addr(const in6_addr& a) { return field(&a, sizeof a); }
  Encoder& proto(int p) {
    const uint8_t b = static_cast<uint8_t>(p);
    return field(&b, 1);
  }
  Encoder& port(uint16_t p) {
    const uint16_t be = htons(p);
    return field(&be, 2);
  }
  Encoder& iface(const std::string& name) {
    char buf[IFNAMSIZ] = {};
    std::memcpy(buf, name.data(), std::min(name.size(), sizeof buf - 1));
    return field(buf, sizeof buf);
  }
};

std::string addr_port(const std::string& addr, int port) { return addr + " . " + std::to_string(port); }

// Every bridge comes first in its family's elements, with its encoding: the fast path looks it
// up to learn whether the network is set up in that table (all of a network's elements go in
// one transaction). That is its element of closed_bridges, the newest set, so that a table
// made before the set existed is found out and upgraded (kUpgrade4, kUpgrade6).
std::vector<Element> network_elements(const NetworkRules& net) {
  const std::string c = network_comment(net.name);
  const std::string br = quoted(check_iface(net.bridge));
  std::vector<Element> out;
  auto add_family = [&](const Family& f, const std::string& subnet) {
    auto in = [&](const char* set, const std::string& key) { return Element{set, key, "", c, "", "", "", &f}; };
    out.push_back(in("closed_bridges", br));
    out.back().key_bytes = Encoder().iface(net.bridge).bytes;
    if (&f == &kIpv4) out.push_back(in("localnet_bridges", br));
    out.push_back(in("bridges", br));
    out.push_back(in("same_bridge", br + " . " + br));
    out.push_back(in("subnets", subnet));
    out.push_back(net.internal ? in("internal_bridges", br) : in("masq_subnets", subnet));
  };
  add_family(kIpv4, parse_cidr(net.subnet, "subnet"));
  if (!net.subnet6.empty()) add_family(kIpv6, parse_cidr6(net.subnet6, "IPv6 subnet"));
  return out;
}

// Where a publication goes: its map for single ports, the map for port-keeping ranges.
struct PubMaps {
  const char* one;
  const char* range;
  bool by_addr;  // keyed by the host address too
};
constexpr PubMaps kPubAddr{"pub_addr", "pub_addr_range", true};
constexpr PubMaps kPubAny{"pub_any", "pub_any_range", false};
constexpr PubMaps kPubLo6{"pub_lo6", "pub_lo6_range", false};

bool is_range_map(const char* set) {
  const std::string s = set;
  return s.size() > 6 && s.compare(s.size() - 6, 6, "_range") == 0;
}

std::vector<Element> endpoint_elements(const EndpointRules& ep) {
  const std::string c = endpoint_comment(ep.tag);
  const in_addr to4 = parse_ip(ep.container_ip, "container address");
  const bool has6 = !ep.container_ip6.empty();
  const in6_addr to6 = has6 ? fw_parse_ip6(ep.container_ip6, "container IPv6 address") : in6_addr{};
  std::vector<Element> out;
  for (const auto& pm : ep.ports) {
    const int proto = parse_proto(pm.proto);
    fw_check_mapping(pm);
    const PortHosts hosts = fw_port_hosts(pm, has6);
    const std::string label = pm.proto + " ";
    auto publish = [&](const Family& f, const auto& to, const auto& host, const PubMaps& maps, const std::string& host_text) {
      const std::string prefix = (maps.by_addr ? ip_text(host) + " . " : "") + std::to_string(proto) + " . ";
      auto key_bytes = [&](uint16_t port) {
        Encoder e;
        if (maps.by_addr) e.addr(host);
        return e.proto(proto).port(port).bytes;
      };
      if (pm.is_range() && pm.keeps_port()) {  // one interval, DNAT'd to the address alone
        const std::string ports = fw_host_ports(pm);
        out.push_back({maps.range, prefix + ports, ip_text(to), c, label + host_text + ports, key_bytes(pm.host_port),
                       Encoder().addr(to).bytes, &f, key_bytes(pm.host_last())});
        return;
      }
      // One port, or a range shifted to other container ports: one element per port (nft has
      // no port offset: see the top of this file).
      const std::string to_text = ip_text(to);
      for (int i = 0; i < pm.count(); i++) {
        const uint16_t host_port = uint16_t(pm.host_port + i), ct_port = uint16_t(pm.container_port + i);
        out.push_back({maps.one, prefix + std::to_string(host_port), addr_port(to_text, ct_port), c,
                       label + host_text + std::to_string(host_port), key_bytes(host_port),
                       Encoder().addr(to).port(ct_port).bytes, &f});
      }
    };
    if (hosts.v4)
      publish(kIpv4, to4, hosts.addr4.value_or(in_addr{}), hosts.addr4 ? kPubAddr : kPubAny,
              hosts.addr4 ? ip_text(*hosts.addr4) + ":" : std::string("0.0.0.0:"));
    if (hosts.v6)
      publish(kIpv6, to6, hosts.addr6.value_or(in6_addr{}),
              !hosts.addr6 ? kPubAny : IN6_IS_ADDR_LOOPBACK(&*hosts.addr6) ? kPubLo6 : kPubAddr,
              hosts.addr6 ? "[" + ip_text(*hosts.addr6) + "]:" : std::string("[::]:"));
  }
  if (!has6 && !ep.host_port.empty())  // an IPv4-only network: no IPv6 through its bridge port
    out.push_back({"v4only_ports", quoted(check_iface(ep.host_port)), "", c, "", Encoder().iface(ep.host_port).bytes, "",
                   &kBridge});
  return out;
}

// `add element` commands for the elements, one per set.
std::string add_commands(const std::vector<Element>& elems) {
  std::string out;
  for (const auto& group : by_set(elems)) {
    out += "add element " + std::string(group[0]->family->table) + " " + group[0]->set + " { ";
    for (size_t i = 0; i < group.size(); i++) out += (i ? ", " : "") + group[i]->item();
    out += " }\n";
  }
  return out;
}

// As Element::add_then_del, one add and one delete per set.
std::string add_then_del_commands(const std::vector<Element>& elems) {
  std::string out;
  for (const auto& group : by_set(elems)) {
    const std::string where = std::string(group[0]->family->table) + " " + group[0]->set + " { ";
    std::string add = "add element " + where, del = "delete element " + where;
    for (size_t i = 0; i < group.size(); i++) {
      Element bare = *group[i];
      bare.comment.clear();
      add += (i ? ", " : "") + bare.item();
      del += (i ? ", " : "") + bare.key;
    }
    out += add + " }\n" + del + " }\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The fast path: nf_tables netlink without libnftables. It knows only element messages, and
// only elements whose encoding was built above from validated values.

// libnftnl's tag for an element comment in NFTA_SET_ELEM_USERDATA (NFTNL_UDATA_SET_ELEM_COMMENT),
// so that nft lists the comment exactly as if it had written the element itself.
constexpr uint8_t kUdataElemComment = 0;

// One netlink message under construction: header, nfgenmsg, attributes.
class NlMessage {
 public:
  NlMessage(uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id = 0) {
    nlmsghdr nh{};
    nh.nlmsg_type = type;
    nh.nlmsg_flags = flags;
    nfgenmsg g{};
    g.nfgen_family = family;
    g.version = NFNETLINK_V0;
    g.res_id = htons(res_id);
    append(&nh, sizeof nh);
    append(&g, sizeof g);
  }

  NlMessage& attr(uint16_t type, const void* data, size_t len) {
    nlattr a{};
    a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    a.nla_type = type;
    append(&a, sizeof a);
    append(data, len);
    return *this;
  }
  NlMessage& attr(uint16_t type, const std::string& value) { return attr(type, value.data(), value.size()); }
  NlMessage& attr_str(uint16_t type, const char* s) { return attr(type, s, std::strlen(s) + 1); }
  NlMessage& attr_be32(uint16_t type, uint32_t value) {
    const uint32_t be = htonl(value);
    return attr(type, &be, sizeof be);
  }

  size_t begin(uint16_t type) {
    size_t at = buf_.size();
    nlattr a{};
    a.nla_type = type | NLA_F_NESTED;
    append(&a, sizeof a);
    return at;
  }
  void end(size_t at) {
    const uint16_t len = static_cast<uint16_t>(buf_.size() - at);
    std::memcpy(&buf_[at], &len, sizeof len);  // nla_len is the first member
  }

  uint16_t type() const { return reinterpret_cast<const nlmsghdr*>(buf_.data())->nlmsg_type; }
  size_t size() const { return buf_.size(); }

  // Finished message with its sequence number.
  std::string take(uint32_t seq) {
    auto* nh = reinterpret_cast<nlmsghdr*>(&buf_[0]);
    nh->nlmsg_len = static_cast<uint32_t>(buf_.size());
    nh->nlmsg_seq = seq;
    return buf_;
  }

 private:
  void append(const void* p, size_t len) {
    buf_.append(static_cast<const char*>(p), len);
    buf_.append(NLA_ALIGN(len) - len, '\0');
  }
  std::string buf_;
};

// One element of an element list: key (and the interval's end), data, comment.
void put_element(NlMessage& m, const Element& e, bool with_data) {
  size_t elem = m.begin(NFTA_LIST_ELEM);
  size_t key = m.begin(NFTA_SET_ELEM_KEY);
  m.attr(NFTA_DATA_VALUE, e.key_bytes);
  m.end(key);
  if (!e.key_end_bytes.empty()) {  // a concatenation of intervals: first values, then last ones
    size_t key_end = m.begin(NFTA_SET_ELEM_KEY_END);
    m.attr(NFTA_DATA_VALUE, e.key_end_bytes);
    m.end(key_end);
  }
  if (with_data) {
    if (!e.data_bytes.empty()) {  // a map's element; a set's has none
      size_t data = m.begin(NFTA_SET_ELEM_DATA);
      m.attr(NFTA_DATA_VALUE, e.data_bytes);
      m.end(data);
    }
    if (!e.comment.empty()) {
      std::string udata{static_cast<char>(kUdataElemComment), static_cast<char>(e.comment.size() + 1)};
      udata += e.comment;
      udata += '\0';
      m.attr(NFTA_SET_ELEM_USERDATA, udata);
    }
  }
  m.end(elem);
}

// Element messages for elements of one set (same family and set), as many per message as
// its element list holds: an attribute's length is 16 bits.
constexpr size_t kMaxElementList = 60000;

std::vector<NlMessage> element_messages(uint16_t msg, uint16_t flags, const std::vector<const Element*>& group,
                                        bool with_data) {
  std::vector<NlMessage> out;
  for (size_t i = 0; i < group.size();) {
    const Element& first = *group[i];
    NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | msg, flags, first.family->nfproto);
    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, kTableName).attr_str(NFTA_SET_ELEM_LIST_SET, first.set);
    const size_t start = m.size();
    size_t list = m.begin(NFTA_SET_ELEM_LIST_ELEMENTS);
    do put_element(m, *group[i++], with_data);
    while (i < group.size() && m.size() - start < kMaxElementList);
    m.end(list);
    out.push_back(std::move(m));
  }
  return out;
}

NlMessage element_message(uint16_t msg, uint16_t flags, const Element& e, bool with_data) {
  return std::move(element_messages(msg, flags, {&e}, with_data)[0]);
}

std::vector<NlMessage> add_messages(const std::vector<Element>& elems) {
  std::vector<NlMessage> out;
  for (const auto& group : by_set(elems))
    for (auto& m : element_messages(NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, group, true))
      out.push_back(std::move(m));
  return out;
}

// As Element::add_then_del: gone whether or not it was there, and never another endpoint's.
std::vector<NlMessage> add_then_del_messages(const std::vector<Element>& elems) {
  std::vector<NlMessage> out;
  std::vector<Element> bare(elems);
  for (Element& e : bare) e.comment.clear();
  for (const auto& group : by_set(bare)) {
    for (auto& m : element_messages(NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, group, true))
      out.push_back(std::move(m));
    for (auto& m : element_messages(NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK, group, false)) out.push_back(std::move(m));
  }
  return out;
}

// Closes a netfilter socket without making anyone wait for the kernel's reclaim of removed
// elements.
//
// The release of a netfilter socket flushes nf_tables' deferred destruction of committed
// removals, under the netns's commit mutex; that destruction waits for an RCU grace period.
// So a close right after a removal took 10-30 ms here, half of a teardown (strace: close()
// 14.9 ms, every other step under 0.1 ms), and any other hook's commit waited for that mutex
// meanwhile. The removal itself is complete and visible once the commit is acknowledged; only
// memory reclaim is left. So a child process inherits the socket, holds nothing else (the
// runtime waits until the hook's stdout and stderr close), lets the parent drop its copy (a
// pipe orders the two), waits for a grace period of its own without holding any lock
// (membarrier's global command is one synchronize_rcu), and only then does the last close,
// which by then finds nothing to wait for. The hook returns at once; the child exits within
// about a grace period. If pipe or fork fails, the close simply waits.
//
// The hook exits right after, and its children go to the runtime's reaper. A long-lived process
// (`ocinet gc` over many endpoints, the agent) reaps the closers it started earlier each time it
// starts one, by pid, so that at most the last few linger as zombies and no other child's exit
// status is ever taken.
void close_after_reclaim(int fd) {
  static std::mutex mu;
  static std::vector<pid_t> closers;
  std::lock_guard<std::mutex> lock(mu);
  closers.erase(std::remove_if(closers.begin(), closers.end(),
                               [](pid_t p) {
                                 int r = waitpid(p, nullptr, WNOHANG);
                                 return r == p || (r < 0 && errno == ECHILD);
                               }),
                closers.end());
  int order[2];
  if (pipe2(order, O_CLOEXEC) != 0) {
    close(fd);
    return;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    // Keep fd and order[0] only: close every range around them.
    const unsigned lo = unsigned(std::min(fd, order[0])), hi = unsigned(std::max(fd, order[0]));
    if (lo > 0) close_range(0, lo - 1, 0);
    if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
    close_range(hi + 1, ~0u, 0);
    char c;
    while (read(order[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {  // nohz_full kernels refuse it
      timespec t{0, 50 * 1000 * 1000};
      nanosleep(&t, nullptr);
    }
    close(fd);
    _exit(0);
  }
  if (pid > 0) closers.push_back(pid);
  close(order[0]);
  close(fd);  // with the child holding the socket, this only drops a reference
  close(order[1]);  // and now the child may go on
}

// A netfilter netlink socket. The kernel handles a request while it is being sent, so every
// answer is queued by the time sendmsg returns: reading never waits.
class NfNetlink {
 public:
  NfNetlink() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) {}
  ~NfNetlink() {
    if (fd_ < 0) return;
    if (removed_)
      close_after_reclaim(fd_);
    else
      close(fd_);
  }
  NfNetlink(const NfNetlink&) = delete;
  NfNetlink& operator=(const NfNetlink&) = delete;

  // One request outside a batch; 0 when the kernel answered with `reply_type` (handed to
  // on_reply, if given), else an errno.
  int request(NlMessage m, uint16_t reply_type, const std::function<void(const nlmsghdr*)>& on_reply = {}) {
    const uint32_t seq = next_seq_++;
    if (int err = send(m.take(seq))) return err;
    int err = EPROTO;
    read_answers([&](const nlmsghdr* nh) {
      if (nh->nlmsg_seq != seq) return;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
      } else if (nh->nlmsg_type == reply_type) {
        err = 0;
        if (on_reply) on_reply(nh);
      }
    });
    return err;
  }

  // A dump (m has NLM_F_DUMP): each `reply_type` message goes to on_reply; 0 at its end, else an
  // errno (EINTR: the ruleset changed during the dump, which is then incomplete). The kernel
  // fills the later parts of a dump as the earlier ones are read, so this reads until the end.
  int dump(NlMessage m, uint16_t reply_type, const std::function<void(const nlmsghdr*)>& on_reply) {
    const uint32_t seq = next_seq_++;
    if (int err = send(m.take(seq))) return err;
    alignas(nlmsghdr) char buf[16384];
    int err = 0;
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? errno : EPROTO;
      int len = static_cast<int>(n);
      for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
        if (nh->nlmsg_seq != seq) continue;
        if (nh->nlmsg_flags & NLM_F_DUMP_INTR) err = EINTR;
        if (nh->nlmsg_type == NLMSG_DONE) return err;
        if (nh->nlmsg_type == NLMSG_ERROR) return -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
        if (nh->nlmsg_type == reply_type) on_reply(nh);
      }
    }
  }

  // Whether e (a key of one of ocinet's sets) is there.
  bool has(const Element& e) {
    return request(element_message(NFT_MSG_GETSETELEM, NLM_F_REQUEST, e, false),
                   (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM) == 0;
  }

  // Whether ocinet's table of family f exists.
  bool has_table(const Family& f) {
    NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST, f.nfproto);
    m.attr_str(NFTA_TABLE_NAME, kTableName);
    return request(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE) == 0;
  }

  // One transaction: the kernel applies every message or none. 0, or the first error.
  int transaction(std::vector<NlMessage> messages) {
    std::string batch = NlMessage(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES).take(next_seq_++);
    const uint32_t first = next_seq_;
    bool has_removal = false;
    for (auto& m : messages) {
      has_removal = has_removal || (m.type() & 0xff) == NFT_MSG_DELSETELEM || (m.type() & 0xff) == NFT_MSG_DELRULE;
      batch += m.take(next_seq_++);
    }
    const uint32_t last = next_seq_;
    batch += NlMessage(NFNL_MSG_BATCH_END, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES).take(next_seq_++);
    if (batch.size() > kDefaultBatch) make_room(batch.size());
    if (int err = send(batch)) return err;
    // Every message asked for an acknowledgement: all of them acknowledged means committed.
    int err = 0;
    size_t acks = 0;
    read_answers([&](const nlmsghdr* nh) {
      if (nh->nlmsg_type != NLMSG_ERROR || nh->nlmsg_seq < first || nh->nlmsg_seq >= last) return;
      int e = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
      if (e == 0)
        ++acks;
      else if (err == 0)
        err = e;
    });
    if (err == 0 && acks != messages.size()) err = EPROTO;
    if (err == 0) removed_ = removed_ || has_removal;
    return err;
  }

 private:
  // A batch goes in one sendmsg, which the kernel refuses beyond the socket's send buffer
  // (EMSGSIZE). Most are a few hundred bytes; a long shifted range (nftables has no port
  // offset: one element per port) is ~120 bytes per port.
  static constexpr size_t kDefaultBatch = 64 * 1024;

  // Room for one batch of `bytes`, as nft does it (SO_SNDBUFFORCE: the hook has CAP_NET_ADMIN;
  // else up to net.core.wmem_max); and acknowledgements of failed messages without the message
  // in them (NETLINK_CAP_ACK): a list of hundreds of elements would not fit a read. If either
  // fails, the send fails with EMSGSIZE and libnftables, which splits its batches, takes over.
  void make_room(size_t bytes) {
    const int size = int(std::min<size_t>(bytes + 4096, 1 << 30));
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    const int one = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }

  int send(const std::string& bytes) {
    if (fd_ < 0) return EAFNOSUPPORT;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr mh{};
    mh.msg_name = &kernel;
    mh.msg_namelen = sizeof kernel;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    return sendmsg(fd_, &mh, 0) == static_cast<ssize_t>(bytes.size()) ? 0 : errno;
  }

  template <class F>
  void read_answers(F on_message) {
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;
      int len = static_cast<int>(n);
      for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) on_message(nh);
    }
  }

  int fd_;
  uint32_t next_seq_ = 1;
  bool removed_ = false;  // a committed batch removed elements: see close_after_reclaim
};



// ---------------------------------------------------------------------------------------------
// Other managers' FORWARD chains in nf_tables (foreign_forward.h): iptables-nft's. Its rules are
// read and written over netlink, as iptables-nft itself does, because iptables-nft reads a table
// back only if every rule in it is made of expressions it knows: nft's native `ct state` would
// make it refuse the whole table ("Table `filter' is incompatible, use 'nft' tool"), and with
// it `iptables -L` and `iptables-save` for the manager that owns it. So a conntrack condition
// is the xt match iptables-nft writes for `-m conntrack --ctstate` (nft_compat), interfaces are
// compared as iptables-nft compares them, and the comment is rule userdata, which both nft and
// iptables-nft show (`-m comment --comment`, and `iptables -D` by hand finds the rule).

constexpr const char* kForeignTable = "filter";
constexpr const char* kForeignChain = "FORWARD";
// libnftnl's tag for a rule comment in NFTA_RULE_USERDATA (NFTNL_UDATA_RULE_COMMENT).
constexpr uint8_t kUdataRuleComment = 0;

// Calls f(type, data, len) for each attribute in [p, p + len).
template <class F>
void each_attr(const char* p, size_t len, F f) {
  while (len >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, p, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len) return;
    f(a.nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, size_t(a.nla_len - NLA_HDRLEN));
    const size_t step = NLA_ALIGN(a.nla_len);
    if (step >= len) return;
    p += step;
    len -= step;
  }
}

// The attributes of an nf_tables message, after its nfgenmsg.
template <class F>
void each_message_attr(const nlmsghdr* nh, F f) {
  const size_t head = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (nh->nlmsg_len < head) return;
  each_attr(reinterpret_cast<const char*>(nh) + head, nh->nlmsg_len - head, f);
}

std::string attr_string(const char* data, size_t len) { return std::string(data, strnlen(data, len)); }

// For messages: "ip filter FORWARD", "ip6 filter FORWARD".
std::string foreign_chain_name(uint8_t nfproto) {
  return std::string(nfproto == NFPROTO_IPV6 ? "ip6 " : "ip ") + kForeignTable + " " + kForeignChain;
}

// Whether `ip[6] filter FORWARD` exists as a base chain on the forward hook. Absent nf_tables
// counts as absent: then there is no such chain.
bool has_foreign_forward(NfNetlink& nl, uint8_t nfproto) {
  NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN, NLM_F_REQUEST, nfproto);
  m.attr_str(NFTA_CHAIN_TABLE, kForeignTable).attr_str(NFTA_CHAIN_NAME, kForeignChain);
  bool forward_hook = false;
  const int err = nl.request(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN, [&](const nlmsghdr* nh) {
    each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
      if (type != NFTA_CHAIN_HOOK) return;
      each_attr(data, len, [&](uint16_t htype, const char* hdata, size_t hlen) {
        uint32_t num;
        if (htype != NFTA_HOOK_HOOKNUM || hlen != sizeof num) return;
        std::memcpy(&num, hdata, sizeof num);
        forward_hook = ntohl(num) == NF_INET_FORWARD;
      });
    });
  });
  if (err == 0) return forward_hook;
  if (err == ENOENT || err == EAFNOSUPPORT || err == EOPNOTSUPP || err == EPROTONOSUPPORT) return false;
  fail_system("firewall: reading " + foreign_chain_name(nfproto), err);
}

// A rule's comment: its userdata comment (nft, ocinet) or its xt comment match (iptables-nft).
std::string nft_rule_comment(const nlmsghdr* nh) {
  std::string comment;
  each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
    if (type == NFTA_RULE_USERDATA) {
      for (size_t at = 0; at + 2 <= len;) {  // type, length, value
        const uint8_t t = uint8_t(data[at]), l = uint8_t(data[at + 1]);
        if (at + 2 + l > len) break;
        if (t == kUdataRuleComment) comment = attr_string(data + at + 2, l);
        at += 2 + l;
      }
    } else if (type == NFTA_RULE_EXPRESSIONS) {
      each_attr(data, len, [&](uint16_t, const char* expr, size_t elen) {
        std::string name, match;
        const char* info = nullptr;
        size_t info_len = 0;
        each_attr(expr, elen, [&](uint16_t etype, const char* edata, size_t edlen) {
          if (etype == NFTA_EXPR_NAME) name = attr_string(edata, edlen);
          if (etype != NFTA_EXPR_DATA) return;
          each_attr(edata, edlen, [&](uint16_t mtype, const char* mdata, size_t mlen) {
            if (mtype == NFTA_MATCH_NAME) match = attr_string(mdata, mlen);
            if (mtype == NFTA_MATCH_INFO) info = mdata, info_len = mlen;
          });
        });
        if (name == "match" && match == "comment" && info) comment = attr_string(info, info_len);
      });
    }
  });
  return comment;
}

// The handles (as the kernel encodes them) of the rules of `ip[6] filter FORWARD` with this comment.
std::vector<std::string> foreign_rules_with_comment(NfNetlink& nl, uint8_t nfproto, const std::string& comment) {
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> handles;
    NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, nfproto);
    m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain);
    const int err = nl.dump(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, [&](const nlmsghdr* nh) {
      std::string table, chain, handle;
      each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
        if (type == NFTA_RULE_TABLE) table = attr_string(data, len);
        if (type == NFTA_RULE_CHAIN) chain = attr_string(data, len);
        if (type == NFTA_RULE_HANDLE) handle.assign(data, len);
      });
      if (table == kForeignTable && chain == kForeignChain && !handle.empty() && nft_rule_comment(nh) == comment)
        handles.push_back(handle);
    });
    if (err == 0) return handles;
    if (err == ENOENT) return {};  // the table or chain went meanwhile
    if (err != EINTR || attempt == 2) fail_system("firewall: listing the rules of " + foreign_chain_name(nfproto), err);
  }
}

// The expressions of one accept, as iptables-nft writes `-i BR -o BR -m conntrack --ctstate S -j ACCEPT`.
void add_accept_expressions(NlMessage& m, const ForwardAccept& a, const std::string& bridge) {
  auto expr = [&](const char* name, auto data) {
    const size_t elem = m.begin(NFTA_LIST_ELEM);
    m.attr_str(NFTA_EXPR_NAME, name);
    const size_t d = m.begin(NFTA_EXPR_DATA);
    data();
    m.end(d);
    m.end(elem);
  };
  auto iface = [&](uint32_t key) {
    expr("meta", [&] { m.attr_be32(NFTA_META_KEY, key).attr_be32(NFTA_META_DREG, NFT_REG_1); });
    expr("cmp", [&] {
      m.attr_be32(NFTA_CMP_SREG, NFT_REG_1).attr_be32(NFTA_CMP_OP, NFT_CMP_EQ);
      const size_t data = m.begin(NFTA_CMP_DATA);
      m.attr(NFTA_DATA_VALUE, bridge.c_str(), bridge.size() + 1);  // with its NUL: "br0" is not "br01"
      m.end(data);
    });
  };
  const size_t list = m.begin(NFTA_RULE_EXPRESSIONS);
  if (a.in) iface(NFT_META_IIFNAME);
  if (a.out) iface(NFT_META_OIFNAME);
  if (a.ctstate) {
    xt_conntrack_mtinfo3 info{};
    info.match_flags = XT_CONNTRACK_STATE;
    info.state_mask = a.ctstate;
    std::string bytes(XT_ALIGN(sizeof info), '\0');
    std::memcpy(&bytes[0], &info, sizeof info);
    expr("match", [&] { m.attr_str(NFTA_MATCH_NAME, "conntrack").attr_be32(NFTA_MATCH_REV, 3).attr(NFTA_MATCH_INFO, bytes); });
  }
  expr("counter", [] {});
  expr("immediate", [&] {
    m.attr_be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
    const size_t data = m.begin(NFTA_IMMEDIATE_DATA);
    const size_t verdict = m.begin(NFTA_DATA_VERDICT);
    m.attr_be32(NFTA_VERDICT_CODE, NF_ACCEPT);
    m.end(verdict);
    m.end(data);
  });
  m.end(list);
}

// The families a network has: IPv4, and IPv6 when dual-stack.
std::vector<uint8_t> network_nfprotos(const NetworkRules& net) {
  if (net.subnet6.empty()) return {NFPROTO_IPV4};
  return {NFPROTO_IPV4, NFPROTO_IPV6};
}

void add_foreign_accepts(NfNetlink& nl, const NetworkRules& net) {
  const std::string comment = network_comment(net.name);
  const std::string bridge = check_iface(net.bridge);
  for (uint8_t nfproto : network_nfprotos(net)) {
    if (!has_foreign_forward(nl, nfproto) || !foreign_rules_with_comment(nl, nfproto, comment).empty()) continue;
    // Each one inserted at the top (no position, no append): the last one sent comes first.
    const std::vector<ForwardAccept> accepts = forward_accepts(net.internal);
    std::vector<NlMessage> inserts;
    for (auto a = accepts.rbegin(); a != accepts.rend(); ++a) {
      NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, nfproto);
      m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain);
      add_accept_expressions(m, *a, bridge);
      std::string udata{static_cast<char>(kUdataRuleComment), static_cast<char>(comment.size() + 1)};
      udata += comment;
      udata += '\0';
      m.attr(NFTA_RULE_USERDATA, udata);
      inserts.push_back(std::move(m));
    }
    if (int err = nl.transaction(std::move(inserts)))
      fail_system("firewall: adding network " + net.name + "'s accepts to " + foreign_chain_name(nfproto), err);
  }
}

// Both families: a network's IPv6 accepts go with it whether or not it is still dual-stack.
void remove_foreign_accepts(NfNetlink& nl, const std::string& network) {
  const std::string comment = network_comment(network);
  for (uint8_t nfproto : {uint8_t(NFPROTO_IPV4), uint8_t(NFPROTO_IPV6)}) {
    if (!has_foreign_forward(nl, nfproto)) continue;
    // A rule deleted by someone else between listing and deleting fails the batch: list again.
    for (int attempt = 0;; ++attempt) {
      std::vector<NlMessage> deletes;
      for (const std::string& handle : foreign_rules_with_comment(nl, nfproto, comment)) {
        NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE, NLM_F_REQUEST | NLM_F_ACK, nfproto);
        m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain).attr(NFTA_RULE_HANDLE, handle);
        deletes.push_back(std::move(m));
      }
      if (deletes.empty()) break;
      const int err = nl.transaction(std::move(deletes));
      if (err == 0) break;
      if (err != ENOENT || attempt == 2)
        fail_system("firewall: removing network " + network + "'s accepts from " + foreign_chain_name(nfproto), err);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading elements back from a JSON listing: only for the removals that get a tag or a network
// name and nothing else. Keys and data are rebuilt from validated values, never copied.

using nlohmann::json;

int json_int(const json& v, int max) {
  int n = v.get<int>();
  if (n < 0 || n > max) throw std::out_of_range("number out of range");
  return n;
}

std::string json_ip(const json& v, const Family& f) {
  const std::string s = v.get<std::string>();
  if (f.af == AF_INET6) {
    in6_addr a{};
    if (inet_pton(AF_INET6, s.c_str(), &a) != 1) throw std::invalid_argument("not an IPv6 address");
    return ip_text(a);
  }
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw std::invalid_argument("not an IPv4 address");
  return ip_text(a);
}

std::string json_iface(const json& v) {
  const std::string s = v.get<std::string>();
  if (!valid_iface(s)) throw std::invalid_argument("not an ocinet interface name");
  return quoted(s);
}

// A host prefix (/32, /128) is listed as a bare address, anything wider as {"prefix": {"addr", "len"}}.
std::string json_cidr(const json& v, const Family& f) {
  const int bits = f.af == AF_INET6 ? 128 : 32;
  if (v.is_string()) return json_ip(v, f) + "/" + std::to_string(bits);
  const json& p = v.at("prefix");
  return json_ip(p.at("addr"), f) + "/" + std::to_string(json_int(p.at("len"), bits));
}

std::string json_key(const char* set, const json& v, const Family& f) {
  const std::string s = set;
  if (s == "bridges" || s == "internal_bridges" || s == "localnet_bridges" || s == "closed_bridges" || s == "v4only_ports")
    return json_iface(v);
  if (s == "same_bridge") {
    const json& c = v.at("concat");
    return json_iface(c.at(0)) + " . " + json_iface(c.at(1));
  }
  if (s == "subnets" || s == "masq_subnets") return json_cidr(v, f);
  const json& c = v.at("concat");
  // A *_range map lists an interval as {"range": [first, last]} (one of a single port, bare).
  auto port = [&](const json& p) {
    if (!p.is_object()) return std::to_string(json_int(p, 65535));
    const json& r = p.at("range");
    const int first = json_int(r.at(0), 65535), last = json_int(r.at(1), 65535);
    return std::to_string(first) + (last != first ? "-" + std::to_string(last) : "");
  };
  if (s == "pub_any" || s == "pub_lo6" || s == "pub_any_range" || s == "pub_lo6_range")
    return std::to_string(json_int(c.at(0), 255)) + " . " + port(c.at(1));
  return json_ip(c.at(0), f) + " . " + std::to_string(json_int(c.at(1), 255)) + " . " + port(c.at(2));
}

std::string json_data(const char* set, const json& v, const Family& f) {
  if (is_range_map(set)) return json_ip(v, f);  // the container address alone: the port is kept
  const json& c = v.at("concat");
  return addr_port(json_ip(c.at(0), f), json_int(c.at(1), 65535));
}

constexpr const char* kSets[] = {"pub_addr", "pub_any",      "pub_lo6",     "pub_addr_range", "pub_any_range",
                                 "pub_lo6_range", "bridges",     "internal_bridges", "localnet_bridges",
                                 "closed_bridges", "same_bridge", "subnets", "masq_subnets", "v4only_ports"};

const char* known_set(const std::string& name) {
  for (const char* s : kSets)
    if (name == s) return s;
  return nullptr;
}

// Every element of ocinet's sets and maps in the output of a JSON `list`. An element that does
// not read back as ocinet writes them (one added by hand?) is kept with an empty key.
std::vector<Element> parse_listing(const std::string& listing) {
  std::vector<Element> out;
  if (listing.empty()) return out;
  try {
    const json doc = json::parse(listing);
    for (const json& obj : doc.at("nftables")) {
      const bool is_map = obj.contains("map");
      const json* set = is_map ? &obj["map"] : obj.contains("set") ? &obj["set"] : nullptr;
      if (!set || set->value("table", "") != kTableName || !set->contains("elem")) continue;
      const std::string family = set->value("family", "");
      const Family* fam = nullptr;
      for (const Family* f : kFamilies)
        if (family == f->json) fam = f;
      if (!fam) continue;
      const char* name = known_set(set->value("name", ""));
      if (!name) continue;
      for (const json& item : set->at("elem")) {
        // A map element is [key, data]; a key with a comment is {"elem": {"val": key, "comment": …}}.
        const json& key = is_map ? item.at(0) : item;
        const bool wrapped = key.is_object() && key.contains("elem");
        Element e{name, "", "", wrapped ? key["elem"].value("comment", "") : "", "", "", "", fam};
        try {
          e.key = json_key(name, wrapped ? key["elem"].at("val") : key, *fam);
          if (is_map) e.data = json_data(name, item.at(1), *fam);
        } catch (const std::exception&) {
          e.key.clear();
        }
        out.push_back(std::move(e));
      }
    }
  } catch (const std::exception& e) {
    fail_system(std::string("firewall: unexpected listing from libnftables: ") + e.what(), 0);
  }
  return out;
}

std::vector<Element> parse_listings(const std::vector<std::string>& listings) {
  std::vector<Element> out;
  for (const std::string& listing : listings)
    for (Element& e : parse_listing(listing)) out.push_back(std::move(e));
  return out;
}

// The elements whose comment is exactly `comment`.
std::vector<Element> elements_with_comment(const std::vector<Element>& listed, const std::string& comment) {
  std::vector<Element> found;
  for (const Element& e : listed) {
    if (e.comment != comment) continue;
    if (e.key.empty()) fail_system(std::string("firewall: an element of ") + e.set + " with comment \"" + comment + "\" does not read back", 0);
    found.push_back(e);
  }
  return found;
}

// "6 . 8000-8999" -> "6 . ", 8000, 8999 (a key's last field is its port or port interval).
bool split_ports(const std::string& key, std::string& prefix, int& first, int& last) {
  const auto dot = key.rfind(" . ");
  if (dot == std::string::npos) return false;
  prefix = key.substr(0, dot + 3);
  const std::string ports = key.substr(dot + 3);
  const auto dash = ports.find('-');
  try {
    first = std::stoi(ports.substr(0, dash));
    last = dash == std::string::npos ? first : std::stoi(ports.substr(dash + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Whether two keys of one set collide: equal, or in a *_range map, overlapping intervals.
bool keys_collide(const char* set, const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (!is_range_map(set)) return false;
  std::string pa, pb;
  int fa, la, fb, lb;
  return split_ports(a, pa, fa, la) && split_ports(b, pb, fb, lb) && pa == pb && fa <= lb && fb <= la;
}

// The comment of the element that holds e's key (or, for an interval, part of it), "" when free.
std::string owner_in(const std::vector<Element>& listed, const Element& e) {
  for (const Element& l : listed)
    if (same_place(l, e) && keys_collide(e.set, l.key, e.key)) return l.comment.empty() ? "an entry without comment" : l.comment;
  return "";
}

// ---------------------------------------------------------------------------------------------

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
    for (const auto& [net, ep] : eps) add_endpoint(net, ep);
  }

  bool add_endpoint(const NetworkRules& net, const EndpointRules& ep) override {
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
    // No table yet in this netns (either family): the missing ones are created with the
    // elements, in the same transaction. A second round covers another hook creating one in
    // between (EEXIST on `create`).
    for (int round = 0; round < 2 && r.failed_with(ENOENT); ++round) {
      std::string create, upgrade;
      for (const Family* f : families_of(elems)) {
        if (!netlink().has_table(*f))
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
    if (r.failed_with(ENOENT)) nft_fail(what, r);
    // A published key already maps elsewhere (EEXIST; EBUSY on newer kernels). When it is this
    // endpoint's own, from an earlier setup of the same container, the new values replace it
    // in the same transaction, as the iptables backend replaces its rules.
    if (!r.failed_with(EEXIST) && !r.failed_with(EBUSY)) nft_fail(what, r);
    const std::string comment = endpoint_comment(ep.tag);
    const std::vector<Element> listed = parse_listings(list_published(families_of(published)));
    for (const Element& e : published) {
      const std::string owner = owner_in(listed, e);
      if (!owner.empty() && owner != comment) fail_invalid("firewall: " + e.label + " is already published by " + owner);
    }
    r = nft().run(add_then_del_commands(elements_with_comment(listed, comment)) + adds);
    if (!r.ok) nft_fail(what, r);
    return false;
  }

  bool remove_endpoint_rules(const EndpointRules& ep) override {
    const std::vector<Element> elems = endpoint_elements(ep);
    if (elems.empty()) return !netlink().has_table(kIpv4);
    const int err = netlink().transaction(add_then_del_messages(elems));
    if (err == 0) return false;
    // ENOENT: no table, so nothing to delete (flushed). Else a map is missing (a table of a
    // release before ranges) or the batch held both families, of which one table may still
    // hold elements: delete_elements sorts that out per table and set.
    if (err == ENOENT && families_of(elems).size() == 1 && !netlink().has_table(*elems[0].family)) return true;
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
      if (!e.key_bytes.empty() && !netlink().has(e)) return false;
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

// One NFT_MSG_GETGEN: the kernel answers it only when nf_tables is there, and it costs a few
// microseconds, with neither libnftables nor a listing.
bool answers_nftables(NfNetlink& nl) {
  return nl.request(NlMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST, AF_UNSPEC),
                    (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN) == 0;
}

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

void add_nft_forward_accepts(const NetworkRules& net) {
  NfNetlink nl;
  add_foreign_accepts(nl, net);
}

void remove_nft_forward_accepts(const std::string& network) {
  NfNetlink nl;
  remove_foreign_accepts(nl, network);
}

}  // namespace ocinet
