#!/usr/bin/env bash
# Modes other than bridge, with real runc containers: none, host (via `ocinet bundle inject`),
# container:<name> (joins a running container's netns), and macvlan in bridge and private mode
# on a parent link inside the test's host namespace.
set -euo pipefail
BIN=${1:?usage: runc_modes.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"
inject() { ip netns exec "$HOSTNS" "$BIN/ocinet" bundle inject --hook "$HOOK" "$@"; }

new_netns "$HOSTNS"
new_netns "${TAG}-client"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 cl

# none: its own netns with only lo, up; the files are still written.
make_bundle "$WORK/nonec" '{"io.ocinet.mode":"none","io.ocinet.name":"nonec"}' '["sleep","3600"]'
run_container nonec "$WORK/nonec"
links=$(in_container nonec ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || die "mode none: want only lo, got: $links"
in_container nonec ip -o link show lo | grep -q 'UP' || die "mode none: lo is not up"
[ "$(in_container nonec cat /etc/hostname)" != "" ] || die "mode none: no /etc/hostname"
in_container nonec cat /etc/hosts | grep -q localhost || die "mode none: no localhost in /etc/hosts"
ok "none: only lo, up; hosts and hostname written"

# host: inject removes the network namespace; the container sees and serves on the host's.
make_bundle "$WORK/hostc" '{}' '["httpd","-f","-p","8081","-h","/www"]'
inject "$WORK/hostc" --annotation io.ocinet.mode=host --annotation io.ocinet.name=hostc
jq -e '[.linux.namespaces[] | select(.type == "network")] | length == 0' "$WORK/hostc/config.json" >/dev/null ||
  die "inject did not remove the network namespace for mode host"
run_container hostc "$WORK/hostc"
in_container hostc ip -o link | grep -q ' cla' || die "mode host: the container does not see the host's interfaces"
body=$(http_get "${TAG}-client" http://10.77.0.1:8081/)
[ "$body" = "hello from ocinet" ] || die "mode host: server in the container does not answer on the host address (got '$body')"
grep -q "127.0.1.1.*hostc" "$WORK/hostc/rootfs/etc/hosts" || die "mode host: /etc/hosts lacks the host's name line"
stop_container hostc
ok "host: shares the host netns; a server in it answers on the host's address"

# container:<name>: the joiner shares web's netns: same eth0 and IP; its teardown leaves web alone.
make_bundle "$WORK/web" '{"io.ocinet.name":"web","io.ocinet.ports":"8080:80"}' '["httpd","-f","-p","80","-h","/www"]'
run_container web "$WORK/web"
web_ip=$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/web.json")
make_bundle "$WORK/side" '{}' '["httpd","-f","-p","8082","-h","/www"]'
inject "$WORK/side" --annotation io.ocinet.mode=container:web --annotation io.ocinet.name=side
run_container side "$WORK/side"
in_container side ip -4 -o addr show eth0 | grep -q "$web_ip/" || die "joiner does not see web's eth0 address $web_ip"
[ "$(ip netns exec "$HOSTNS" timeout 5 busybox wget -q -O- "http://$web_ip:8082/" 2>/dev/null || true)" = "hello from ocinet" ] ||
  die "joiner's server does not answer on web's IP"
stop_container side
[ "$(http_get "${TAG}-client" http://10.77.0.1:8080/)" = "hello from ocinet" ] || die "web stopped answering after the joiner's teardown"
in_container web ip -4 -o addr show eth0 | grep -q "$web_ip/" || die "web lost its address after the joiner's teardown"
rc=0
make_bundle "$WORK/orphan" '{}' '["sleep","1"]'
inject "$WORK/orphan" --annotation io.ocinet.mode=container:nosuch 2>"$WORK/orphan.err" || rc=$?
[ "$rc" = 1 ] || die "joining an unknown container: want exit 1, got $rc"
stop_container web
rc=0
inject "$WORK/orphan" --annotation io.ocinet.mode=container:web 2>"$WORK/orphan.err" || rc=$?
[ "$rc" = 1 ] || die "joining a stopped container: want exit 1, got $rc ($(cat "$WORK/orphan.err"))"
ok "container:<name>: joiner answers on the owner's IP; owner unaffected by its teardown; unknown/stopped owner is exit 1"

# macvlan: two containers on a parent link in the host netns; bridge mode talks, private does not.
ip -n "$HOSTNS" link add mvpar type veth peer name mvpeer
ip -n "$HOSTNS" link set mvpar up
ip -n "$HOSTNS" link set mvpeer up
ip -n "$HOSTNS" link add mvpar2 type veth peer name mvpeer2
ip -n "$HOSTNS" link set mvpar2 up
ip -n "$HOSTNS" link set mvpeer2 up
ocinet network create -d macvlan --subnet 10.99.1.0/24 -o parent=mvpar -o macvlan_mode=bridge mvbr >/dev/null
ocinet network create -d macvlan --subnet 10.99.2.0/24 -o parent=mvpar2 -o macvlan_mode=private mvpriv >/dev/null
for c in mv1 mv2; do start "$c" mvbr; done
for c in mp1 mp2; do start "$c" mvpriv; done
pid=$(nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" state mv1 | jq .pid)
nsenter -t "$pid" -n ip -d link show eth0 | grep -q 'macvlan mode bridge' || die "mv1's eth0 is not a macvlan in bridge mode"
in_container mv1 ping -c 1 -W 2 mv2 >/dev/null || die "macvlan bridge mode: mv1 cannot ping mv2"
! in_container mp1 ping -c 1 -W 2 mp2 >/dev/null 2>&1 || die "macvlan private mode: mp1 reached mp2"
for c in mv1 mv2 mp1 mp2; do stop_container "$c"; done
CONTAINERS=()
[ "$(marks "$OCINET_RUN_DIR/ipam/mvbr" | wc -l)" = 0 ] && [ -n "$(ls "$OCINET_RUN_DIR/ipam/mvbr")" ] || die "macvlan leases left (or none were ever taken)"
ok "macvlan: bridge mode containers ping each other by name, private mode ones do not; leases released"

# A missing parent is a system error (exit 2) saying so.
ocinet network create -d macvlan --subnet 10.99.3.0/24 -o parent=nosuchif mvgone >/dev/null
new_netns "${TAG}-mvx"
B=$(bundle_for mvx "/run/netns/${TAG}-mvx")
rc=0
out=$(hook createRuntime "$(state mvx "$B" '{"io.ocinet.network":"mvgone"}')" 2>&1) || rc=$?
[ "$rc" = 2 ] && [[ "$out" == *"parent interface nosuchif does not exist"* ]] || die "missing parent: want exit 2 naming it, got $rc: $out"
[ ! -e "$OCINET_RUN_DIR/endpoints/mvx.json" ] || die "endpoint left after a failed macvlan setup: $(ls "$OCINET_RUN_DIR/endpoints")"
[ -z "$(marks_of mvx "$OCINET_RUN_DIR/ipam")" ] || die "lease left after a failed macvlan setup"
ok "macvlan with a missing parent is exit 2 naming the parent, and leaves nothing"

echo "$pass passed, 0 failed"
