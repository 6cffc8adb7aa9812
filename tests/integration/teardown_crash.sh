#!/usr/bin/env bash
# A teardown killed half-way is finished by gc: N endpoints on a user network (published ports,
# name discovery) beside two peers that keep running; each endpoint's poststop is killed with
# SIGKILL after a random delay while its netns is still alive. Then `ocinet gc` must finish every
# teardown that had begun (no record, lease, port, rule or veth left) and keep whole those whose
# hook died before it began (a second poststop removes them); the peers' files must be exactly
# what they were (nothing is written into running containers), and the name server must answer
# the peers for the endpoints still up and for no other.
set -euo pipefail
BIN=${1:?usage: teardown_crash.sh BIN_DIR}
N=${OCINET_CRASH_N:-200}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
# Its upstream is the host's 127.0.0.1, where nothing listens: a name nobody holds fails at once
# (port unreachable) instead of waiting out an upstream's timeout, N times over.
ocinet network create --dns 127.0.0.1 unet >/dev/null
for p in p1 p2; do
  new_netns "${TAG}-$p"
  B=$(bundle_for "$p" "/run/netns/${TAG}-$p")
  hook createRuntime "$(state "$p" "$B" '{"io.ocinet.network":"unet","io.ocinet.ports":"19000"}')" || die "peer $p did not set up"
done
for i in $(seq "$N"); do
  new_netns "${TAG}-k$i"
  B=$(bundle_for "k$i" "/run/netns/${TAG}-k$i")
  hook createRuntime "$(state "k$i" "$B" "{\"io.ocinet.network\":\"unet\",\"io.ocinet.ports\":\"$((20000 + i)):80\"}")" ||
    die "k$i did not set up"
done
hosts_of() { cat "$WORK/b-$1/rootfs/etc/hosts"; }
# names_seen_by PEER: the k* endpoints PEER's name server answers (their addresses, sorted).
names_seen_by() {
  for i in $(seq "$N"); do echo "k$i"; done |
    ip netns exec "${TAG}-$1" dig @127.0.0.11 +time=1 +tries=1 +short -f /dev/stdin 2>/dev/null | sort
}
for p in p1 p2; do
  [ "$(names_seen_by $p | wc -l)" = "$N" ] || die "$p is not answered for the $N endpoints before the storm"
  hosts_of $p >"$WORK/$p.want"
done
ok "$N endpoints and two peers set up"

killed=0
for i in $(seq "$N"); do
  echo "{\"id\":\"k$i\",\"status\":\"stopped\",\"pid\":0}" >"$WORK/stop-$i"
  ip netns exec "$HOSTNS" "$HOOK" poststop <"$WORK/stop-$i" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"  # 0-39 ms: anywhere in a teardown (or before it)
  kill -9 "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ "$rc" = 137 ] && killed=$((killed + 1))
done
echo "# $killed of $N teardowns were killed before they finished"
[ "$killed" -gt 0 ] || die "no teardown was killed: nothing was tested"
[ "$killed" -lt "$N" ] || echo "# (every teardown was killed)"

# A hook killed before it wrote anything leaves an endpoint that is, rightly, still up: for those
# gc must keep everything (the runtime's next poststop removes them). Every other one must go.
untouched=$(cd "$OCINET_RUN_DIR/endpoints" && for f in k*.json; do [ -e "$f" ] && [ "$(jq -r .state "$f")" = ready ] && echo "${f%.json}"; done || true)
ocinet gc >"$WORK/gc.log" 2>&1 || { cat "$WORK/gc.log"; die "gc failed"; }
left=$(cd "$OCINET_RUN_DIR/endpoints" && ls k*.json 2>/dev/null | sed 's/\.json$//' | sort || true)
[ "$left" = "$(echo "$untouched" | sed '/^$/d' | sort)" ] || {
  cat "$WORK/gc.log" >&2
  die "after gc the records left are not those of the teardowns that never started: $(echo $left | head -c 300)"
}
for id in $left; do
  r="$OCINET_RUN_DIR/endpoints/$id.json"
  ip -n "$HOSTNS" link show "$(jq -r '.attachments[0].host_ifname' "$r")" >/dev/null 2>&1 || die "$id is ready but its veth is gone"
  [ -n "$(marks_of "$id" "$OCINET_RUN_DIR/ipam")" ] || die "$id is ready but its lease is gone"
  [ "$(fw_dnats "ocinet:$id\"")" -ge 1 ] || die "$id is ready but its published port is gone"
  want=$(jq -r '.attachments[0].ip' "$r")
  for p in p1 p2; do
    [ "$(ip netns exec "${TAG}-$p" dig @127.0.0.11 +short "$id")" = "$want" ] || die "$id is ready but $p no longer resolves it"
  done
  hook poststop "{\"id\":\"$id\",\"status\":\"stopped\",\"pid\":0}"
done
echo "# $(echo $left | wc -w) teardowns never started; gc kept them whole and a second poststop removed them"
[ -z "$(ls "$OCINET_RUN_DIR/endpoints" | grep '^k' || true)" ] || die "records of torn-down endpoints left"
[ -z "$(marks_of 'k*' "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports" "$OCINET_RUN_DIR/names")" ] ||
  die "leases, ports or names left: $(marks_of 'k*' "$OCINET_RUN_DIR" | head -3)"
[ "$(fw_rules 'ocinet:k')" = 0 ] || die "$(fw_rules 'ocinet:k') firewall entries of torn-down endpoints left"
[ "$(host_veths)" = 2 ] || die "$(host_veths) veths for the 2 running peers"
ok "after gc: no record, lease, port, rule or veth of the $N endpoints"

for p in p1 p2; do
  diff "$WORK/$p.want" <(hosts_of $p) >&2 || die "$p's /etc/hosts changed"
  [ -z "$(names_seen_by $p)" ] || die "$p's name server still answers for endpoints that are gone: $(names_seen_by $p | head -3)"
  [ "$(jq -r .state "$OCINET_RUN_DIR/endpoints/$p.json")" = ready ] || die "peer $p's record is not ready"
  [ "$(fw_dnats "ocinet:$p")" -ge 1 ] || die "peer $p lost its published port"
done
ok "the running peers' files, records and ports are intact"

for p in p1 p2; do hook poststop "{\"id\":\"$p\",\"status\":\"stopped\",\"pid\":0}"; done
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")$(marks "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports")" ] || die "state left after the peers' teardown"
echo "$pass passed, 0 failed"
