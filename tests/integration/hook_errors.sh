#!/usr/bin/env bash
# The hook's contract on bad input and idempotence, without a container runtime: the hook is
# fed OCI state by hand (as a runtime would) against namespaces this test creates.
set -euo pipefail
BIN=${1:?usage: hook_errors.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"

# expect_fail CODE PATTERN STAGE STATE: exit status and a single stderr line "ocinet: <id>: ...".
expect_fail() {
  local code=$1 pat=$2 out rc=0
  out=$(hook "$3" "$4" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || die "want exit $code, got $rc: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || die "want one line on stderr, got: $out"
  [[ "$out" == ocinet:* ]] || die "message does not start with 'ocinet:': $out"
  [[ "$out" == *$pat* ]] || die "message lacks '$pat': $out"
}
no_residue() {
  [ -z "$(ls "$OCINET_RUN_DIR/endpoints" 2>/dev/null)" ] || die "endpoint record left: $(ls "$OCINET_RUN_DIR/endpoints")"
  [ -z "$(marks "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports" "$OCINET_RUN_DIR/names")" ] ||
    die "state left: $(marks "$OCINET_RUN_DIR")"
  [ "$(host_veths)" = 0 ] || die "veth left: $(ip -n "$HOSTNS" -br link)"
  [ "$(fw_rules 'ocinet:c')" = 0 ] || die "container firewall rules left"
}

expect_fail 1 "malformed JSON" createRuntime '{"id": "x",'
expect_fail 1 "OCI state" createRuntime '[1,2]'
ok "malformed state JSON is exit 1 with one line"

new_netns "${TAG}-c1"
B1=$(bundle_for c1 "/run/netns/${TAG}-c1")
expect_fail 1 "io.ocinet.prots" createRuntime "$(state c1 "$B1" '{"io.ocinet.prots":"80"}')"
ok "unknown io.ocinet key is exit 1 naming it"
expect_fail 1 "control characters" createRuntime "$(state c1 "$B1" '{"io.ocinet.name":"web\nevil 1.2.3.4"}')"
expect_fail 1 "control characters" createRuntime "$(state c1 "$B1" '{"io.ocinet.hosts":"a:1.2.3.4\u0000x"}')"
big=$(head -c 100000 /dev/zero | tr '\0' a)
expect_fail 1 "too long" createRuntime "$(state c1 "$B1" "{\"io.ocinet.aliases\":\"$big\"}")"
expect_fail 1 "invalid name" createRuntime "$(state c1 "$B1" '{"io.ocinet.name":"../../etc"}')"
expect_fail 1 "io.ocinet.ports" createRuntime "$(state c1 "$B1" '{"io.ocinet.ports":"99999:80"}')"
expect_fail 1 'network "unet" is listed twice' createRuntime "$(state c1 "$B1" '{"io.ocinet.network":"unet,unet"}')"
expect_fail 1 'io.ocinet.dns-options: unknown option "$(reboot)"' createRuntime "$(state c1 "$B1" '{"io.ocinet.dns-options":"$(reboot)"}')"
expect_fail 1 'io.ocinet.dns-search: invalid search domain "$(reboot)"' createRuntime "$(state c1 "$B1" '{"io.ocinet.dns-search":"$(reboot)"}')"
expect_fail 1 "pid is not an integer" createRuntime '{"id":"c1","status":"creating","pid":1.5,"bundle":"/x"}'
no_residue
ok "hostile annotation values are exit 1 and change nothing"

# config.json that is no regular file, or a 100 MB one: exit 1 at once. A FIFO once hung the
# hook and /dev/zero was read until memory ran out: timeout and ulimit turn a regression into a
# failure rather than a hang or a starved machine.
new_netns "${TAG}-cf"
BC=$(bundle_for cf "/run/netns/${TAG}-cf")
mv "$BC/config.json" "$BC/real.json"
config_case() {  # config_case PATTERN PREPARE...: make config.json, run setup, check
  local pat=$1 rc=0 out
  shift
  rm -f "$BC/config.json"
  (cd "$BC" && eval "$@")
  out=$(state cf "$BC" '{}' | (ulimit -v 1000000 && timeout 10 ip netns exec "$HOSTNS" "$HOOK" createRuntime) 2>&1) || rc=$?
  [ "$rc" = 1 ] || die "config.json case '$*': want exit 1, got $rc: $out"
  [[ "$out" == *"$pat"* ]] || die "config.json case '$*': message lacks '$pat': $out"
  no_residue
}
config_case "config.json: $BC/config.json is not a regular file" mkfifo config.json
config_case "config.json: $BC/config.json is not a regular file" ln -s /dev/zero config.json
config_case "config.json: $BC/config.json is larger than 1 MiB" truncate -s 100M config.json
rm "$BC/config.json" && ln -s real.json "$BC/config.json"
hook createRuntime "$(state cf "$BC" '{}')"
[ "$(jq -r '.attachments[0].ifname' "$OCINET_RUN_DIR/endpoints/cf.json")" = eth0 ] || die "cf not set up through a symlinked config.json"
hook poststop '{"id":"cf","status":"stopped","pid":0}'
no_residue
ok "config.json: a FIFO, a symlink to /dev/zero, a 100 MB file are exit 1 at once; a symlink to a regular file works"

BH=$(bundle_for self "/run/netns/$HOSTNS")
expect_fail 1 "host's own network namespace" createRuntime "$(state c9 "$BH" '{}')"
no_residue
ok "the hook refuses to configure its own (host) netns"

hook poststop '{"id":"neverseen","status":"stopped","pid":0}'
ok "teardown of an unknown id is exit 0"

# Idempotence: setup twice gives one endpoint and one address.
S1=$(state c1 "$B1" '{"io.ocinet.ports":"8080:80"}')
hook createRuntime "$S1"
hook createRuntime "$S1"
[ "$(ls "$OCINET_RUN_DIR/endpoints" | wc -l)" = 1 ] || die "two endpoint records"
[ "$(marks "$OCINET_RUN_DIR/ipam" | wc -l)" = 1 ] || die "not exactly one lease"
[ "$(ip -n "${TAG}-c1" -4 -o addr show dev eth0 | wc -l)" = 1 ] || die "eth0 has not exactly one IPv4 address"
[ "$(fw_rules 'ocinet:c1')" -ge 1 ] || die "no DNAT rule for c1"
ok "setup twice yields one endpoint, one lease, one address"

# A port conflict fails with exit 1 naming the holder and leaves nothing of the second container.
new_netns "${TAG}-c2"
B2=$(bundle_for c2 "/run/netns/${TAG}-c2")
expect_fail 1 "already published by container c1" createRuntime "$(state c2 "$B2" '{"io.ocinet.ports":"8080:80"}')"
[ "$(ls "$OCINET_RUN_DIR/endpoints")" = "c1.json" ] || die "endpoint record of c2 left"
[ "$(marks "$OCINET_RUN_DIR/ipam" | wc -l)" = 1 ] || die "lease of c2 left"
[ "$(host_veths)" = 1 ] || die "veth of c2 left"
! ip -n "${TAG}-c2" link show eth0 >/dev/null 2>&1 || die "eth0 left in c2"
ok "port conflict is exit 1 and leaves nothing behind"

# A name conflict too.
expect_fail 1 "already in use" createRuntime "$(state c2 "$B2" '{"io.ocinet.name":"c1"}')"
ok "a name in use is exit 1"

hook poststop '{"id":"c1","status":"stopped","pid":0}'
hook poststop '{"id":"c1","status":"stopped","pid":0}'
no_residue
ok "teardown twice is exit 0 and leaves no veth, rule, lease or record"

# A full bridge: a Linux bridge takes 1023 ports. With 1023 other links on it, a setup is exit 1
# naming the limit and the network (once the kernel's bare "Exchange full", exit 2), and leaves
# nothing behind. In a host netns of its own: deleting 1023 links one by one takes ~20 s, a
# netns with them goes at once.
new_netns "${TAG}-full"
(
  HOSTNS="${TAG}-full"
  ip -n "$HOSTNS" link add ocinet0 type bridge
  for i in $(seq 1 1023); do echo "link add fill$i master ocinet0 type veth peer name fillp$i"; done | ip -n "$HOSTNS" -batch -
  expect_fail 1 'network "bridge": bridge ocinet0 is full (a Linux bridge holds at most 1023 ports' createRuntime "$(state c1 "$B1" '{}')"
  no_residue
)
ip netns del "${TAG}-full"
ok "the 1024th port of a bridge is exit 1 naming the limit and the network, and leaves nothing behind"

# Policy: each refused request is exit 1 naming the policy key, and changes nothing.
echo '{"policy":{"allowed_modes":["bridge"],"allowed_networks":["bridge"],"min_host_port":1024,
  "allowed_host_ips":["127.0.0.1"],"allow_static_ip":false}}' >"$OCINET_CONFIG"
expect_fail 1 "policy allowed_modes" createRuntime "$(state c1 "$B1" '{"io.ocinet.mode":"none"}')"
expect_fail 1 "policy allowed_networks" createRuntime "$(state c1 "$B1" '{"io.ocinet.network":"other"}')"
expect_fail 1 "policy min_host_port" createRuntime "$(state c1 "$B1" '{"io.ocinet.ports":"80:80"}')"
expect_fail 1 "policy allowed_host_ips" createRuntime "$(state c1 "$B1" '{"io.ocinet.ports":"10.1.1.1:8080:80"}')"
expect_fail 1 "policy allow_static_ip" createRuntime "$(state c1 "$B1" '{"io.ocinet.ip":"172.17.0.50"}')"
no_residue
hook createRuntime "$(state c1 "$B1" '{"io.ocinet.ports":"127.0.0.1:8080:80"}')"
hook poststop '{"id":"c1","status":"stopped","pid":0}'
no_residue
ok "policy refuses what it does not allow (exit 1 naming the key) and allows the rest"

# Hostile rootfs: the hook writes only inside it, refuses odd files, and a refusal is exit 1
# that leaves nothing behind.
echo "precious" >"$WORK/outside.txt"
new_netns "${TAG}-r"
BR=$(bundle_for r "/run/netns/${TAG}-r")
rootfs_case() {  # rootfs_case WANT_EXIT PREPARE...: prepare etc/, run setup, check
  local want=$1
  shift
  rm -rf "$BR/rootfs/etc"
  mkdir -p "$BR/rootfs/etc"
  (cd "$BR/rootfs" && eval "$@")
  local rc=0
  out=$(timeout 10 bash -c "$(declare -f hook); HOSTNS=$HOSTNS HOOK=$HOOK; hook createRuntime '$(state r "$BR" '{}')'" 2>&1) || rc=$?
  [ "$rc" = "$want" ] || die "rootfs case '$*': want exit $want, got $rc: $out"
  [ "$(cat "$WORK/outside.txt")" = precious ] || die "rootfs case '$*': a file outside the rootfs changed"
  [ ! -e "$WORK/hosts" ] && [ ! -e "$WORK/etc/hosts" ] || die "rootfs case '$*': wrote outside the rootfs"
  if [ "$want" = 0 ]; then hook poststop '{"id":"r","status":"stopped","pid":0}'; fi
  no_residue
}
rootfs_case 0 "ln -s '$WORK/outside.txt' etc/hosts"
[ -f "$BR/rootfs/etc/hosts" ] && [ ! -L "$BR/rootfs/etc/hosts" ] || die "the symlinked etc/hosts was not replaced by a file"
rootfs_case 0 "rmdir etc && ln -s ../../../../../.. etc"
[ -f "$BR/rootfs/hosts" ] || die "with etc -> ../../.., the hosts file should land at the rootfs top"
rootfs_case 1 "mkdir etc/hosts"
rootfs_case 1 "mkfifo etc/hosts"
rootfs_case 1 "truncate -s 2G etc/hosts"
ok "hostile rootfs (symlink out, ../../.. etc, directory, FIFO, 2 GB file): nothing outside touched, odd files refused cleanly"

# An MTU under 1280 leaves the link without IPv6 (the kernel refuses IPv6 settings on it): the
# bridge port still gets hairpin mode, and the container its address and route.
new_netns "${TAG}-c3"
B3=$(bundle_for c3 "/run/netns/${TAG}-c3")
hook createRuntime "$(state c3 "$B3" '{"io.ocinet.mtu":"1200"}')"
ip -n "${TAG}-c3" link show eth0 | grep -q "mtu 1200" || die "eth0 of c3 lacks mtu 1200"
ip3=$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/c3.json")
ip netns exec "$HOSTNS" busybox ping -c 1 -W 2 "$ip3" >/dev/null || die "c3 ($ip3) does not answer from the host"
ip -n "$HOSTNS" -d link show "$(jq -r '.attachments[0].host_ifname' "$OCINET_RUN_DIR/endpoints/c3.json")" | grep -q "hairpin on" ||
  die "the bridge port of c3 lacks hairpin mode"
hook poststop '{"id":"c3","status":"stopped","pid":0}'
no_residue
ok "an MTU under 1280 (a link without IPv6) sets up: hairpin on, container answers"

# Exhausted subnet: a pool with room for one container. The state directories are new while
# the default bridge stays up with its old address (as after a wiped /var/lib/ocinet): the
# default network is defined again from the new pool, and the bridge gets its gateway.
echo '{"address_pools":[{"base":"10.99.0.0/30","size":30}]}' >"$OCINET_CONFIG"
export OCINET_RUN_DIR="$WORK/run2" OCINET_LIB_DIR="$WORK/lib2"
hook createRuntime "$(state c1 "$B1" '{}')"
[ "$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/c1.json")" = 10.99.0.2 ] || die "c1 did not get 10.99.0.2"
ip netns exec "${TAG}-c1" busybox ping -c 1 -W 2 10.99.0.1 >/dev/null ||
  die "c1 cannot reach its gateway 10.99.0.1 on a bridge that outlived the state directories"
ok "a default bridge that outlived ocinet's state gets the redefined network's gateway"
expect_fail 1 "exhausted" createRuntime "$(state c2 "$B2" '{}')"
[ "$(ls "$OCINET_RUN_DIR/endpoints")" = "c1.json" ] || die "endpoint record of c2 left"
[ "$(host_veths)" = 1 ] || die "veth of c2 left"
hook poststop '{"id":"c1","status":"stopped","pid":0}'
no_residue
ok "exhausted subnet is exit 1 and leaves nothing behind"

# Teardown works when the container's netns is already gone.
hook createRuntime "$(state c2 "$B2" '{"io.ocinet.ports":"9090:90"}')"
ip netns del "${TAG}-c2"
hook poststop '{"id":"c2","status":"stopped","pid":0}'
no_residue
ok "teardown after the netns is gone releases everything"

echo "$pass passed, 0 failed"
