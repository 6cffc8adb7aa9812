#!/usr/bin/env bash
# Name servers side by side (issue #20): ocinet-dns, aardvark-dns (Podman's, configured the way
# netavark writes its config) and dnsmasq (an addn-hosts file), serving the same N container
# names, each server pinned to one core (taskset -c 1) and dnsperf to the other (-c 0).
#   throughput  dnsperf at full speed (-q outstanding queries) for L seconds: queries/s
#   latency     dnsperf at a fixed rate every server sustains (-Q RATE), every answer's
#               latency (-v): p50 / p99
#   memory      RSS of each server holding M names (ocinet: M containers' records)
# Each server answers from a "container" netns C: ocinet-dns on 127.0.0.11 there (its sockets
# live in C, the process in a "host" netns H, as in production); aardvark-dns and dnsmasq on
# 10.90.0.1 on C's lo, queried from 10.90.0.2 (aardvark answers by the asking container's
# address). All traffic stays on lo of namespaces made here, removed at the end.
#
# Usage: sudo bench/dns_bench.sh [--bin BIN_DIR] [-n 1000] [-l 10] [-q 100] [--rate 10000]
#          [--rss-names 10000] [--out DIR]
# Writes OUT/dns-latest.md and OUT/raw/dns/* (dnsperf outputs). Defaults: BIN=build/bin,
# OUT=bench/results.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$(dirname "$HERE")/build/bin" N=1000 L=10 Q=100 RATE=10000 M=10000 OUT="$HERE/results"
while (($#)); do
  case $1 in
    --bin) BIN=$2; shift ;;
    -n) N=$2; shift ;;
    -l) L=$2; shift ;;
    -q) Q=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --rss-names) M=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 1 ;;
  esac
  shift
done
AARDVARK=/usr/lib/podman/aardvark-dns
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for t in dnsperf dnsmasq dig taskset "$AARDVARK" "$BIN/ocinet-dns" "$BIN/ocinet"; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done

TAG="dnsb$$" H="dnsb$$-host" C="dnsb$$-c"
W=$(mktemp -d /tmp/ocinet-dnsbench.XXXXXX)
chmod 755 "$W"  # dnsmasq reads its hosts file as nobody
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in "$H" "$C"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  sleep 0.2
  for ns in "$H" "$C"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
for ns in "$H" "$C"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$C" addr add 10.90.0.1/32 dev lo
ip -n "$C" addr add 10.90.0.2/32 dev lo
mkdir -p "$OUT/raw/dns"
RAW="$OUT/raw/dns"

ip_of() { REPLY="10.90.$((1 + $1 / 250)).$(($1 % 250 + 2))"; }  # no subshell: 10,000 forks are slow here
# Container i is "ctr-i" at ip_of i, on network "bench" (10.90.0.0/16).
seq 0 $((N - 1)) | sed 's/^/ctr-/; s/$/ A/' >"$W/queries"

# ---- ocinet: records as the hook commits them; every record names C (only one can hold its
# 127.0.0.11:53, the others are names in the view).
ocinet_world() {  # ocinet_world COUNT: run/lib dirs with COUNT containers plus the client
  local n=$1 nsid i
  rm -rf "$W/ocinet"
  mkdir -p "$W/ocinet/run/endpoints" "$W/ocinet/lib"
  OCINET_RUN_DIR="$W/ocinet/run" OCINET_LIB_DIR="$W/ocinet/lib" OCINET_CONFIG="$W/none.json" \
    ip netns exec "$H" "$BIN/ocinet" network create --subnet 10.90.0.0/16 bench >/dev/null
  nsid=$(stat -L -c %d:%i "/run/netns/$C")
  rec() {
    printf '{"id":"%s","name":"%s","mode":"bridge","state":"ready","pid":0,"netns":"/run/netns/%s","netns_id":"%s","hostname":"","ports":[],"steps":[],"tag":"%s","attachments":[{"network":"bench","bridge":"b","host_ifname":"x","ifname":"eth0","ip":"%s","prefix":16,"gateway":"10.90.0.1","mac":"","mtu":0,"aliases":[]}]}\n' \
      "$1" "$2" "$C" "$nsid" "$1" "$3" >"$W/ocinet/run/endpoints/$1.json"
  }
  rec client client 10.90.0.2
  for ((i = 0; i < n; i++)); do ip_of $i; rec "c$i" "ctr-$i" "$REPLY"; done
}
ocinet_start() {
  ip netns exec "$H" taskset -c 1 "$BIN/ocinet-dns" --run-dir "$W/ocinet/run" --lib-dir "$W/ocinet/lib" \
    --resolv-conf /dev/null --resolved-conf /dev/null --log-level warn </dev/null >>"$W/ocinet.log" 2>&1 &
  SERVER=$!
  PIDS+=("$SERVER")
  SADDR=127.0.0.11 SRC=()
}
# ---- aardvark-dns: one config file per network, as netavark writes it --------------------------
aardvark_world() {
  local n=$1 i
  rm -rf "$W/aardvark"
  mkdir -p "$W/aardvark"
  {
    echo 10.90.0.1
    printf '%064x 10.90.0.2  client\n' 1
    for ((i = 0; i < n; i++)); do ip_of $i; printf '%064x %s  ctr-%d\n' $((i + 2)) "$REPLY" "$i"; done
  } >"$W/aardvark/bench"
}
aardvark_start() {
  # `run` forks into the background (netavark relies on that); its pid is in the config dir.
  ip netns exec "$C" taskset -c 1 "$AARDVARK" --config "$W/aardvark" -p 53 run </dev/null >>"$W/aardvark.log" 2>&1
  for _ in $(seq 50); do [ -s "$W/aardvark/aardvark.pid" ] && break; sleep 0.1; done
  SERVER=$(cat "$W/aardvark/aardvark.pid" 2>/dev/null || ip netns pids "$C" | head -1)
  PIDS+=("$SERVER")
  SADDR=10.90.0.1 SRC=(-a 10.90.0.2)
}
# ---- dnsmasq: the same names in an addn-hosts file --------------------------------------------
dnsmasq_world() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do ip_of $i; echo "$REPLY ctr-$i"; done >"$W/hosts"
}
dnsmasq_start() {
  ip netns exec "$C" taskset -c 1 dnsmasq -k -C /dev/null --no-resolv --no-hosts --addn-hosts="$W/hosts" \
    --listen-address=10.90.0.1 --bind-interfaces -p 53 --pid-file="$W/dnsmasq.pid" --cache-size=10000 \
    </dev/null >>"$W/dnsmasq.log" 2>&1 &
  SERVER=$!
  PIDS+=("$SERVER")
  SADDR=10.90.0.1 SRC=()
}

wait_answer() {  # the last name answers from C: the server has loaded everything
  local want name=ctr-$(($1 - 1))
  ip_of $(($1 - 1))
  want=$REPLY
  for _ in $(seq ${WAIT_TRIES:-300}); do
    [ "$(ip netns exec "$C" dig +short +time=1 +tries=1 -b "${SRC[1]:-127.0.0.1}" @"$SADDR" "$name" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.1
  done
  echo "$2 does not answer $name:" >&2
  tail -5 "$W/${2%-dns}.log" >&2
  [ -z "${DEBUG:-}" ] || { ip netns exec "$C" ss -lnup >&2; ip netns exec "$C" dig -b "${SRC[1]:-127.0.0.1}" @"$SADDR" "$name" >&2; ps -o pid,cmd -p "$(ip netns pids "$C" | xargs | tr ' ' ,)" >&2; }
  exit 1
}
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system, all threads
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
perf() {  # perf SYS: throughput and latency runs, one line of results
  local sys=$1 qps lost lat c0 c1 t0 t1 cpu
  c0=$(cpu_ticks "$SERVER") t0=$(date +%s%N)
  ip netns exec "$C" taskset -c 0 dnsperf -s "$SADDR" "${SRC[@]}" -d "$W/queries" -l "$L" -q "$Q" -c 4 \
    >"$RAW/$sys-throughput.txt" 2>&1
  c1=$(cpu_ticks "$SERVER") t1=$(date +%s%N)
  cpu=$(( (c1 - c0) * 1000000000 / (t1 - t0) ))  # percent of one core (100 ticks a second)
  qps=$(awk '/Queries per second/ {print int($4)}' "$RAW/$sys-throughput.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$RAW/$sys-throughput.txt")
  ip netns exec "$C" taskset -c 0 dnsperf -s "$SADDR" "${SRC[@]}" -d "$W/queries" -l 5 -Q "$RATE" -v \
    >"$W/$sys-lat.txt" 2>&1
  grep -c '^> NOERROR' "$W/$sys-lat.txt" >/dev/null || { echo "$sys: no answers in the latency run" >&2; exit 1; }
  lat=$(awk '/^> / {print $5 * 1000000}' "$W/$sys-lat.txt" | sort -n |
    awk '{v[NR] = $1} END {printf "%d %d %d", v[int(NR * 0.5)], v[int(NR * 0.99)], NR}')
  grep -v '^> ' "$W/$sys-lat.txt" >"$RAW/$sys-latency.txt"
  echo "$sys $qps $lost $lat $(rss_kib "$SERVER") $cpu"
}

echo "== $N names: throughput ($L s, $Q outstanding) and latency (at $RATE queries/s)" >&2
RESULTS=()
ocinet_world "$N"; ocinet_start; wait_answer "$N" ocinet-dns; RESULTS+=("$(perf ocinet)"); stop_server
aardvark_world "$N"; aardvark_start; wait_answer "$N" aardvark-dns; RESULTS+=("$(perf aardvark)"); stop_server
dnsmasq_world "$N"; dnsmasq_start; wait_answer "$N" dnsmasq; RESULTS+=("$(perf dnsmasq)"); stop_server

echo "== memory with $M names" >&2
MEM=()
ocinet_world "$M"; ocinet_start; wait_answer "$M" ocinet-dns
MEM+=("ocinet-dns $(rss_kib "$SERVER") $(ip netns exec "$H" "$BIN/ocinet-dns" status --run-dir "$W/ocinet/run" | jq -r '"\(.counts.containers) containers, \(.counts.names) index keys"')")
stop_server
aardvark_world "$M"; aardvark_start; wait_answer "$M" aardvark-dns; MEM+=("aardvark-dns $(rss_kib "$SERVER") $M containers"); stop_server
dnsmasq_world "$M"; dnsmasq_start; wait_answer "$M" dnsmasq; MEM+=("dnsmasq $(rss_kib "$SERVER") $M hosts lines"); stop_server

{
  echo "# Name servers, $(date -u +%Y-%m-%d) on $(nproc) cores, kernel $(uname -r)"
  echo
  echo "$N names; each server pinned to core 1, dnsperf to core 0; throughput: $L s, $Q queries outstanding"
  echo "(4 clients); latency: $RATE queries/s for 5 s, every answer timed."
  echo
  echo "| server | queries/s | server CPU | queries per CPU-second | lost | p50 | p99 | answers timed | RSS |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for r in "${RESULTS[@]}"; do
    read -r sys qps lost p50 p99 n rss cpu <<<"$r"
    echo "| $sys | $qps | $cpu % | $((qps * 100 / (cpu > 0 ? cpu : 1))) | $lost | ${p50} µs | ${p99} µs | $n | $((rss / 1024)) MiB |"
  done
  echo
  read -r _ ocq _ _ _ _ _ occ <<<"${RESULTS[0]}"; read -r _ aaq _ _ _ _ _ aac <<<"${RESULTS[1]}"
  echo "ocinet-dns / aardvark-dns: queries/s $(awk -v a="$ocq" -v b="$aaq" 'BEGIN {printf "%.1fx", a / b}'),"
  echo "queries per CPU-second of the server $(awk -v a="$ocq" -v b="$aaq" -v x="$occ" -v y="$aac" 'BEGIN {printf "%.1fx", (a / x) / (b / y)}')"
  echo "(when a server does not use its whole core, the client side, dnsperf and the loopback path on"
  echo "core 0, is what limits its queries/s)."
  echo
  echo "| server, $M names | RSS | what it holds |"
  echo "|---|---|---|"
  for r in "${MEM[@]}"; do read -r sys rss what <<<"$r"; echo "| $sys | $((rss / 1024)).$(( (rss % 1024) * 10 / 1024 )) MiB | $what |"; done
} | tee "$OUT/dns-latest.md"
