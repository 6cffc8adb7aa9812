#!/usr/bin/env bash
# End to end with a real runtime: runc runs ocinet-hook at createRuntime and poststop.
# Topology (all namespaces made here): client (10.77.0.2) -- host (10.77.0.1, 10.88.0.1) -- outside (10.88.0.2)
set -euo pipefail
BIN=${1:?usage: runc_bridge.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
new_netns "${TAG}-client"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 cl
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou

# The outside world: an HTTP server whose CGI answers with the client address it sees.
mkdir -p "$WORK/outside/cgi-bin"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s" "$REMOTE_ADDR"\n' >"$WORK/outside/cgi-bin/ip"
chmod +x "$WORK/outside/cgi-bin/ip"
ip netns exec "${TAG}-out" busybox httpd -p 9000 -h "$WORK/outside"

make_bundle "$WORK/web" '{"io.ocinet.ports":"8080:80","io.ocinet.name":"web"}' '["httpd","-f","-p","80","-h","/www"]'
run_container web "$WORK/web"
ok "runc started the container with the hook"

body=$(http_get "${TAG}-client" http://10.77.0.1:8080/)
[ "$body" = "hello from ocinet" ] || die "published port 8080 did not answer from the client netns (got '$body')"
ok "HTTP through the published port from a client netns"

ip=$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/web.json")
gw=$(jq -r '.attachments[0].gateway' "$OCINET_RUN_DIR/endpoints/web.json")
in_container web ping -c 1 -W 2 "$gw" >/dev/null || die "container cannot ping its gateway $gw"
ok "container pings its gateway $gw"

# An IPv4-only network: no IPv6 address on either end of the veth (no link-local chatter
# flooded across the bridge), while lo keeps ::1.
sleep 0.3  # a link-local address would have appeared by now (no DAD delay for the tentative one)
hv=$(ip -n "$HOSTNS" -br link | grep -oE '^oc[0-9a-f]{12}[0-9]' | head -1)
[ -z "$(ip -n "$HOSTNS" -6 addr show dev "$hv")" ] || die "host end $hv has IPv6 addresses: $(ip -n "$HOSTNS" -6 addr show dev "$hv")"
! in_container web ip -6 addr show dev eth0 | grep -q inet6 || die "container eth0 has IPv6 addresses on an IPv4-only network"
in_container web ip -6 addr show dev lo | grep -q '::1' || die "container lo lost ::1"
ok "IPv4-only network: no IPv6 address on the veth ends (lo keeps ::1)"

src=$(in_container web timeout 5 wget -q -O- http://10.88.0.2:9000/cgi-bin/ip 2>/dev/null || true)
src=${src#"[::ffff:"}; src=${src%"]"}  # busybox httpd listens on v6 and reports v4-mapped peers
[ "$src" = "10.88.0.1" ] || die "outside saw source '$src', want the host's 10.88.0.1 (MASQUERADE)"
ok "outbound NAT: the outside sees the host's address"

grep -q "^$ip[[:space:]].*web" "$WORK/web/rootfs/etc/hosts" || die "/etc/hosts lacks '$ip web'"
grep -q '^nameserver ' "$WORK/web/rootfs/etc/resolv.conf" || die "/etc/resolv.conf has no nameserver"
[ "$(in_container web hostname)" != "" ] || die "no hostname"
ok "/etc/hosts, /etc/resolv.conf and /etc/hostname written"

[ "$(fw_rules 'ocinet:web')" -ge 1 ] || die "no DNAT rule tagged with the container's id"
stop_container web
CONTAINERS=()
[ "$(host_veths)" = 0 ] || die "veth left after teardown"
[ "$(fw_rules 'ocinet:web')" = 0 ] || die "firewall rules left after teardown"
[ "$(marks "$OCINET_RUN_DIR/ipam" | wc -l)" = 0 ] || die "lease left after teardown"
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "endpoint record left after teardown"
body=$(http_get "${TAG}-client" http://10.77.0.1:8080/)
[ -z "$body" ] || die "port 8080 still answers after teardown"
ok "teardown leaves no veth, no rule, no lease, and the port is closed"

echo "$pass passed, 0 failed"
