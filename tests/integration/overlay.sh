#!/usr/bin/env bash
# Overlay networks across three simulated hosts: a real etcd server, three "host" netns joined
# by an underlay bridge in a namespace the test owns, each host with its own ocinet state dirs
# and its own `ocinet agent`. Containers on different hosts reach each other by IP and by name,
# the names answered by each host's name server at 127.0.0.11 (fed by its agent), none written
# into /etc/hosts; an endpoint removed on one host is gone from the others within 1 s (FDB and
# names); a killed agent resyncs when restarted; setup with etcd stopped fails with exit 2 and
# leaves nothing behind; 30 concurrent setups across the hosts get 30 distinct addresses.
set -euo pipefail
BIN=${1:?usage: overlay.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed (Debian package etcd-server)"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: no dig (bind9-dnsutils)"; exit 77; }
. "$(dirname "$0")/../lib.sh"

UL="${TAG}-ul"
EPORT=$((23000 + $$ % 1000))
ETCD_URL="http://10.77.0.254:$EPORT"
ETCD_PID=""
declare -A AGENT_PID

new_netns "$UL"
ip -n "$UL" link add ulbr type bridge
ip -n "$UL" addr add 10.77.0.254/24 dev ulbr
ip -n "$UL" link set ulbr up

start_etcd() {
  ip netns exec "$UL" etcd --name ocinet-test --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$EPORT,$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$((EPORT + 1000))" --initial-advertise-peer-urls "http://127.0.0.1:$((EPORT + 1000))" \
    --initial-cluster "ocinet-test=http://127.0.0.1:$((EPORT + 1000))" >>"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 100); do
    ip netns exec "$UL" etcdctl --endpoints "$ETCD_URL" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/etcd.log" >&2
  die "etcd did not start"
}
etcdctl_() { ip netns exec "$UL" env ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" "$@"; }
start_etcd

# host N: netns h$N with 10.77.0.N on the underlay, state in $WORK/h$N.
for n in 1 2 3; do
  h="${TAG}-h$n"
  new_netns "$h"
  ip -n "$h" link add ul0 type veth peer name "ulh$n" netns "$UL"
  ip -n "$UL" link set "ulh$n" master ulbr up
  ip -n "$h" addr add "10.77.0.$n/24" dev ul0
  ip -n "$h" link set ul0 up
  mkdir -p "$WORK/h$n"
  jq -n --arg e "$ETCD_URL" '{etcd: {endpoints: [$e]}}' >"$WORK/h$n/ocinet.json"
done
henv() { echo "OCINET_RUN_DIR=$WORK/h$1/run" "OCINET_LIB_DIR=$WORK/h$1/lib" "OCINET_CONFIG=$WORK/h$1/ocinet.json"; }
on() { local n=$1; shift; ip netns exec "${TAG}-h$n" env $(henv "$n") "$@"; }
oc() { local n=$1; shift; on "$n" "$BIN/ocinet" "$@"; }
start_agent() {
  # Not through on(): $! must be the agent itself (ip and env exec into it), not a subshell.
  ip netns exec "${TAG}-h$1" env $(henv "$1") "$BIN/ocinet" agent --log-level debug --lease-ttl 4 >>"$WORK/agent-h$1.log" 2>&1 &
  AGENT_PID[$1]=$!
  for _ in $(seq 50); do [ -s "$WORK/h$1/run/overlay/host.json" ] && return 0; sleep 0.1; done
  cat "$WORK/agent-h$1.log" >&2
  die "agent on h$1 did not register"
}
dump_logs() { for n in 1 2 3; do echo "--- agent h$n"; tail -n 30 "$WORK/agent-h$n.log" 2>/dev/null; done >&2; }
declare -A CONT_HOST
# runc containers are deleted from their own host netns (their poststop hook runs there).
overlay_cleanup() {
  local rc=$? c
  [ $rc = 0 ] || dump_logs
  for c in "${!CONT_HOST[@]}"; do
    nsenter --net="/run/netns/${TAG}-h${CONT_HOST[$c]}" runc --root "$RUNC_ROOT" delete -f "$c" >/dev/null 2>&1 || true
  done
  CONTAINERS=()
  cleanup
  exit $rc
}
trap overlay_cleanup EXIT
for n in 1 2 3; do start_agent "$n"; done
ok "etcd and three agents up"

# Errors before anything exists: overlay without etcd configured is exit 1 naming the key.
echo '{}' >"$WORK/noetcd.json"
rc=0; out=$(ip netns exec "${TAG}-h1" env OCINET_CONFIG="$WORK/noetcd.json" "$BIN/ocinet" network create -d overlay --subnet 10.201.0.0/24 x 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "etcd.endpoints" <<<"$out" || die "overlay without etcd: want exit 1 naming etcd.endpoints, got $rc: $out"

oc 1 network create -d overlay --subnet 10.200.0.0/24 ov1 >/dev/null
oc 2 network ls | grep -qE ' ov1 +overlay +global +10.200.0.0/24' || die "h2 does not list ov1"
oc 3 network inspect ov1 | jq -e '.[0] | .Driver == "overlay" and .Scope == "global"' >/dev/null || die "h3 inspect ov1"
rc=0; oc 2 network create -d overlay --subnet 10.200.0.0/24 ov1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || die "creating ov1 twice: want exit 1, got $rc"
for n in 1 2 3; do
  for _ in $(seq 40); do ip -n "${TAG}-h$n" -d link show type vxlan 2>/dev/null | grep -q 'vxlan id 4096' && break; sleep 0.05; done
  ip -n "${TAG}-h$n" -d link show type vxlan | grep -q 'vxlan id 4096' || die "no VXLAN device for ov1 on h$n"
done
ok "ov1 created on h1 is seen by h2 and h3; every agent made its VXLAN device (VNI 4096)"

# Bad requests and a host without an agent: one clear line, exit 1 or 2, nothing created.
new_netns "$TAG-e1"
eb=$(bundle_for e1 "/run/netns/$TAG-e1")
hook_err() {  # hook_err WANT_RC WANT_TEXT ENV... -- ANNOTATIONS_JSON
  local want=$1 text=$2; shift 2
  local envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  local rc=0 out
  out=$(state e1 "$eb" "$1" | ip netns exec "${TAG}-h1" env $(henv 1) "${envs[@]}" "$BIN/ocinet-hook" createRuntime 2>&1) || rc=$?
  [ "$rc" = "$want" ] && grep -q -- "$text" <<<"$out" && [ "$(grep -c . <<<"$out")" = 1 ] ||
    die "want exit $want with \"$text\", got $rc: $out"
  ! ip -n "$TAG-e1" -br link | grep -q eth0 || die "a refused setup left eth0 behind"
}
hook_err 1 "etcd.endpoints" OCINET_CONFIG="$WORK/noetcd.json" -- '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov1"}'
hook_err 1 "ov9" -- '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov9"}'
hook_err 1 "io.ocinet.ports" -- '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov1","io.ocinet.ports":"8080:80"}'
hook_err 1 "io.ocinet.ip" -- '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov1","io.ocinet.ip":"10.200.1.5"}'
hook_err 2 "ocinet agent" OCINET_RUN_DIR="$WORK/h1/run-noagent" -- '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov1"}'
[ -z "$(etcdctl_ get --prefix /ocinet/v1/ipam/ --keys-only)" ] || die "a refused setup left an address in etcd"
ok "refused setups: no etcd config, unknown network, ports, foreign static IP (exit 1); no agent (exit 2); nothing left"

# An exhausted overlay subnet is exit 1 (a /29: 5 addresses besides network, gateway, broadcast).
oc 2 network create -d overlay --subnet 10.201.0.0/29 small >/dev/null
for i in 1 2 3 4 5; do new_netns "$TAG-s$i"; done
for i in 1 2 3 4 5; do
  b=$(bundle_for "s$i" "/run/netns/$TAG-s$i")
  state "s$i" "$b" '{"io.ocinet.network":"small"}' | on $(( (i % 3) + 1 )) "$BIN/ocinet-hook" createRuntime
done
new_netns "$TAG-s6"
b=$(bundle_for s6 "/run/netns/$TAG-s6")
rc=0; out=$(state s6 "$b" '{"io.ocinet.network":"small"}' | on 1 "$BIN/ocinet-hook" createRuntime 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "no free address" <<<"$out" || die "exhausted overlay subnet: want exit 1 'no free address', got $rc: $out"
for i in 1 2 3 4 5; do printf '{"id":"s%s","status":"stopped","pid":0}' "$i" | on $(( (i % 3) + 1 )) "$BIN/ocinet-hook" poststop; done
oc 1 network rm small >/dev/null
for n in 1 2 3; do  # the agents drop small's devices
  for _ in $(seq 40); do [ "$(ip -n "${TAG}-h$n" -br link | grep -c '^ocvx-')" = 1 ] && break; sleep 0.05; done
  [ "$(ip -n "${TAG}-h$n" -br link | grep -c '^ocvx-')" = 1 ] || die "h$n kept the devices of the removed network small"
done
ok "an exhausted overlay subnet is exit 1 (5 containers on a /29 across hosts, the 6th refused)"

# Fault walk: a failure injected at each step of an overlay setup in turn (the testing build's
# fault points) leaves nothing: no record, link, address mark, or etcd key of that container.
if [ -x "$BIN/ocinet-hook-testing" ]; then
  links_before=$(ip -n "${TAG}-h1" -br link | wc -l)
  steps=0
  for k in $(seq 1 30); do
    rc=0
    out=$(state fw1 "$eb" '{"io.ocinet.mode":"overlay","io.ocinet.network":"ov1","io.ocinet.name":"fw1"}' |
      ip netns exec "${TAG}-h1" env $(henv 1) OCINET_FAIL_STEP=$k "$BIN/ocinet-hook-testing" createRuntime 2>&1) || rc=$?
    if [ "$rc" = 0 ]; then
      printf '{"id":"fw1","status":"stopped","pid":0}' | on 1 "$BIN/ocinet-hook" poststop
      break
    fi
    [ "$rc" = 2 ] && grep -q "injected fault" <<<"$out" || die "fault at step $k: want exit 2, got $rc: $out"
    steps=$k
    [ ! -e "$WORK/h1/run/endpoints/fw1.json" ] || die "fault at step $k left the record"
    [ "$(ip -n "${TAG}-h1" -br link | wc -l)" = "$links_before" ] || die "fault at step $k left a link"
    ! ip -n "$TAG-e1" -br link | grep -q eth0 || die "fault at step $k left eth0 in the container"
    ! find "$WORK/h1/run/ipam" -type l -lname fw1 2>/dev/null | grep -q . || die "fault at step $k left an address mark"
    [ -z "$(etcdctl_ get --prefix /ocinet/v1/ --keys-only | grep -E 'ipam/|ep/')" ] || die "fault at step $k left etcd keys: $(etcdctl_ get --prefix /ocinet/v1/ --keys-only)"
  done
  [ "$steps" -ge 5 ] || die "the fault walk reached only $steps steps"
  ok "fault injected at each of the $steps steps of an overlay setup: exit 2, nothing left locally or in etcd"
fi

# Containers: a real runc container on h1 and h2, netns-only ones with the hook run by hand
# elsewhere; names through each host's name server.
run_on() {  # run_on N NAME: a busybox runc container on host N, network ov1
  local n=$1 name=$2
  local save_run=$OCINET_RUN_DIR save_lib=$OCINET_LIB_DIR save_cfg=$OCINET_CONFIG save_host=$HOSTNS
  OCINET_RUN_DIR="$WORK/h$n/run" OCINET_LIB_DIR="$WORK/h$n/lib" OCINET_CONFIG="$WORK/h$n/ocinet.json" HOSTNS="${TAG}-h$n"
  make_bundle "$WORK/$name" "$(jq -cn --arg n "$name" '{"io.ocinet.name": $n, "io.ocinet.mode": "overlay", "io.ocinet.network": "ov1"}')" '["sleep","3600"]'
  CONT_HOST[$name]=$n
  run_container "$name" "$WORK/$name"
  OCINET_RUN_DIR=$save_run OCINET_LIB_DIR=$save_lib OCINET_CONFIG=$save_cfg HOSTNS=$save_host
}
in_c() { local id=$1; shift; nsenter --net="/run/netns/${TAG}-h1" runc --root "$RUNC_ROOT" exec "$id" "$@"; }
ns_up() {  # ns_up N ID NAME: a bare netns container on host N, set up by the hook by hand
  local n=$1 id=$2 name=$3 b
  [ -e "/run/netns/$TAG-$id" ] || new_netns "$TAG-$id"
  b=$(bundle_for "$id" "/run/netns/$TAG-$id")
  state "$id" "$b" "$(jq -cn --arg n "$name" '{"io.ocinet.name": $n, "io.ocinet.mode": "overlay", "io.ocinet.network": "ov1"}')" |
    on "$n" "$BIN/ocinet-hook" createRuntime
}
ns_down() { printf '{"id":"%s","status":"stopped","pid":0}' "$2" | on "$1" "$BIN/ocinet-hook" poststop; }
rec_ip() { jq -r '.attachments[0].ip' "$WORK/h$1/run/endpoints/$2.json"; }
rec_mac() { jq -r '.attachments[0].mac' "$WORK/h$1/run/endpoints/$2.json"; }
# netns_of NAME: the network namespace of a runc container (web*) or of a bare one (its id).
netns_of() {
  case $1 in
    web*) echo "/proc/$(nsenter --net="/run/netns/${TAG}-h${CONT_HOST[$1]}" runc --root "$RUNC_ROOT" state "$1" | jq .pid)/ns/net" ;;
    *) echo "/run/netns/$TAG-$1" ;;
  esac
}
# q FROM DIG_ARGS...: dig at 127.0.0.11 from inside container FROM, short answers sorted.
q() { local c=$1; shift; nsenter --net="$(netns_of "$c")" dig @127.0.0.11 +time=1 +tries=1 +short "$@" 2>/dev/null | sort; }
# until_answer WANT FROM DIG_ARGS...: waits up to 2 s for the agent to feed the name server.
until_answer() {
  local want=$1 got; shift
  for _ in $(seq 40); do got=$(q "$@"); [ "$got" = "$want" ] && return 0; sleep 0.05; done
  die "from $1: dig ${*:2} -> '$got', want '$want'"
}

run_on 1 web1
run_on 2 web2
ns_up 3 c3 db3
IP1=$(rec_ip 1 web1) IP2=$(rec_ip 2 web2) IP3=$(rec_ip 3 c3)
[ "$IP1" != "$IP2" ] && [ "$IP2" != "$IP3" ] && [ "$IP1" != "$IP3" ] || die "addresses not distinct: $IP1 $IP2 $IP3"
in_c web1 ping -c 1 -W 2 "$IP2" >/dev/null || die "web1 (h1) cannot ping web2 (h2) at $IP2"
in_c web1 ping -c 1 -W 2 "$IP3" >/dev/null || die "web1 (h1) cannot ping db3 (h3) at $IP3"
ip netns exec "$TAG-c3" busybox ping -c 1 -W 2 "$IP1" >/dev/null || die "db3 (h3) cannot ping web1 (h1) at $IP1"
ok "containers on three hosts ping each other by IP ($IP1, $IP2, $IP3)"

# Names across hosts come from each host's name server, fed by its agent: name, name.network,
# PTR, both ways; busybox resolves them inside the container; no remote name in /etc/hosts.
for c in web1 web2; do grep -q '^nameserver 127.0.0.11$' "$WORK/$c/rootfs/etc/resolv.conf" || die "$c's resolv.conf does not point at 127.0.0.11"; done
until_answer "$IP2" web1 web2
until_answer "$IP3" web1 db3
until_answer "$IP1" web2 web1
until_answer "$IP1" c3 WEB1.ov1
[ "$(q web1 web2.ov1)" = "$IP2" ] && [ "$(q web2 db3.ov1 +tcp)" = "$IP3" ] || die "name.network across hosts: $(q web1 web2.ov1) / $(q web2 db3.ov1 +tcp)"
[ "$(q web1 -x "$IP2")" = "web2.ov1." ] && [ "$(q c3 -x "$IP1")" = "web1.ov1." ] || die "PTR across hosts: $(q web1 -x "$IP2") / $(q c3 -x "$IP1")"
in_c web1 nslookup db3 127.0.0.11 2>/dev/null | grep -q "$IP3" || die "busybox nslookup db3 inside web1 does not find $IP3"
in_c web1 ping -c 1 -W 2 web2 >/dev/null || die "web1 cannot ping web2 by name"
nsenter --net="/run/netns/${TAG}-h2" runc --root "$RUNC_ROOT" exec web2 ping -c 1 -W 2 web1 >/dev/null || die "web2 cannot ping web1 by name"
for c in web1 web2; do
  ! grep -qE 'web[12]|db3' <(grep -v "$(rec_ip "${CONT_HOST[$c]}" "$c")" "$WORK/$c/rootfs/etc/hosts") ||
    die "$c's /etc/hosts lists a container of another host: $(cat "$WORK/$c/rootfs/etc/hosts")"
done
ok "names across hosts through the name servers (name, NAME.network, PTR, TCP, busybox), none in /etc/hosts"

# Removal: within 1 s the other hosts drop db3's FDB entry and its name, and it is unreachable.
MAC3=$(rec_mac 3 c3)
# A netlink dump that the kernel's table changes under is cut short ("Dump was interrupted"):
# a missing line is looked for again before it counts as missing.
proxy_arp=""
for _ in $(seq 20); do
  vx1=$(ip -n "${TAG}-h1" -br link show type vxlan | awk '{print $1}' | cut -d@ -f1)
  if [ -n "$vx1" ] && ip -n "${TAG}-h1" neigh show dev "$vx1" 2>/dev/null | grep -q "^$IP3 .*PERMANENT"; then proxy_arp=1; break; fi
  sleep 0.05
done
[ -n "$proxy_arp" ] || die "h1 has no proxy-ARP entry for db3 on ${vx1:-its vxlan device}: $(ip -n "${TAG}-h1" neigh show)"
ns_down 3 c3
t0=${EPOCHREALTIME/./}
gone=""
while [ $(( ${EPOCHREALTIME/./} - t0 )) -lt 1000000 ]; do
  if ! bridge -n "${TAG}-h1" fdb show | grep -i "$MAC3" | grep -q " dst " && ! bridge -n "${TAG}-h2" fdb show | grep -i "$MAC3" | grep -q " dst " &&
    [ -z "$(q web1 db3)" ] && [ -z "$(q web2 db3.ov1)" ]; then
    gone=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
    break
  fi
  sleep 0.02
done
[ -n "$gone" ] || die "db3 still known on h1/h2 1 s after its teardown (FDB or name server)"
[ -z "$(q web1 -x "$IP3")" ] || die "the PTR of db3's address still answers"
! in_c web1 ping -c 1 -W 1 "$IP3" >/dev/null 2>&1 || die "db3's address still answers after teardown"
etcdctl_ get --prefix /ocinet/v1/ --keys-only | grep -q "c3" && die "etcd still holds keys of c3"
ok "endpoint removed on h3: gone from h1 and h2 in ${gone} ms (FDB, names), unreachable, no etcd keys left"

# Agent crash: h2's agent is killed; meanwhile a container starts on h3; a restarted agent resyncs.
# web2's /etc/hosts gets a remote line as the release before the name server wrote them: the
# restarted agent withdraws it.
kill -9 "${AGENT_PID[2]}"; wait "${AGENT_PID[2]}" 2>/dev/null || true
sed -i 's/^# END ocinet$/10.200.0.250\tghost\t# ocinet-peer:ghost0\n&/' "$WORK/web2/rootfs/etc/hosts"
grep -q ghost "$WORK/web2/rootfs/etc/hosts" || die "could not plant an old remote line in web2's /etc/hosts"
ns_up 3 c4 late4
IP4=$(rec_ip 3 c4) MAC4=$(rec_mac 3 c4)
sleep 0.3
! bridge -n "${TAG}-h2" fdb show | grep -i "$MAC4" | grep -q " dst " || die "h2 learnt late4 without an agent?"
[ -z "$(q web2 late4)" ] || die "h2's name server answers late4 without an agent?"
start_agent 2
for _ in $(seq 40); do bridge -n "${TAG}-h2" fdb show | grep -i "$MAC4" | grep -q " dst " && break; sleep 0.05; done
bridge -n "${TAG}-h2" fdb show | grep -i "$MAC4" | grep -q " dst " || die "restarted agent on h2 did not resync late4"
nsenter --net="/run/netns/${TAG}-h2" runc --root "$RUNC_ROOT" exec web2 ping -c 1 -W 2 "$IP4" >/dev/null || die "web2 cannot reach late4 after resync"
until_answer "$IP4" web2 late4
! grep -q ghost "$WORK/web2/rootfs/etc/hosts" || die "the restarted agent left an old remote line in web2's /etc/hosts"
! grep -q late4 "$WORK/web2/rootfs/etc/hosts" || die "web2's /etc/hosts lists late4"
ok "agent killed and restarted on h2: resynced (FDB, ping, name), old remote hosts lines withdrawn"

# 30 concurrent setups across the 3 hosts: 30 distinct addresses.
for i in $(seq 30); do new_netns "$TAG-p$i"; done
pids=()
for i in $(seq 30); do
  n=$(( (i % 3) + 1 ))
  ( ns_up "$n" "p$i" "par$i" >"$WORK/par$i.out" 2>&1 ) &
  pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
[ "$fails" = 0 ] || { cat "$WORK"/par*.out >&2; die "$fails of 30 concurrent setups failed"; }
ips=$(for i in $(seq 30); do n=$(( (i % 3) + 1 )); rec_ip "$n" "p$i"; done | sort -u | wc -l)
[ "$ips" = 30 ] || die "30 concurrent setups got $ips distinct addresses"
keys=$(etcdctl_ get --prefix /ocinet/v1/ipam/ov1/ --keys-only | grep -c . || true)
[ "$keys" = 33 ] || die "etcd holds $keys address keys, want 33 (30 + web1 + web2 + late4)"
ip netns exec "$TAG-p1" busybox ping -c 1 -W 2 "$(rec_ip 3 p2)" >/dev/null || die "p1 (h2) cannot ping p2 (h3)"
pids=()
for i in $(seq 30); do n=$(( (i % 3) + 1 )); ( ns_down "$n" "p$i" ) & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || die "a concurrent teardown failed"; done
keys=$(etcdctl_ get --prefix /ocinet/v1/ipam/ov1/ --keys-only | grep -c . || true)
[ "$keys" = 3 ] || die "after 30 teardowns etcd holds $keys address keys, want 3"
ok "30 concurrent setups across 3 hosts: 30 distinct addresses; 30 concurrent teardowns release them"

# etcd stopped: setup fails with exit 2 and leaves nothing (no veth, record, mark) behind.
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true
before_links=$(ip -n "${TAG}-h1" -br link | wc -l)
new_netns "$TAG-c5"
rc=0; out=$(ns_up 1 c5 down5 2>&1) || rc=$?
[ "$rc" = 2 ] || die "setup with etcd stopped: want exit 2, got $rc: $out"
grep -q "etcd" <<<"$out" || die "error does not name etcd: $out"
[ "$(grep -c . <<<"$out")" = 1 ] || die "error is not one line: $out"
[ "$(ip -n "${TAG}-h1" -br link | wc -l)" = "$before_links" ] || die "setup with etcd stopped left a link behind"
[ ! -e "$WORK/h1/run/endpoints/c5.json" ] || die "setup with etcd stopped left its record"
! find "$WORK/h1/run/ipam" -type l -lname c5 | grep -q . || die "setup with etcd stopped left an address mark"
! ip -n "$TAG-c5" -br link | grep -q eth0 || die "setup with etcd stopped left eth0 in the container"
ok "etcd stopped: setup exits 2 with one line naming etcd, nothing left behind"

# etcd back: agents reconnect and resync; the network works again.
start_etcd
ns_up 1 c6 back6
for _ in $(seq 100); do bridge -n "${TAG}-h2" fdb show | grep -i "$(rec_mac 1 c6)" | grep -q " dst " && break; sleep 0.1; done
bridge -n "${TAG}-h2" fdb show | grep -i "$(rec_mac 1 c6)" | grep -q " dst " || die "h2's agent did not reconnect after etcd came back"
nsenter --net="/run/netns/${TAG}-h2" runc --root "$RUNC_ROOT" exec web2 ping -c 1 -W 2 "$(rec_ip 1 c6)" >/dev/null ||
  die "web2 cannot reach back6 after etcd came back"
ok "etcd restarted: agents reconnect and resync, new containers reachable"

# Removal of the network: refused while attached; then every host drops its devices.
rc=0; oc 2 network rm ov1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || die "network rm with endpoints: want exit 1, got $rc"
ns_down 1 c6; ns_down 3 c4
for n in 1 2; do
  h="${TAG}-h$n"
  nsenter --net="/run/netns/$h" runc --root "$RUNC_ROOT" kill "web$n" KILL >/dev/null 2>&1 || true
done
for n in 1 2; do
  for _ in $(seq 50); do nsenter --net="/run/netns/${TAG}-h$n" runc --root "$RUNC_ROOT" state "web$n" 2>/dev/null | grep -q stopped && break; sleep 0.1; done
  nsenter --net="/run/netns/${TAG}-h$n" runc --root "$RUNC_ROOT" delete "web$n"
  unset "CONT_HOST[web$n]"
done
[ -z "$(etcdctl_ get --prefix /ocinet/v1/ep/ --keys-only)" ] || die "endpoint keys left in etcd"
oc 3 network rm ov1 >/dev/null
for n in 1 2 3; do
  # The agent deletes the VXLAN device, then the bridge (each deletion waits for the kernel's
  # RCU barrier, 15-40 ms here): wait for both, not only the first.
  for _ in $(seq 40); do ip -n "${TAG}-h$n" -br link | grep -qE '^oc(vx|ov)-' || break; sleep 0.05; done
  ! ip -n "${TAG}-h$n" -br link | grep -qE '^oc(vx|ov)-' || die "h$n kept its overlay devices after network rm"
done
[ -z "$(etcdctl_ get --prefix /ocinet/v1/ --keys-only)" ] || die "keys left in etcd: $(etcdctl_ get --prefix /ocinet/v1/ --keys-only)"
ok "network rm refused while attached; after the last container, removed everywhere; etcd empty"

# SIGTERM: agents exit 0 promptly.
for n in 1 2 3; do kill -TERM "${AGENT_PID[$n]}"; done
for n in 1 2 3; do
  rc=0; timeout 5 tail --pid="${AGENT_PID[$n]}" -f /dev/null || rc=$?
  [ "$rc" = 0 ] || die "agent on h$n did not exit within 5 s of SIGTERM"
  wait "${AGENT_PID[$n]}" || die "agent on h$n exited non-zero on SIGTERM"
done
ok "agents exit cleanly on SIGTERM"
echo "all $pass checks passed"
