#!/usr/bin/env bash
# Side by side, same work, same machine: one bridge network, one published TCP port per
# container, N containers set up in a row then torn down (netns alive), each system invoked as a
# process the way its runtime does it:
#   ocinet   ocinet-hook createRuntime/poststop with the OCI state on stdin
#   CNI      bridge + host-local + portmap plugins (Debian's containernetworking-plugins), chained
#   netavark /usr/lib/podman/netavark setup/teardown with its network options on stdin
# Everything runs inside a host netns made for the run; the machine's own is never touched.
# A second round measures teardown after the container netns is already gone (the runtime's
# poststop after a crash): set up again, delete the namespaces, then time the teardowns.
# Usage: sudo bench/compare.sh [N] [BIN_DIR]   (prints a markdown table)
set -euo pipefail
N=${1:-100}
BIN=$(readlink -f "${2:-build/bin}")
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ocinet-compare.XXXXXX)
# State on tmpfs for every system, as /run is on a real host (disk renames would dominate).
mount -t tmpfs -o size=256m ocinet-compare "$WORK"
CMP_TAG=ocmp$$  # names this run's namespaces (functions below run in child shells: no $$ there)
HOSTNS=$CMP_TAG-host
NSES=()
cleanup() {
  for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  ip netns del "$HOSTNS" 2>/dev/null || true
  umount -l "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up
for i in $(seq "$N"); do ip netns add "$CMP_TAG-c$i"; NSES+=("$CMP_TAG-c$i"); done
mkdir -p "$WORK/rootfs/etc" "$WORK/cni-data" "$WORK/netavark"

# now_us: microseconds, without a fork (bash 5's EPOCHREALTIME).
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
stats() {  # stats NAME FILE: median and p95 in ms
  sort -n "$2" | awk -v name="$1" '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.95+0.5)]; if (p=="") p=a[NR]; printf "%s %.2f %.2f\n", name, m/1000, p/1000}'
}

run_ocinet() {
  export OCINET_RUN_DIR="$WORK/ocinet-run" OCINET_LIB_DIR="$WORK/ocinet-lib" OCINET_CONFIG="$WORK/none.json"
  local i b s t0
  for i in $(seq "$N"); do
    b="$WORK/b$i"; mkdir -p "$b"; ln -sfn "$WORK/rootfs" "$b/rootfs"
    printf '{"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"network","path":"/run/netns/%s-c%s"}]}}' "$CMP_TAG" "$i" >"$b/config.json"
  done
  for i in $(seq "$N"); do
    s=$(printf '{"ociVersion":"1.0.2","id":"o%s","status":"creating","pid":0,"bundle":"%s/b%s","annotations":{"io.ocinet.ports":"%s:80"}}' "$i" "$WORK" "$i" $((10000 + i)))
    t0=$(now_us); "$BIN/ocinet-hook" createRuntime <<<"$s"; echo $(($(now_us) - t0)) >>"$WORK/ocinet.setup"
  done
  for i in $(seq "$N"); do
    t0=$(now_us); "$BIN/ocinet-hook" poststop <<<"{\"id\":\"o$i\",\"status\":\"stopped\",\"pid\":0}"; echo $(($(now_us) - t0)) >>"$WORK/ocinet.teardown"
  done
  [ "${GONE:-}" = 1 ] || return 0
  for i in $(seq "$N"); do
    s=$(printf '{"ociVersion":"1.0.2","id":"o%s","status":"creating","pid":0,"bundle":"%s/b%s","annotations":{"io.ocinet.ports":"%s:80"}}' "$i" "$WORK" "$i" $((10000 + i)))
    "$BIN/ocinet-hook" createRuntime <<<"$s"
  done
  renew_netns
  for i in $(seq "$N"); do
    t0=$(now_us); "$BIN/ocinet-hook" poststop <<<"{\"id\":\"o$i\",\"status\":\"stopped\",\"pid\":0}"; echo $(($(now_us) - t0)) >>"$WORK/ocinet.gone"
  done
}

# Deletes the container namespaces (their veths go with them) and makes fresh ones for the next
# system: the "netns already gone" case.
renew_netns() {
  local i
  for i in $(seq "$N"); do ip netns del "$CMP_TAG-c$i"; ip netns add "$CMP_TAG-c$i"; done
}

cni() {  # cni COMMAND PLUGIN ID NETNS CONFIG
  CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "/usr/lib/cni/$2" <<<"$5"
}
run_cni() {
  local i id ns bridge_conf result pm t0
  bridge_conf=$(jq -cn --arg d "$WORK/cni-data" '{cniVersion: "1.0.0", name: "cmp", type: "bridge", bridge: "cni-cmp0",
    isGateway: true, ipMasq: true, ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: "10.201.0.0/16"}]], routes: [{dst: "0.0.0.0/0"}]}}')
  for i in $(seq "$N"); do
    id=c$i; ns=/run/netns/$CMP_TAG-c$i
    t0=$(now_us)
    result=$(cni ADD bridge "$id" "$ns" "$bridge_conf")
    pm=$(jq -cn --argjson prev "$result" --argjson p $((20000 + i)) '{cniVersion: "1.0.0", name: "cmp", type: "portmap",
      capabilities: {portMappings: true}, runtimeConfig: {portMappings: [{hostPort: $p, containerPort: 80, protocol: "tcp"}]}, prevResult: $prev}')
    cni ADD portmap "$id" "$ns" "$pm" >/dev/null
    echo $(($(now_us) - t0)) >>"$WORK/cni.setup"
    echo "$pm" >"$WORK/cni-pm-$i"
  done
  for i in $(seq "$N"); do
    id=c$i; ns=/run/netns/$CMP_TAG-c$i
    t0=$(now_us)
    cni DEL portmap "$id" "$ns" "$(cat "$WORK/cni-pm-$i")" >/dev/null
    cni DEL bridge "$id" "$ns" "$bridge_conf" >/dev/null
    echo $(($(now_us) - t0)) >>"$WORK/cni.teardown"
  done
  [ "${GONE:-}" = 1 ] || return 0
  for i in $(seq "$N"); do
    id=c$i; ns=/run/netns/$CMP_TAG-c$i
    result=$(cni ADD bridge "$id" "$ns" "$bridge_conf")
    cni ADD portmap "$id" "$ns" "$(cat "$WORK/cni-pm-$i")" >/dev/null
  done
  renew_netns
  for i in $(seq "$N"); do
    id=c$i; ns=/run/netns/$CMP_TAG-c$i-gone
    t0=$(now_us)
    cni DEL portmap "$id" "$ns" "$(cat "$WORK/cni-pm-$i")" >/dev/null
    cni DEL bridge "$id" "$ns" "$bridge_conf" >/dev/null
    echo $(($(now_us) - t0)) >>"$WORK/cni.gone"
  done
}

run_netavark() {
  local i opts t0
  for i in $(seq "$N"); do
    jq -cn --arg id "$(printf 'a%063d' "$i")" --arg ip "10.202.$((i / 250)).$((i % 250 + 2))" --argjson p $((30000 + i)) '{
      container_id: $id, container_name: ("n" + $id[60:]),
      networks: {cmp: {interface_name: "eth0", static_ips: [$ip]}},
      network_info: {cmp: {name: "cmp", id: "3f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
        driver: "bridge", network_interface: "nv-cmp0", subnets: [{subnet: "10.202.0.0/16", gateway: "10.202.0.1"}],
        ipv6_enabled: false, internal: false, dns_enabled: false, ipam_options: {driver: "host-local"}}},
      port_mappings: [{host_ip: "", container_port: 80, host_port: $p, range: 1, protocol: "tcp"}]}' >"$WORK/nv-$i.json"
  done
  for i in $(seq "$N"); do
    t0=$(now_us); /usr/lib/podman/netavark --config "$WORK/netavark" setup "/run/netns/$CMP_TAG-c$i" <"$WORK/nv-$i.json" >/dev/null
    echo $(($(now_us) - t0)) >>"$WORK/netavark.setup"
  done
  for i in $(seq "$N"); do
    t0=$(now_us); /usr/lib/podman/netavark --config "$WORK/netavark" teardown "/run/netns/$CMP_TAG-c$i" <"$WORK/nv-$i.json" >/dev/null
    echo $(($(now_us) - t0)) >>"$WORK/netavark.teardown"
  done
  [ "${GONE:-}" = 1 ] || return 0
  for i in $(seq "$N"); do
    /usr/lib/podman/netavark --config "$WORK/netavark" setup "/run/netns/$CMP_TAG-c$i" <"$WORK/nv-$i.json" >/dev/null
  done
  renew_netns
  for i in $(seq "$N"); do
    # A deleted netns has no path left; netavark gets the fresh (empty) one at the same path.
    t0=$(now_us); /usr/lib/podman/netavark --config "$WORK/netavark" teardown "/run/netns/$CMP_TAG-c$i" <"$WORK/nv-$i.json" >/dev/null 2>&1 || true
    echo $(($(now_us) - t0)) >>"$WORK/netavark.gone"
  done
}

export -f run_ocinet run_cni run_netavark cni now_us renew_netns
export WORK N BIN CMP_TAG
export GONE=1
results=()
nsrun() { nsenter --net="/run/netns/$HOSTNS" bash -c "set -euo pipefail; $1" ; }
if nsrun run_ocinet 2>"$WORK/ocinet.err"; then results+=(ocinet); else echo "ocinet failed: $(tail -1 "$WORK/ocinet.err")" >&2; fi
if [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/portmap ]; then
  if nsrun run_cni 2>"$WORK/cni.err"; then results+=(cni); else echo "# CNI could not run here: $(tail -1 "$WORK/cni.err")"; fi
else echo "# CNI plugins not installed (apt-get install containernetworking-plugins): skipped"; fi
if [ -x /usr/lib/podman/netavark ]; then
  if nsrun run_netavark 2>"$WORK/netavark.err"; then results+=(netavark); else echo "# netavark could not run here: $(tail -1 "$WORK/netavark.err")"; fi
else echo "# netavark not installed (apt-get install netavark): skipped"; fi

echo "Bridge network + 1 published TCP port, $N containers in a row, $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
echo
echo "| system | setup median | setup p95 | teardown median | teardown p95 | teardown, netns gone | setup vs ocinet | teardown vs ocinet |"
echo "|---|---|---|---|---|---|---|---|"
read -r _ osm osp < <(stats ocinet "$WORK/ocinet.setup")
read -r _ otm otp < <(stats ocinet "$WORK/ocinet.teardown")
for s in "${results[@]}"; do
  read -r _ sm sp < <(stats "$s" "$WORK/$s.setup")
  read -r _ tm tp < <(stats "$s" "$WORK/$s.teardown")
  read -r _ gm _ < <(stats "$s" "$WORK/$s.gone")
  awk -v s="$s" -v sm="$sm" -v sp="$sp" -v tm="$tm" -v tp="$tp" -v gm="$gm" -v osm="$osm" -v otm="$otm" \
    'BEGIN {printf "| %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.1fx | %.1fx |\n", s, sm, sp, tm, tp, gm, sm/osm, tm/otm}'
done
