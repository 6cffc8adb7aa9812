#!/usr/bin/env bash
# Hardening, with the testing build of the hook (ocinet-hook-testing):
# - seccomp: an execve attempt inside the confined hook is refused with one clear line, exit 2;
# - fault injection: step N of a full setup (user network with a running peer, 2 published
#   ports and 2 ranges, one shifted, hosts files) fails, for every N in turn; after each failure
#   nothing is left: no record, lease, port, name, veth, container address, firewall rule, own
#   hosts block, or line in the peer's hosts file. The walk ends when N passes the last step and
#   setup succeeds.
set -euo pipefail
BIN=${1:?usage: faults.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"
TEST_HOOK="$BIN/ocinet-hook-testing"

rc=0
err=$(echo '{}' | OCINET_TEST_EXEC=1 "$TEST_HOOK" createRuntime 2>&1 >/dev/null) || rc=$?
[ "$rc" = 2 ] && [[ "$err" == "ocinet: seccomp: the hook attempted a forbidden system call (number 59); stopped" ]] ||
  die "execve in the confined hook: want exit 2 and the seccomp line, got $rc: $err"
ok "seccomp refuses execve inside the hook with one clear line"
rc=0
err=$(echo '{}' | OCINET_TEST_EXEC=clone "$TEST_HOOK" createRuntime 2>&1 >/dev/null) || rc=$?
[ "$rc" = 2 ] && [[ "$err" == "ocinet: seccomp: the hook attempted a forbidden system call (number 56); stopped" ]] ||
  die "clone(CLONE_NEWNET) in the confined hook: want exit 2 and the seccomp line, got $rc: $err"
ok "seccomp refuses clone with namespace flags (only a plain fork is allowed)"

new_netns "$HOSTNS"
# Upstream: the host's 127.0.0.1, where nothing listens: an unknown name fails at once.
ocinet network create --dns 127.0.0.1 fnet >/dev/null
peer_resolves() { ip netns exec "${TAG}-peer" dig @127.0.0.11 +time=1 +tries=1 +short "$1" 2>/dev/null || true; }
new_netns "${TAG}-peer"
BP=$(bundle_for peer "/run/netns/${TAG}-peer")
hook createRuntime "$(state peer "$BP" '{"io.ocinet.network":"fnet","io.ocinet.name":"peer"}')"

new_netns "${TAG}-c"
B=$(bundle_for c "/run/netns/${TAG}-c")
S=$(state victim "$B" '{"io.ocinet.network":"fnet","io.ocinet.name":"victim","io.ocinet.ports":"8080:80,5353:53/udp,9000-9009:80-89,7000-7999:7000-7999/udp"}')
nothing_left() {
  local n=$1
  [ ! -e "$OCINET_RUN_DIR/endpoints/victim.json" ] || die "step $n: endpoint record left"
  [ -z "$(marks_of victim "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports" "$OCINET_RUN_DIR/names")" ] ||
    die "step $n: lease, port or name left"
  [ "$(host_veths)" = 1 ] || die "step $n: veth left: $(ip -n "$HOSTNS" -br link)"
  ! ip -n "${TAG}-c" link show eth0 >/dev/null 2>&1 || die "step $n: eth0 left in the container netns"
  [ "$(fw_rules 'ocinet:victim')" = 0 ] || die "step $n: firewall rules left"
  # A failed setup also takes its blocks out of the container's own files (the container never
  # ran); after a teardown they may stay, as the container's files are the container's.
  if [ "$n" != teardown ]; then
    ! grep -q victim "$B/rootfs/etc/hosts" 2>/dev/null || die "step $n: own hosts block left"
    ! grep -q "BEGIN ocinet" "$B/rootfs/etc/resolv.conf" 2>/dev/null || die "step $n: own resolv.conf block left"
  fi
  [ -z "$(peer_resolves victim)" ] || die "step $n: the peer's name server answers for victim"
  ! grep -q victim "$BP/rootfs/etc/hosts" || die "step $n: victim written into the peer's hosts file"
}
n=1
while :; do
  rc=0
  out=$(printf '%s' "$S" | OCINET_FAIL_STEP=$n ip netns exec "$HOSTNS" "$TEST_HOOK" createRuntime 2>&1) || rc=$?
  [ "$rc" = 0 ] && break
  [ "$rc" = 2 ] && [[ "$out" == *"injected fault at step $n"* ]] || die "step $n: want the injected failure, got $rc: $out"
  nothing_left "$n"
  n=$((n + 1))
  [ "$n" -lt 60 ] || die "the walk did not end"
done
[ "$n" -gt 10 ] || die "only $((n - 1)) fault points in a full setup: the walk covers too little"
[ "$(peer_resolves victim)" = "$(ip_of victim fnet)" ] || die "after the walk, the peer does not resolve victim"
! grep -q victim "$BP/rootfs/etc/hosts" || die "after the walk, victim was written into the peer's hosts file"
ok "fault at each of the $((n - 1)) steps of a full setup leaves nothing behind"
hook poststop '{"id":"victim","status":"stopped","pid":0}'
nothing_left teardown
ok "teardown after the walk leaves nothing"
echo "$pass passed, 0 failed"
