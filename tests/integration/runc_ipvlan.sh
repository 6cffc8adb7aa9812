#!/usr/bin/env bash
# ipvlan networks with real runc containers: two containers on an l2 ipvlan network ping each
# other. On a kernel without the ipvlan driver the test checks that ocinet says so plainly
# (exit 2, nothing left behind) and then skips with the kernel's own reason; the same test runs
# in full, unchanged, where the driver exists.
set -euo pipefail
BIN=${1:?usage: runc_ipvlan.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
ip -n "$HOSTNS" link add ipvpar type veth peer name ipvpeer
ip -n "$HOSTNS" link set ipvpar up
ip -n "$HOSTNS" link set ipvpeer up
ocinet network create -d ipvlan --subnet 10.98.1.0/24 -o parent=ipvpar -o ipvlan_mode=l2 ipvnet >/dev/null
ocinet network inspect ipvnet | jq -e '.[0].Driver == "ipvlan"' >/dev/null || die "inspect: driver is not ipvlan"

if ! reason=$(ip -n "$HOSTNS" link add ipvprobe link ipvpar type ipvlan mode l2 2>&1); then
  new_netns "${TAG}-c"
  B=$(bundle_for c "/run/netns/${TAG}-c")
  rc=0
  out=$(hook createRuntime "$(state c "$B" '{"io.ocinet.network":"ipvnet"}')" 2>&1) || rc=$?
  [ "$rc" = 2 ] && [[ "$out" == *"this kernel has no ipvlan driver"* ]] ||
    die "without the driver: want exit 2 saying the kernel has no ipvlan driver, got $rc: $out"
  [ ! -e "$OCINET_RUN_DIR/endpoints/c.json" ] || die "endpoint record left after the failed setup"
  echo "ok - without the driver, setup is exit 2 with a plain message and leaves nothing"
  echo "SKIP: this kernel has no ipvlan driver (ip link: ${reason//$'\n'/ })"
  exit 77
fi
ip -n "$HOSTNS" link del ipvprobe

start ipv1 ipvnet
start ipv2 ipvnet
in_container ipv1 ping -c 1 -W 2 ipv2 >/dev/null || die "ipvlan l2: ipv1 cannot ping ipv2 by name"
in_container ipv2 ping -c 1 -W 2 "$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/ipv1.json")" >/dev/null ||
  die "ipvlan l2: ipv2 cannot ping ipv1 by IP"
ok "ipvlan l2: two containers ping each other by name and IP"
stop_container ipv1
stop_container ipv2
[ -z "$(marks "$OCINET_RUN_DIR/ipam/ipvnet")" ] || die "ipvlan leases left"
ok "teardown releases the leases"
echo "$pass passed, 0 failed"
