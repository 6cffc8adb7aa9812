#include "netcore/firewall/nft_ruleset.h"

namespace ocinet::nft {

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
const char kUpgrade4[] = R"(add set ip ocinet localnet_bridges { type ifname; }
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
const char kUpgrade6[] = R"(add map ip6 ocinet pub_lo6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
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

const char kSkeleton[] = R"(create table ip ocinet
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
const char kSkeleton6[] = R"(create table ip6 ocinet
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
const char kSkeletonBridge[] = R"(create table bridge ocinet
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

}  // namespace ocinet::nft
