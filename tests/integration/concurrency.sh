#!/usr/bin/env bash
# Concurrency: 50 setups on one user network at once, while other networks are created and
# removed, then 50 teardowns at once, again with network churn. Every hook succeeds, no address
# is handed out twice, every state file stays valid JSON, and nothing is left at the end.
set -euo pipefail
BIN=${1:?usage: concurrency.sh BIN_DIR}
N=${OCINET_CONCURRENCY_N:-50}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
ocinet network create --subnet 10.123.0.0/24 busy >/dev/null
for i in $(seq "$N"); do new_netns "${TAG}-q$i"; done
for i in $(seq "$N"); do bundle_for "q$i" "/run/netns/${TAG}-q$i" >/dev/null; done

churn() {  # creates and removes other networks while the hooks run
  local round=$1 j
  for j in $(seq 10); do
    ocinet network create "churn$round-$j" >/dev/null
    ocinet network rm "churn$round-$j" >/dev/null
  done
}

pids=()
churn a & churn_pid=$!
for i in $(seq "$N"); do
  hook createRuntime "$(state "q$i" "$WORK/b-q$i" '{"io.ocinet.network":"busy"}')" >"$WORK/q$i.out" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
wait "$churn_pid" || die "network create/rm failed during the setups"
[ "$failed" = 0 ] || die "$failed of $N concurrent setups failed: $(cat "$WORK"/q*.out | sort | uniq -c | head -3)"
for f in "$OCINET_RUN_DIR"/endpoints/*.json "$OCINET_LIB_DIR"/networks/*.json; do
  jq -e . "$f" >/dev/null || die "corrupt state file $f"
done
distinct=$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR"/endpoints/q*.json | sort -u | wc -l)
[ "$distinct" = "$N" ] || die "$N setups got $distinct distinct addresses"
[ "$(marks "$OCINET_RUN_DIR/ipam/busy" | wc -l)" = "$N" ] || die "lease count is not $N"
for i in 1 "$N"; do
  ip netns exec "${TAG}-q$i" busybox ping -c 1 -W 2 10.123.0.1 >/dev/null || die "q$i cannot reach its gateway"
done
ok "$N concurrent setups with network churn: all succeed, $distinct distinct addresses, state files valid"

pids=()
churn b & churn_pid=$!
for i in $(seq "$N"); do
  hook poststop "{\"id\":\"q$i\",\"status\":\"stopped\",\"pid\":0}" >"$WORK/t$i.out" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
wait "$churn_pid" || die "network create/rm failed during the teardowns"
[ "$failed" = 0 ] || die "$failed of $N concurrent teardowns failed"
[ -z "$(marks "$OCINET_RUN_DIR")$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "state left after the teardowns"
[ "$(host_veths)" = 0 ] || die "veths left after the teardowns"
[ "$(ocinet network ls | grep -c churn || true)" = 0 ] || die "churn networks left"
ok "$N concurrent teardowns with network churn leave nothing"
echo "$pass passed, 0 failed"
