#!/usr/bin/env bash
# Port publishing and isolation through real traffic, once per firewall backend:
#   firewall_e2e.sh BIN_DIR iptables|nftables
# Topology (all made here): outside (10.88.0.2, fd88::2) -- host (10.88.0.1, fd88::1, fd88::3)
# -- containers on dual-stack networks
#   pub (10.61.0.0/24, fd61::/64): p1 (servers), p2 (neighbour)   iso (10.62.0.0/24, fd62::/64): i1
#   closed (--internal, 10.63.0.0/24, fd63::/64): c1               d1 is on pub and iso
# and on the IPv4-only network plain (10.64.0.0/24): v1.
# Checks every `docker run -p` form (tcp and udp) from the outside over IPv4 and IPv6 (no host
# address = every address of both families; [v6]:port = that IPv6 address only), 127.0.0.1
# publication (host yes, outside no; containers kept off the host's loopback), [::1] publication
# (host yes where br_netfilter leaves bridged IPv6 alone, exit 1 where it does not), non-local
# IPv6 host addresses refused, hairpin
# to its own and a neighbour's port, the isolation matrix and the internal network over both
# families, published ports reached from other networks, direct routing from the outside
# refused, IPv6 egress masqueraded, an IPv4-only network writing no IPv6 rule, and that after
# teardown and `network rm` the firewall (IPv4 and IPv6) is exactly as before the test.
set -euo pipefail
BIN=${1:?usage: firewall_e2e.sh BIN_DIR BACKEND}
BACKEND=${2:?usage: firewall_e2e.sh BIN_DIR BACKEND}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"
echo "{\"firewall_backend\":\"$BACKEND\"}" >"$OCINET_CONFIG"

v6_rules() {  # ocinet's IPv6 rules or table in the host netns, if any
  if [ "$BACKEND" = nftables ]; then ip netns exec "$HOSTNS" nft list table ip6 ocinet 2>/dev/null || true
  else ip netns exec "$HOSTNS" ip6tables-legacy-save | grep OCINET || true; fi
}

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou
ip -n "$HOSTNS" addr add fd88::1/64 dev oua nodad
ip -n "$HOSTNS" addr add fd88::3/64 dev oua nodad
ip -n "${TAG}-out" addr add fd88::2/64 dev oub nodad
# The outside can answer the internal network's subnets directly, so only the firewall keeps c1
# in; pub and iso get no such route: their replies come back only if egress is masqueraded.
ip -n "${TAG}-out" route add 10.63.0.0/24 via 10.88.0.1
ip -n "${TAG}-out" -6 route add fd63::/64 via fd88::1
fw_look_first "$BACKEND"
before=$(fw_ruleset "$BACKEND")
if [ "$BACKEND" = nftables ] && ! ip netns exec "$HOSTNS" nft list tables >/dev/null 2>&1; then
  echo "SKIP: this kernel has no nf_tables"; exit 77
fi

ocinet network create --ipv6 --subnet 10.61.0.0/24 --subnet fd61::/64 pub >/dev/null
ocinet network create --ipv6 --subnet 10.62.0.0/24 --subnet fd62::/64 iso >/dev/null
ocinet network create --ipv6 --subnet 10.63.0.0/24 --subnet fd63::/64 --internal closed >/dev/null
ocinet network create --subnet 10.64.0.0/24 plain >/dev/null

refused() {  # refused NAME NETWORK PORTS PATTERN: setup fails with exit 1 and one line naming PATTERN
  new_netns "${TAG}-$1"
  local b ann out rc=0
  b=$(bundle_for "$1" "/run/netns/${TAG}-$1")
  ann=$(jq -cn --arg n "$2" --arg p "$3" '{"io.ocinet.network": $n, "io.ocinet.ports": $p}')
  out=$(hook createRuntime "$(state "$1" "$b" "$ann")" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 1 ] || die "ports $3 on $2: want exit 1, got $rc: $out"
  [[ "$out" == *"$4"* && "$(printf '%s\n' "$out" | wc -l)" = 1 ]] || die "ports $3 on $2: message lacks '$4': $out"
}

# An IPv4-only network writes no IPv6 rule, table or chain.
container v1 plain "8085:80"
[ -z "$(v6_rules)" ] || die "a container on an IPv4-only network wrote IPv6 rules: $(v6_rules)"
ok "an IPv4-only network leaves the IPv6 firewall untouched"

# No IPv6 between containers of an IPv4-only network (Docker turns IPv6 off in them), so a
# neighbour's router advertisement configures nothing. nftables drops it on the bridge; the
# iptables backend, which cannot filter bridged frames, turns IPv6 off inside the container.
container v2 plain
if [ "$BACKEND" = nftables ]; then
  ip -n "${TAG}-v1" addr add fd64::1/64 dev eth0 nodad
  ip -n "${TAG}-v2" addr add fd64::2/64 dev eth0 nodad
  ! pingable v1 fd64::2 && ! pingable v2 fd64::1 || die "IPv6 passes between containers of an IPv4-only network"
  # Control: the same ping answers once the two ports are out of the filter's set.
  ip netns exec "$HOSTNS" nft flush set bridge ocinet v4only_ports
  reaches v1 fd64::2 || die "control: IPv6 between v1 and v2 fails even without the filter"
  ip -n "${TAG}-v1" addr del fd64::1/64 dev eth0
  ip -n "${TAG}-v2" addr del fd64::2/64 dev eth0
  ok "IPv4-only network: IPv6 from its containers is dropped on the bridge (control: passes without the filter)"
else
  for c in v1 v2; do
    [ "$(ip netns exec "${TAG}-$c" cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6)" = 1 ] || die "$c: IPv6 still on"
  done
  ok "IPv4-only network: IPv6 is off inside its containers"
fi

container p1 pub "80,8081:80,10.88.0.1:8082:80,8000-8002:80-82,:80,5353:53/udp,127.0.0.1:8090:80,[fd88::1]:8083:80"
container p2 pub
for port in 80 81 82; do serve p1 $port; done
dyn=$(jq -r '[.ports[] | select(.host_ip == "" and .container_port == 80 and .host_port >= 32768)] | length' "$OCINET_RUN_DIR/endpoints/p1.json")
[ "$dyn" = 2 ] || die "want 2 dynamic host ports for '80' and ':80', got $dyn"
# 8 entries for 10 ports: the range 8000-8002:80-82 is one.
ocinet ps --format json | jq -e '.[] | select(.id == "p1") | .ports | length == 8' >/dev/null || die "ocinet ps does not show p1's 8 publications"
ocinet ps | grep -q '0.0.0.0:8000-8002->80-82/tcp' || die "ocinet ps does not show the range as 8000-8002->80-82"

for port in 8081 8082 8000; do
  [ "$(get "${TAG}-out" "http://10.88.0.1:$port/")" = "p1:80" ] || die "tcp $port -> 80 does not answer from outside"
done
[ "$(get "${TAG}-out" "http://10.88.0.1:8001/")" = "p1:81" ] || die "range 8001 -> 81 does not answer"
[ "$(get "${TAG}-out" "http://10.88.0.1:8002/")" = "p1:82" ] || die "range 8002 -> 82 does not answer"
for hp in $(jq -r '.ports[] | select(.host_port >= 32768) | .host_port' "$OCINET_RUN_DIR/endpoints/p1.json"); do
  [ "$(get "${TAG}-out" "http://10.88.0.1:$hp/")" = "p1:80" ] || die "dynamic host port $hp does not answer"
done
# UDP: a counting rule inside the container's netns sees the datagram arrive on port 53
# (busybox here has no UDP listener; bash's /dev/udp sends).
ip netns exec "${TAG}-p1" iptables-legacy -A INPUT -p udp --dport 53 -s 10.88.0.2
ip netns exec "${TAG}-out" bash -c 'echo hello-udp >/dev/udp/10.88.0.1/5353'
sleep 0.2
udp=$(ip netns exec "${TAG}-p1" iptables-legacy -L INPUT -v -n -x | awk '/udp dpt:53/ {print $1}')
[ "${udp:-0}" -ge 1 ] || die "udp 5353 -> 53 did not arrive in the container"
ok "every port form answers from outside: 80, 8081:80, hostIP:8082:80, 8000-8002:80-82, :80, 5353:53/udp"

# IPv6: a port published with no host address answers on the host's IPv6 addresses too.
for port in 8081 8000; do
  for host in fd88::1 fd88::3; do
    [ "$(get "${TAG}-out" "http://[$host]:$port/")" = "p1:80" ] || die "tcp [$host]:$port -> 80 does not answer from outside"
  done
done
[ "$(get "${TAG}-out" "http://[fd88::1]:8002/")" = "p1:82" ] || die "range [fd88::1]:8002 -> 82 does not answer"
for hp in $(jq -r '.ports[] | select(.host_port >= 32768) | .host_port' "$OCINET_RUN_DIR/endpoints/p1.json"); do
  [ "$(get "${TAG}-out" "http://[fd88::1]:$hp/")" = "p1:80" ] || die "dynamic host port [fd88::1]:$hp does not answer"
done
[ -z "$(get "${TAG}-out" "http://[fd88::1]:8082/")" ] || die "10.88.0.1:8082 answers on IPv6 too"
ip netns exec "${TAG}-p1" ip6tables-legacy -A INPUT -p udp --dport 53 -s fd88::2
ip netns exec "${TAG}-out" bash -c 'echo hello-udp >/dev/udp/fd88::1/5353'
sleep 0.2
udp=$(ip netns exec "${TAG}-p1" ip6tables-legacy -L INPUT -v -n -x | awk '/udp dpt:53/ {print $1}')
[ "${udp:-0}" -ge 1 ] || die "udp [fd88::1]:5353 -> 53 did not arrive in the container"
ok "IPv6: 8081:80, 8000-8002:80-82, dynamic and 5353:53/udp answer on every host IPv6 address; hostIP:8082 stays IPv4"

# Port ranges: one port-table mark each, one firewall entry where the backend can say it in one.
# 9000-9009:80-89 is shifted: iptables writes one rule with the kernel's port offset; nftables,
# which has no port offset, one map element per port. 8150-8159 keeps its ports: one rule or one
# interval element, DNAT'd to the address alone.
container r1 pub "9000-9009:80-89,8150-8159:8150-8159"
for port in 80 85 89 8150 8159; do serve r1 $port; done
for pair in 9000:80 9005:85 9009:89 8150:8150 8159:8159; do
  [ "$(get "${TAG}-out" "http://10.88.0.1:${pair%:*}/")" = "r1:${pair#*:}" ] || die "range: ${pair%:*} -> ${pair#*:} does not answer from outside"
done
for pair in 9005:85 8159:8159; do
  [ "$(get "${TAG}-out" "http://[fd88::1]:${pair%:*}/")" = "r1:${pair#*:}" ] || die "range: [fd88::1]:${pair%:*} -> ${pair#*:} does not answer"
done
[ "$(get "${TAG}-p2" "http://10.88.0.1:9005/")" = "r1:85" ] || die "hairpin: p2 cannot reach r1's shifted range"
[ "$(marks_of r1 "$OCINET_RUN_DIR/ports" | wc -l)" = 2 ] || die "port table: want 2 marks for r1's 2 ranges: $(marks_of r1 "$OCINET_RUN_DIR/ports")"
if [ "$BACKEND" = nftables ]; then
  for fam in ip ip6; do
    [ "$(ip netns exec "$HOSTNS" nft list map $fam ocinet pub_any_range | grep -c 'ocinet:r1')" = 1 ] || die "$fam: want one interval element for 8150-8159"
    [ "$(ip netns exec "$HOSTNS" nft list map $fam ocinet pub_any | grep -c 'ocinet:r1')" = 10 ] || die "$fam: want 10 elements for 9000-9009"
  done
else
  for save in iptables-legacy-save ip6tables-legacy-save; do
    [ "$(ip netns exec "$HOSTNS" $save -t nat | grep -c 'ocinet:r1')" = 2 ] || die "$save: want one DNAT rule per range"
  done
  ip netns exec "$HOSTNS" iptables-legacy -w -t nat -C OCINET-DNAT -p tcp -m tcp --dport 9000:9009 -m comment --comment ocinet:r1 \
    -j DNAT --to-destination "$(ip_of r1 pub):80-89/9000" || die "iptables: no byte-exact rule for 9000-9009:80-89"
  ip netns exec "$HOSTNS" iptables-legacy -w -t nat -C OCINET-DNAT -p tcp -m tcp --dport 8150:8159 -m comment --comment ocinet:r1 \
    -j DNAT --to-destination "$(ip_of r1 pub)" || die "iptables: no byte-exact rule for 8150-8159"
fi
ok "ranges 9000-9009:80-89 and 8150-8159 answer pairwise from outside (IPv4, IPv6, hairpin); one mark each; $([ "$BACKEND" = nftables ] && echo "one interval element for 8150-8159, one element per port for the shifted one" || echo "one DNAT rule each")"

# A range as long as the port space costs what one port does: 6000-65535/udp (59,536 ports; the
# policy allows it here) sets up in well under a second, as one firewall entry and one mark, and
# goes away whole. (Before ranges: 65,536 entries, 7 s and 283 MB of run dir for 1-65535.)
echo "{\"firewall_backend\":\"$BACKEND\",\"policy\":{\"max_published_ports\":65535}}" >"$OCINET_CONFIG"
new_netns "${TAG}-u1"
su1=$(state u1 "$(bundle_for u1 "/run/netns/${TAG}-u1")" '{"io.ocinet.network":"plain","io.ocinet.ports":"6000-65535:6000-65535/udp"}')
files=$(find "$OCINET_RUN_DIR" | wc -l)
t0=$(date +%s%N)
hook createRuntime "$su1"
setup_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$setup_ms" -lt 2000 ] || die "6000-65535/udp took $setup_ms ms to set up"
[ "$(fw_dnats 'ocinet:u1')" = 1 ] || die "6000-65535/udp: want one firewall entry, got $(fw_dnats 'ocinet:u1')"
[ "$(marks_of u1 "$OCINET_RUN_DIR/ports" | wc -l)" = 1 ] || die "6000-65535/udp: want one port-table mark"
grown=$(($(find "$OCINET_RUN_DIR" | wc -l) - files))
[ "$grown" -le 12 ] || die "6000-65535/udp: the run dir grew by $grown entries"
ip netns exec "${TAG}-u1" iptables-legacy -A INPUT -p udp --dport 60001 -s 10.88.0.2
ip netns exec "${TAG}-out" bash -c 'echo hello-udp >/dev/udp/10.88.0.1/60001'
sleep 0.2
udp=$(ip netns exec "${TAG}-u1" iptables-legacy -L INPUT -v -n -x | awk '/udp dpt:60001/ {print $1}')
[ "${udp:-0}" -ge 1 ] || die "udp 60001 (in 6000-65535) did not arrive in the container"
t0=$(date +%s%N)
hook poststop '{"id":"u1","status":"stopped","pid":0}'
teardown_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$teardown_ms" -lt 2000 ] || die "6000-65535/udp took $teardown_ms ms to tear down"
[ "$(fw_rules 'ocinet:u1')" = 0 ] && [ -z "$(marks_of u1 "$OCINET_RUN_DIR")" ] || die "6000-65535/udp: state left after teardown"
echo "{\"firewall_backend\":\"$BACKEND\"}" >"$OCINET_CONFIG"
ok "6000-65535/udp: set up in $setup_ms ms, torn down in $teardown_ms ms, one firewall entry, one mark, run dir +$grown entries; datagram to 60001 arrives"

# The admin's cap, 1024 ports per container by default: a range counts each of its ports.
refused x4 pub "2000-3000:2000-3000,4000-4023:4000-4023/udp" "policy max_published_ports: io.ocinet.ports asks for 1025 published ports, at most 1024 are allowed"
ok "1025 published ports are refused with exit 1 naming policy max_published_ports (default 1024)"

[ "$(get "${TAG}-out" "http://[fd88::1]:8083/")" = "p1:80" ] || die "[fd88::1]:8083 does not answer on fd88::1"
[ -z "$(get "${TAG}-out" "http://[fd88::3]:8083/")" ] || die "[fd88::1]:8083 answers on fd88::3 too"
[ -z "$(get "${TAG}-out" "http://10.88.0.1:8083/")" ] || die "[fd88::1]:8083 answers on IPv4 too"
[ "$(get "$HOSTNS" "http://[fd88::1]:8083/")" = "p1:80" ] || die "[fd88::1]:8083 does not answer the host itself"
refused x1 pub "[fd99::1]:8084:80" "is not an address of this host"
refused x2 plain "[fd88::1]:8084:80" "has no IPv6 subnet"
ok "[hostv6]:8083:80 answers on that IPv6 address only; non-local and IPv4-only-network host addresses are exit 1"

# [::1]: refused while br_netfilter hands bridged IPv6 to netfilter (the answers would be turned
# back to ::1 before the kernel's input check drops them); published once it does not.
nf6=""
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-ip6tables ]; then
  echo "note: br_netfilter is not loaded: the [::1] refusal under bridge-nf-call-ip6tables=1 is not checked"
else
  nf6=$(ip netns exec "$HOSTNS" cat /proc/sys/net/bridge/bridge-nf-call-ip6tables)
  ip netns exec "$HOSTNS" sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables'
  refused x3 pub "[::1]:8084:80" "bridge-nf-call-ip6tables"
  ip netns exec "$HOSTNS" sh -c 'echo 0 > /proc/sys/net/bridge/bridge-nf-call-ip6tables'
fi
container l6 pub "[::1]:8084:80"
serve l6 80
[ "$(get "$HOSTNS" "http://[::1]:8084/")" = "l6:80" ] || die "[::1]:8084 does not answer the host"
[ -z "$(get "${TAG}-out" "http://[fd88::1]:8084/")" ] || die "[::1]:8084 answers on the host's IPv6 address too"
[ -z "$(get "$HOSTNS" "http://[::1]:8081/")" ] || die "a port published on every address answers on [::1] too"
# The local ::1 route through the bridge delivers those answers only: a new connection from a
# container that someone's DNAT turns to ::1 (the host's admin, here) does not get in.
mkdir -p "$WORK/www-lo6" && echo host-lo6 >"$WORK/www-lo6/index.html"
ip netns exec "$HOSTNS" busybox httpd -p '[::1]:9391' -h "$WORK/www-lo6"
admin_dnat() { ip netns exec "$HOSTNS" ip6tables-legacy -w -t nat "$1" PREROUTING -d fd61::1/128 -p tcp --dport 9391 -j DNAT --to-destination '[::1]:9391'; }
admin_dnat -A
[ -z "$(get "${TAG}-l6" "http://[fd61::1]:9391/")" ] || die "a container reaches the host's ::1 through a DNAT to ::1"
if [ "$BACKEND" = nftables ]; then  # control: without the guard it gets in
  ip netns exec "$HOSTNS" nft flush chain ip6 ocinet localnet
  [ "$(get "${TAG}-l6" "http://[fd61::1]:9391/")" = host-lo6 ] || die "control: no way in even without the guard"
  ip netns exec "$HOSTNS" nft add rule ip6 ocinet localnet ip6 daddr ::1 iifname @bridges ct direction original drop
else
  ip netns exec "$HOSTNS" ip6tables-legacy -w -D INPUT -j OCINET-INPUT
  [ "$(get "${TAG}-l6" "http://[fd61::1]:9391/")" = host-lo6 ] || die "control: no way in even without the guard"
  ip netns exec "$HOSTNS" ip6tables-legacy -w -I INPUT -j OCINET-INPUT
fi
[ -z "$(get "${TAG}-l6" "http://[fd61::1]:9391/")" ] || die "the ::1 guard did not come back"
[ "$(get "$HOSTNS" "http://[::1]:8084/")" = "l6:80" ] || die "[::1]:8084 stopped answering with the guard back"
admin_dnat -D
# The rest runs with br_netfilter as this machine has it (the answers to [::1] then get lost).
[ -z "$nf6" ] || ip netns exec "$HOSTNS" sh -c "echo $nf6 > /proc/sys/net/bridge/bridge-nf-call-ip6tables"
ok "[::1]:8084:80 answers the host on ::1 (not the outside); ports published on every address stay off ::1"

[ "$(get "$HOSTNS" "http://127.0.0.1:8090/")" = "p1:80" ] || die "127.0.0.1:8090 does not answer from the host"
[ -z "$(get "${TAG}-out" "http://10.88.0.1:8090/")" ] || die "127.0.0.1:8090 answers from outside"
[ "$(ip netns exec "$HOSTNS" cat /proc/sys/net/ipv4/conf/all/route_localnet)" = 0 ] || die "route_localnet is on for all"
ok "a port published on 127.0.0.1 answers the host, not the outside; route_localnet stays off for all"

# route_localnet on the bridge must not open the host's loopback to its containers: a hostile
# container routes 127.0.0.0/8 to its gateway and asks for a service the host binds to
# 127.0.0.1 only (CVE-2020-8558's shape).
mkdir -p "$WORK/www-hostlo" && echo host-lo >"$WORK/www-hostlo/index.html"
ip netns exec "$HOSTNS" busybox httpd -p 127.0.0.1:9390 -h "$WORK/www-hostlo"
[ "$(get "$HOSTNS" "http://127.0.0.1:9390/")" = host-lo ] || die "control: the host's own loopback service does not answer"
container lx pub
ip -n "${TAG}-lx" link set lo down
ip -n "${TAG}-lx" addr flush dev lo
ip -n "${TAG}-lx" route add 127.0.0.0/8 via 10.61.0.1 dev eth0
ip netns exec "${TAG}-lx" sh -c 'echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet'
[ -z "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" ] || die "a container reaches the host's loopback-only service"
# And packets from a forged 127/8 source (which services trusting loopback sources would take
# as the host's own): lx sends UDP to its gateway from 127.0.0.5; a counting rule at the end of
# the host's INPUT sees what got past ocinet's guard.
ip -n "${TAG}-lx" addr add 127.0.0.5/32 dev eth0
ip -n "${TAG}-lx" route add 10.61.0.1/32 dev eth0 src 127.0.0.5
forged() {  # forged N: sends N datagrams from 127.0.0.5, prints how many reached the host's INPUT
  local i
  for i in $(seq "$1"); do ip netns exec "${TAG}-lx" bash -c 'echo forged >/dev/udp/10.61.0.1/9392' 2>/dev/null || true; done
  sleep 0.2
  ip netns exec "$HOSTNS" iptables-legacy -w -L INPUT -v -n -x | awk '/127.0.0.5 .*dpt:9392/ {print $1}'
}
ip netns exec "$HOSTNS" iptables-legacy -w -A INPUT -s 127.0.0.5 -p udp --dport 9392
[ "$(forged 3)" = 0 ] || die "datagrams from a forged 127.0.0.5 got past the guard"
[ "$(get "$HOSTNS" "http://127.0.0.1:8090/")" = "p1:80" ] || die "127.0.0.1:8090 no longer answers the host"
# Control: without ocinet's guard the same request gets in (then the guard goes back).
if [ "$BACKEND" = nftables ]; then
  ip netns exec "$HOSTNS" nft flush chain ip ocinet localnet
  ip netns exec "$HOSTNS" nft flush chain ip ocinet localnet_in
  [ "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" = host-lo ] || die "control: the request fails even without the guard"
  [ "$(forged 3)" -ge 1 ] || die "control: forged datagrams do not arrive even without the guard"
  ip netns exec "$HOSTNS" nft add rule ip ocinet localnet ip daddr 127.0.0.0/8 iifname @bridges drop
  ip netns exec "$HOSTNS" nft add rule ip ocinet localnet ip saddr 127.0.0.0/8 iifname @bridges drop
  # Each chain alone keeps it out.
  [ -z "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" ] || die "the raw-priority guard alone lets it in"
  ip netns exec "$HOSTNS" nft flush chain ip ocinet localnet
  ip netns exec "$HOSTNS" nft add rule ip ocinet localnet_in ip daddr 127.0.0.0/8 iifname @bridges ct direction original drop
  [ -z "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" ] || die "the input guard alone lets it in"
  ip netns exec "$HOSTNS" nft add rule ip ocinet localnet ip daddr 127.0.0.0/8 iifname @bridges drop
  ip netns exec "$HOSTNS" nft add rule ip ocinet localnet ip saddr 127.0.0.0/8 iifname @bridges drop
else
  ip netns exec "$HOSTNS" iptables-legacy -w -D INPUT -j OCINET-INPUT
  [ "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" = host-lo ] || die "control: the request fails even without the guard"
  [ "$(forged 3)" -ge 1 ] || die "control: forged datagrams do not arrive even without the guard"
  ip netns exec "$HOSTNS" iptables-legacy -w -I INPUT -j OCINET-INPUT
fi
ip netns exec "$HOSTNS" iptables-legacy -w -D INPUT -s 127.0.0.5 -p udp --dport 9392
[ -z "$(get "${TAG}-lx" "http://127.0.0.1:9390/")" ] || die "the guard did not come back"
ok "a container routing 127/8 to its gateway does not reach the host's loopback services, nor the host from a forged 127/8 source (controls: both do without the guard)"

[ "$(get "${TAG}-p2" "http://10.88.0.1:8081/")" = "p1:80" ] || die "hairpin: neighbour p2 cannot reach p1's published port"
[ "$(get "${TAG}-p1" "http://10.88.0.1:8081/")" = "p1:80" ] || die "hairpin: p1 cannot reach its own published port"
[ "$(get "${TAG}-p2" "http://[fd88::1]:8081/")" = "p1:80" ] || die "hairpin: neighbour p2 cannot reach p1's published port over IPv6"
[ "$(get "${TAG}-p1" "http://[fd88::1]:8081/")" = "p1:80" ] || die "hairpin: p1 cannot reach its own published port over IPv6"
ok "hairpin: a container reaches its own and its neighbour's published port through the host address (IPv4 and IPv6)"

container i1 iso
container d1 pub,iso
container c1 closed
serve i1 80
reaches p2 "$(ip_of p1 pub)" || die "pub -> pub blocked"
! pingable p2 "$(ip_of i1 iso)" || die "pub -> iso open"
! pingable i1 "$(ip_of p2 pub)" || die "iso -> pub open"
reaches d1 "$(ip_of p2 pub)" && reaches d1 "$(ip_of i1 iso)" || die "dual-attached d1 cannot reach both networks"
reaches p2 10.88.0.2 || die "pub cannot reach the outside"
! pingable c1 10.88.0.2 || die "internal network reaches the outside"
! pingable c1 "$(ip_of p2 pub)" || die "internal network reaches another network"
ok "isolation: networks apart both ways, same network open, dual-attached reaches both, internal closed"

reaches p2 "$(ip6_of p1 pub)" || die "IPv6: pub -> pub blocked"
! pingable p2 "$(ip6_of i1 iso)" || die "IPv6: pub -> iso open"
! pingable i1 "$(ip6_of p2 pub)" || die "IPv6: iso -> pub open"
reaches d1 "$(ip6_of p2 pub)" && reaches d1 "$(ip6_of i1 iso)" || die "IPv6: dual-attached d1 cannot reach both networks"
reaches p2 fd88::2 || die "IPv6: pub cannot reach the outside (egress not masqueraded? the outside has no route back)"
reaches c1 "$(jq -r '.attachments[0].gateway6' "$OCINET_RUN_DIR/endpoints/c1.json")" || die "IPv6: internal network cannot reach its own gateway"
! pingable c1 fd88::2 || die "IPv6: internal network reaches the outside"
! pingable c1 "$(ip6_of p2 pub)" || die "IPv6: internal network reaches another network"
! pingable p2 "$(ip6_of c1 closed)" || die "IPv6: another network reaches the internal network"
ok "isolation over IPv6: networks apart both ways, same network open, dual-attached reaches both, egress masqueraded, internal closed"

# A published port is for containers of other networks too (Docker's -p), through a host
# address; the networks' own addresses stay apart (above).
[ "$(get "${TAG}-i1" "http://10.88.0.1:8081/")" = "p1:80" ] || die "i1 (iso) cannot reach pub's published port through the host address"
[ "$(get "${TAG}-i1" "http://[fd88::1]:8081/")" = "p1:80" ] || die "IPv6: i1 (iso) cannot reach pub's published port through the host address"
[ -z "$(get "${TAG}-i1" "http://$(ip_of p1 pub):80/")" ] || die "i1 (iso) reaches p1's own address on pub"
[ -z "$(get "${TAG}-c1" "http://10.63.0.1:8081/")" ] || die "the internal network reaches a published port"
ok "a published port answers containers of other networks through the host address (IPv4 and IPv6), not their addresses"

# Closed to direct routing: an outside host that routes pub's subnets through this host reaches
# the bridge's gateway (the route works) and p1's published port through the host address, but
# no port of p1's own address, published or not, and no ping (as Docker 28 in its nat mode).
ip -n "${TAG}-out" route add 10.61.0.0/24 via 10.88.0.1
ip -n "${TAG}-out" -6 route add fd61::/64 via fd88::1
serve p1 9393
reaches out 10.61.0.1 && reaches out fd61::1 || die "control: the outside does not reach pub's gateway through its route"
[ "$(get "${TAG}-out" "http://10.88.0.1:8081/")" = "p1:80" ] || die "the outside lost p1's published port"
for url in "http://$(ip_of p1 pub):9393/" "http://[$(ip6_of p1 pub)]:9393/" "http://$(ip_of p1 pub):80/"; do
  [ -z "$(get "${TAG}-out" "$url")" ] || die "direct routing from the outside reaches $url"
done
! pingable out "$(ip_of p1 pub)" && ! pingable out "$(ip6_of p1 pub)" || die "direct routing from the outside pings p1"
[ "$(get "${TAG}-p2" "http://$(ip_of p1 pub):9393/")" = "p1:9393" ] || die "p2 lost p1's unpublished port on their own network"
ok "closed to direct routing: an outside host routing the subnets here reaches no container address (IPv4 and IPv6)"

for c in v1 v2 p1 p2 r1 u1 lx l6 i1 d1 c1 x1 x2 x3 x4; do hook poststop "{\"id\":\"$c\",\"status\":\"stopped\",\"pid\":0}"; done
for n in pub iso closed plain; do ocinet network rm "$n" >/dev/null; done
after=$(fw_ruleset "$BACKEND")
[ "$before" = "$after" ] || die "firewall differs after teardown and network rm:
$(diff <(echo "$before") <(echo "$after") | head -20)"
ok "after teardown and network rm the $BACKEND ruleset (IPv4 and IPv6) is exactly as before"
echo "$pass passed, 0 failed"
