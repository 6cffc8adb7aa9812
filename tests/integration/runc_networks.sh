#!/usr/bin/env bash
# User-defined networks with real runc containers: the seeds' four-container tutorial
# (alpine1, alpine2, alpine4 on alpine-net; alpine3 on the default bridge; alpine4 also
# connected to bridge), live connect/disconnect, rm refused while attached, gc after a netns
# vanished without poststop, and 20 parallel setups on one network.
set -euo pipefail
BIN=${1:?usage: runc_networks.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"
can_ping() { in_container "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1; }
snooping() { ip netns exec "$HOSTNS" cat "/sys/class/net/$1/bridge/multicast_snooping"; }
bridge_of() { ocinet network inspect "$1" | jq -r '.[0].Options["com.docker.network.bridge.name"]'; }
ip_of() { jq -r --arg n "$2" '.attachments[] | select(.network == $n) | .ip' "$OCINET_RUN_DIR/endpoints/$1.json"; }
subnet_of() { ocinet network inspect "$1" | jq -r '.[0].IPAM.Config[0].Subnet'; }

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou

# The user network comes first; the default network is defined by the hook when alpine3 starts
# (`network ls` would define it too, so it runs after that).
ocinet network create --driver bridge alpine-net >/dev/null
ocinet network inspect alpine-net | jq -e '.[0] | .Name == "alpine-net" and .Driver == "bridge" and (.IPAM.Config[0].Subnet | test("/"))' >/dev/null ||
  die "inspect JSON lacks Name/Driver/IPAM.Config[0].Subnet"

start alpine1 alpine-net
start alpine2 alpine-net
start alpine3 ""
start alpine4 alpine-net
ocinet network ls | grep -q ' alpine-net ' || die "network ls does not list alpine-net"
ok "network create, ls and inspect"
[ "$(subnet_of bridge)" = 172.17.0.0/16 ] && [ "$(subnet_of alpine-net)" = 172.18.0.0/16 ] && [[ "$(ip_of alpine3 bridge)" == 172.17.* ]] ||
  die "Docker's layout: want bridge 172.17.0.0/16 (alpine3 in it) and alpine-net 172.18.0.0/16, got $(subnet_of bridge) ($(ip_of alpine3 bridge)) and $(subnet_of alpine-net)"
ok "the default bridge keeps 172.17.0.0/16 though alpine-net was created first; alpine-net has the next pool"
ocinet network connect bridge alpine4
[ "$(ocinet network inspect alpine-net | jq '.[0].Containers | length')" = 3 ] || die "alpine-net should list 3 containers"
ocinet network inspect alpine-net | jq -e '[.[0].Containers[].Name] | sort == ["alpine1","alpine2","alpine4"]' >/dev/null ||
  die "inspect Containers names wrong"
in_container alpine4 ip link show eth1 >/dev/null || die "connect did not add eth1 to alpine4"
ok "four containers up, alpine4 connected to bridge live (eth1)"
[ "$(snooping "$(bridge_of alpine-net)")" = 0 ] && [ "$(snooping "$(bridge_of bridge)")" = 0 ] ||
  die "a bridge was made with multicast snooping on (want off unless -o mcast_snooping=true)"
ok "bridges are made without multicast snooping by default"

for peer in alpine1 alpine2; do
  can_ping alpine4 "$peer" || die "alpine4 cannot ping $peer by name"
  can_ping alpine4 "$(ip_of $peer alpine-net)" || die "alpine4 cannot ping $peer by IP"
done
ok "alpine4 reaches alpine1 and alpine2 by name and by IP"
can_ping alpine4 "$(ip_of alpine3 bridge)" || die "alpine4 cannot ping alpine3 by IP"
! can_ping alpine4 alpine3 || die "alpine4 resolved alpine3 by name on the default bridge"
ok "alpine4 reaches alpine3 by IP only (no discovery on the default bridge)"
can_ping alpine1 alpine4 || die "alpine1 (started earlier) cannot ping alpine4 by name"
can_ping alpine2 alpine1 || die "alpine2 cannot ping alpine1 by name"
! can_ping alpine1 alpine3 || die "alpine1 resolved alpine3"
! can_ping alpine3 alpine1 || die "alpine3 resolved alpine1"
ok "discovery works both ways, also for containers started later, and only within alpine-net"
can_ping alpine1 10.88.0.2 || die "alpine1 (alpine-net) cannot reach the outside"
can_ping alpine3 10.88.0.2 || die "alpine3 (bridge) cannot reach the outside"
ok "both bridge networks reach the outside"

# connect with an alias, then disconnect: names appear and disappear live.
ocinet network connect --alias db alpine-net alpine3
can_ping alpine1 db || die "alpine1 cannot ping alpine3 by its alias after connect"
can_ping alpine3 alpine2 || die "alpine3 cannot ping alpine2 by name after connect"
ocinet network disconnect alpine-net alpine3
! can_ping alpine1 db || die "alpine1 still resolves alpine3's alias after disconnect"
! in_container alpine3 ip link show eth1 >/dev/null 2>&1 || die "eth1 left in alpine3 after disconnect"
can_ping alpine3 "$(ip_of alpine4 bridge)" || die "alpine3 lost its own network after disconnect"
ok "connect --alias and disconnect update names live"

rc=0
ocinet network rm alpine-net 2>"$WORK/rm.err" || rc=$?
[ "$rc" = 1 ] && grep -q "active endpoint" "$WORK/rm.err" || die "network rm while attached: want exit 1, got $rc: $(cat "$WORK/rm.err")"
ok "network rm is refused while endpoints are attached"

# gc: an endpoint whose netns vanished without poststop.
new_netns "${TAG}-ghost"
B=$(bundle_for ghost "/run/netns/${TAG}-ghost")
hook createRuntime "$(state ghost "$B" '{"io.ocinet.network":"alpine-net","io.ocinet.name":"ghost","io.ocinet.ports":"7070:70"}')"
can_ping alpine1 ghost || die "alpine1 cannot resolve ghost"
ip netns del "${TAG}-ghost"
ocinet gc | grep -q "ghost" || die "gc did not release ghost"
! can_ping alpine1 ghost || die "alpine1 still resolves ghost after gc"
[ -n "$(marks_of alpine1 "$OCINET_RUN_DIR/ipam")" ] || die "the marks check finds nothing even for a live container"
[ -z "$(marks_of ghost "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/names" "$OCINET_RUN_DIR/ports")" ] || die "ghost's state left after gc"
[ "$(fw_rules 'ocinet:ghost')" = 0 ] || die "ghost's firewall rules left after gc"
ok "gc releases lease, rules and name of an endpoint whose netns is gone"

for c in alpine1 alpine2 alpine3 alpine4; do stop_container "$c"; done
CONTAINERS=()
ocinet network rm alpine-net >/dev/null
! ocinet network ls | grep -q ' alpine-net ' || die "alpine-net still listed after rm"
[ "$(ip -n "$HOSTNS" -br link | grep -c '^ocbr-')" = 0 ] || die "the network's bridge is left after rm"
ok "after the containers stop, network rm succeeds and removes the bridge"

# 20 concurrent setups on one network: 20 distinct addresses, then 20 concurrent teardowns.
ocinet network create -o mcast_snooping=true par >/dev/null
for i in $(seq 20); do new_netns "${TAG}-p$i"; done
for i in $(seq 20); do
  B=$(bundle_for "p$i" "/run/netns/${TAG}-p$i")
  hook createRuntime "$(state "p$i" "$B" '{"io.ocinet.network":"par"}')" &
done
wait
ips=$(for i in $(seq 20); do ip_of "p$i" par; done | sort -u | wc -l)
[ "$ips" = 20 ] || die "20 parallel setups gave $ips distinct addresses"
[ "$(snooping "$(bridge_of par)")" = 1 ] || die "-o mcast_snooping=true: the bridge of par does not snoop"
ip netns exec "${TAG}-p1" busybox ping -c 1 -W 2 "$(ip_of p2 par)" >/dev/null || die "p1 cannot ping p2 on par"
for i in $(seq 20); do hook poststop "{\"id\":\"p$i\",\"status\":\"stopped\",\"pid\":0}" & done
wait
[ -z "$(marks "$OCINET_RUN_DIR/ipam/par")" ] || die "leases left after 20 parallel teardowns"
ok "20 parallel setups on one network (-o mcast_snooping=true: its bridge snoops) get 20 distinct addresses; parallel teardowns release them"

# Dual stack: --ipv6 networks give each endpoint an IPv6 address and default route too.
ocinet network create --ipv6 --subnet 10.66.0.0/24 --subnet fd00:66::/64 v6net >/dev/null
ocinet network inspect v6net | jq -e '.[0].EnableIPv6 and (.[0].IPAM.Config | map(.Subnet) | index("fd00:66::/64"))' >/dev/null ||
  die "inspect v6net lacks EnableIPv6 / the IPv6 subnet"
for c in v6a v6b; do
  new_netns "${TAG}-$c"
  B=$(bundle_for "$c" "/run/netns/${TAG}-$c")
  hook createRuntime "$(state "$c" "$B" "{\"io.ocinet.network\":\"v6net\",\"io.ocinet.name\":\"$c\"}")"
done
a6=$(jq -r '.attachments[0].ip6' "$OCINET_RUN_DIR/endpoints/v6a.json")
b6=$(jq -r '.attachments[0].ip6' "$OCINET_RUN_DIR/endpoints/v6b.json")
[[ "$a6" == fd00:66::* && "$b6" == fd00:66::* && "$a6" != "$b6" ]] || die "IPv6 addresses wrong: '$a6' '$b6'"
ip -n "${TAG}-v6a" -6 route show default | grep -q "via fd00:66::1" || die "no IPv6 default route in v6a"
ip netns exec "${TAG}-v6a" busybox ping -6 -c 1 -W 2 "$b6" >/dev/null || die "v6a cannot ping v6b over IPv6"
ip netns exec "${TAG}-v6a" busybox ping -6 -c 1 -W 2 fd00:66::1 >/dev/null || die "v6a cannot ping the IPv6 gateway"
br=$(ocinet network inspect v6net | jq -r '.[0].Options["com.docker.network.bridge.name"]')
[ "$(ip netns exec "$HOSTNS" cat /proc/sys/net/ipv6/conf/$br/accept_ra)" = 0 ] || die "accept_ra is not 0 on $br"
[ "$(ip netns exec "${TAG}-v6a" dig @127.0.0.11 +short AAAA v6b)" = "$b6" ] || die "v6a's name server does not answer v6b's IPv6 address"
for c in v6a v6b; do hook poststop "{\"id\":\"$c\",\"status\":\"stopped\",\"pid\":0}"; done
[ -z "$(marks "$OCINET_RUN_DIR/ipam/v6net")" ] || die "IPv6 leases left after teardown"
ok "dual stack: IPv6 addresses, default route, ping, accept_ra=0, AAAA answers, leases released"

echo "$pass passed, 0 failed"
