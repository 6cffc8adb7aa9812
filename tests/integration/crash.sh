#!/usr/bin/env bash
# Crash consistency: 200 setups, each hook killed with SIGKILL after a random delay (some finish,
# some die at any point of setup). Then `ocinet gc` releases the remains of the dead ones, every
# surviving endpoint still works (address, gateway answers), the counts of leases, veths and
# firewall rules match the survivors exactly, and tearing all 200 down leaves nothing.
set -euo pipefail
BIN=${1:?usage: crash.sh BIN_DIR}
N=${OCINET_CRASH_N:-200}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
for i in $(seq "$N"); do new_netns "${TAG}-k$i"; done
killed=0
for i in $(seq "$N"); do
  B=$(bundle_for "k$i" "/run/netns/${TAG}-k$i")
  state "k$i" "$B" "{\"io.ocinet.ports\":\"$((20000 + i)):80\"}" >"$WORK/state-$i"
  ip netns exec "$HOSTNS" "$HOOK" createRuntime <"$WORK/state-$i" >/dev/null 2>&1 &
  pid=$!
  # Most are killed within 0-9 ms, mid-setup. Every tenth gets 60 ms, time to finish even the
  # network's first setup (bridge and tables): with 0-9 ms for all, a slow first setup could be
  # killed every time and no container would ever be up (seen on a fresh machine).
  if [ $((i % 10)) = 0 ]; then sleep 0.06; else sleep "0.00$((RANDOM % 10))"; fi
  kill -9 "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ "$rc" = 137 ] && killed=$((killed + 1))
done
echo "# $killed of $N hooks were killed before they finished"
[ "$killed" -gt 0 ] || die "no hook was killed: nothing was tested"

ocinet gc >"$WORK/gc.log" 2>&1 || { cat "$WORK/gc.log"; die "gc failed"; }
ready=0
for f in "$OCINET_RUN_DIR"/endpoints/*.json; do
  [ -e "$f" ] || continue
  [ "$(jq -r .state "$f")" = ready ] || die "a record that is not ready survived gc: $f"
  ready=$((ready + 1))
  id=$(jq -r .id "$f")
  ip=$(jq -r '.attachments[0].ip' "$f")
  gw=$(jq -r '.attachments[0].gateway' "$f")
  ip -n "${TAG}-$id" -4 -o addr show eth0 | grep -q "$ip/" || die "$id: eth0 lost $ip"
  ip netns exec "${TAG}-$id" busybox ping -c 1 -W 2 "$gw" >/dev/null || die "$id: gateway does not answer"
done
leases=$(marks "$OCINET_RUN_DIR/ipam/bridge" | wc -l)
[ "$leases" = "$ready" ] || die "$leases leases for $ready endpoints"
[ "$(host_veths)" = "$ready" ] || die "$(host_veths) veths for $ready endpoints"
rules=$(fw_dnats 'ocinet:k')
[ "$rules" = "$ready" ] || die "$rules endpoint rules for $ready endpoints (want one DNAT each)"
ports=$(marks "$OCINET_RUN_DIR/ports" | wc -l)
[ "$ports" = "$ready" ] || die "$ports published ports for $ready endpoints"
[ "$ready" -gt 0 ] || die "no container survived: the survivors' checks tested nothing"
ok "after gc: $ready working endpoints, and exactly their leases, veths, rules and ports"

for i in $(seq "$N"); do hook poststop "{\"id\":\"k$i\",\"status\":\"stopped\",\"pid\":0}"; done
[ -z "$(marks "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports" "$OCINET_RUN_DIR/names")$(ls "$OCINET_RUN_DIR/endpoints")" ] ||
  die "state left after teardown: $(marks "$OCINET_RUN_DIR" | head) $(ls "$OCINET_RUN_DIR/endpoints" | head)"
[ "$(host_veths)" = 0 ] || die "veths left after teardown"
[ "$(fw_rules 'ocinet:k')" = 0 ] || die "rules left after teardown"
ok "teardown of all $N leaves nothing"
echo "$pass passed, 0 failed"
