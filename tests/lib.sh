# Shared by demo.sh and the integration tests: an isolated "host" netns, a busybox rootfs,
# OCI bundles that run ocinet-hook, and cleanup that runs even when a step fails.
# Nothing here touches the machine's own network namespace or eth0.

: "${BIN:?BIN must point at the directory holding ocinet-hook}"
HOOK="$(readlink -f "$BIN/ocinet-hook")"

# Unique per run so parallel or leftover runs never collide.
TAG="oc$$"
HOSTNS="${TAG}-host"
WORK="$(mktemp -d "/tmp/ocinet-${TAG}.XXXXXX")"
RUNC_ROOT="$WORK/runc"
export OCINET_RUN_DIR="$WORK/run" OCINET_LIB_DIR="$WORK/lib" OCINET_CONFIG="$WORK/ocinet.json"
CONTAINERS=()
NETNSES=()

cleanup() {
  local c ns
  # Every container of this run's private runc root, whether or not the test still tracks it.
  for c in "${CONTAINERS[@]}" $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
    nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" delete -f "$c" >/dev/null 2>&1 || true
  done
  # Servers the test started inside its namespaces go first, then the namespaces.
  for ns in "${NETNSES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for ns in "${NETNSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

die() { echo "FAIL: $*" >&2; exit 1; }
# ok WHAT: one passed check, counted; a test ends with `echo "$pass passed, 0 failed"`.
pass=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
step() { echo "== $*"; }

# new_netns NAME: creates a named netns (removed by cleanup) with lo up.
new_netns() {
  ip netns add "$1"
  NETNSES+=("$1")
  ip -n "$1" link set lo up
}

# link_netns A ADDR_A B ADDR_B IFNAME: a veth between two netns with /24 addresses.
link_netns() {
  local a=$1 aaddr=$2 b=$3 baddr=$4 ifn=$5
  ip -n "$a" link add "${ifn}a" type veth peer name "${ifn}b" netns "$b"
  ip -n "$a" addr add "$aaddr/24" dev "${ifn}a"
  ip -n "$b" addr add "$baddr/24" dev "${ifn}b"
  ip -n "$a" link set "${ifn}a" up
  ip -n "$b" link set "${ifn}b" up
}

# make_rootfs DIR: busybox rootfs serving DIR/www on demand.
make_rootfs() {
  local r=$1 bb
  bb=$(command -v busybox)
  mkdir -p "$r"/{bin,etc,www,proc,sys,dev,tmp}
  cp "$bb" "$r/bin/busybox"
  for t in sh ip ping wget nc httpd hostname cat sleep timeout ifconfig route grep nslookup; do ln -sf busybox "$r/bin/$t"; done
  echo "hello from ocinet" >"$r/www/index.html"
}

# make_bundle DIR ANNOTATIONS_JSON ARGS_JSON [NETNS_PATH]: an OCI bundle whose hooks run ocinet-hook.
make_bundle() {
  local b=$1 ann=$2 args=$3 nspath=${4:-}
  mkdir -p "$b"
  [ -d "$b/rootfs" ] || make_rootfs "$b/rootfs"
  (cd "$b" && runc spec)
  local env
  env=$(jq -n --arg r "$OCINET_RUN_DIR" --arg l "$OCINET_LIB_DIR" --arg c "$OCINET_CONFIG" \
    '["OCINET_RUN_DIR=" + $r, "OCINET_LIB_DIR=" + $l, "OCINET_CONFIG=" + $c]')
  jq --argjson ann "$ann" --argjson args "$args" --arg hook "$HOOK" --argjson env "$env" --arg ns "$nspath" '
    .process.terminal = false | .process.args = $args | .root.readonly = false |
    .process.capabilities |= with_entries(.value += ["CAP_NET_RAW"]) |
    .annotations = $ann |
    .hooks = {createRuntime: [{path: $hook, args: ["ocinet-hook", "createRuntime"], env: $env}],
              poststop: [{path: $hook, args: ["ocinet-hook", "poststop"], env: $env}]} |
    (if $ns != "" then .linux.namespaces |= map(if .type == "network" then .path = $ns else . end) else . end)
  ' "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
}

# start NAME NETWORK: a busybox container that sleeps, named NAME, on NETWORK ("" = default).
start() {
  local ann
  ann=$(jq -cn --arg n "$1" --arg net "$2" '{"io.ocinet.name": $n} + (if $net != "" then {"io.ocinet.network": $net} else {} end)')
  make_bundle "$WORK/$1" "$ann" '["sleep","3600"]'
  run_container "$1" "$WORK/$1"
}

# bundle_for NAME NETNS_PATH: a minimal bundle (own rootfs with just etc/) for running the hook
# by hand against a pre-made netns (no runtime needed).
bundle_for() {
  local b="$WORK/b-$1"
  mkdir -p "$b/rootfs/etc"  # the hook only writes etc/hosts, etc/resolv.conf, etc/hostname
  jq -n --arg ns "$2" '{root: {path: "rootfs"}, hostname: "h1", linux: {namespaces: [{type: "network", path: $ns}]}}' >"$b/config.json"
  echo "$b"
}
# state ID BUNDLE ANNOTATIONS_JSON: the OCI state a runtime passes at create time.
state() { jq -cn --arg id "$1" --arg b "$2" --argjson a "$3" '{ociVersion: "1.0.2", id: $id, status: "creating", pid: 0, bundle: $b, annotations: $a}'; }

ocinet() { ip netns exec "$HOSTNS" "$BIN/ocinet" "$@"; }

# run_container ID BUNDLE: starts it detached, with the runtime (and so the hook) in $HOSTNS.
run_container() {
  CONTAINERS+=("$1")
  nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" run -d --bundle "$2" "$1" \
    </dev/null >"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log" >&2; return 1; }
}

in_container() { local id=$1; shift; nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" exec "$id" "$@"; }

stop_container() {
  nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" kill "$1" KILL >/dev/null 2>&1 || true
  for _ in $(seq 50); do
    nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" state "$1" 2>/dev/null | grep -q '"stopped"' && break
    sleep 0.1
  done
  nsenter --net="/run/netns/$HOSTNS" runc --root "$RUNC_ROOT" delete "$1"
}

# hook STAGE STATE_JSON: runs the hook by hand in $HOSTNS, as a runtime would.
hook() { printf '%s' "$2" | ip netns exec "$HOSTNS" "$HOOK" "$1"; }

# container NAME NETWORKS [PORTS]: the hook run by hand (no runtime) against a fresh netns
# "${TAG}-NAME"; the helpers below address containers by NAME.
container() {
  new_netns "${TAG}-$1"
  local b ann
  b=$(bundle_for "$1" "/run/netns/${TAG}-$1")
  ann=$(jq -cn --arg n "$2" --arg p "${3:-}" '{"io.ocinet.network": $n} + (if $p != "" then {"io.ocinet.ports": $p} else {} end)')
  hook createRuntime "$(state "$1" "$b" "$ann")"
}
ip_of() { jq -r --arg n "$2" '.attachments[] | select(.network == $n) | .ip' "$OCINET_RUN_DIR/endpoints/$1.json"; }
ip6_of() { jq -r --arg n "$2" '.attachments[] | select(.network == $n) | .ip6' "$OCINET_RUN_DIR/endpoints/$1.json"; }
serve() {  # serve NAME PORT: an HTTP server in the container's netns answering "NAME:PORT"
  mkdir -p "$WORK/www-$1-$2"
  echo "$1:$2" >"$WORK/www-$1-$2/index.html"
  ip netns exec "${TAG}-$1" busybox httpd -p "$2" -h "$WORK/www-$1-$2"
}
get() { ip netns exec "$1" timeout 3 busybox wget -q -O- "$2" 2>/dev/null || true; }
pingable() { ip netns exec "${TAG}-$1" busybox ping -c 1 -W 2 "$2" >/dev/null 2>&1; }
reaches() { pingable "$@" || pingable "$@"; }  # a first packet may be lost to ARP; a block is not

# http_get NETNS URL: body or nothing. Debian's static busybox wget segfaults on a refused
# connection, so any failure is just "no answer".
http_get() { ip netns exec "$1" timeout 5 busybox wget -q -O- "$2" 2>/dev/null || true; }

# Ownership marks (leases, published ports, names) are symlinks whose target is the owner id.
marks() { find "$@" -type l 2>/dev/null || true; }
marks_of() { local owner=$1; shift; find "$@" -type l -lname "$owner" 2>/dev/null || true; }

# Host ends of container veths in $HOSTNS ("oc" + 12 hex + index; bridges are ocinet0/ocbr-*).
host_veths() { ip -n "$HOSTNS" -br link | grep -cE '^oc[0-9a-f]{12}[0-9]' || true; }

# The host netns firewall as ocinet's backends write it (iptables-legacy or nftables).
fw_dump() { ip netns exec "$HOSTNS" iptables-legacy-save 2>/dev/null; ip netns exec "$HOSTNS" nft list ruleset 2>/dev/null; }
# fw_ruleset BACKEND: the host netns firewall as BACKEND writes it (iptables: the IPv4 and IPv6
# legacy tables), counters stripped, to compare before and after a test.
fw_ruleset() {
  if [ "$1" = nftables ]; then ip netns exec "$HOSTNS" nft list ruleset; else
    for save in iptables-legacy-save ip6tables-legacy-save; do
      ip netns exec "$HOSTNS" $save | { grep -v '^#' || true; } | sed 's/\[[0-9]*:[0-9]*\]//'
    done; fi
}
# fw_look_first BACKEND: legacy tables exist in a netns once anyone looks at them; looking before
# the "before" ruleset keeps them out of the difference.
fw_look_first() {
  [ "$1" = iptables ] || return 0
  local t
  for t in nat filter; do
    ip netns exec "$HOSTNS" iptables-legacy -t $t -L -n >/dev/null
    ip netns exec "$HOSTNS" ip6tables-legacy -t $t -L -n >/dev/null
  done
}
# Lines (rules or set/map elements) carrying a comment that contains $1, e.g. "ocinet:web".
# (No match is a count of 0, not a failure: callers assign the count under set -e and pipefail.)
fw_rules() { fw_dump | { grep -o -- "$1" || true; } | wc -l; }
# Published-port entries only (nft map elements, iptables DNAT rules) whose comment starts with $1:
# an IPv4-only network's container also has its bridge port in the bridge table's v4only_ports.
fw_dnats() { fw_dump | { grep -oE -- "${1}[^\" ]*\"? (: |-j DNAT)" || true; } | wc -l; }
