#!/usr/bin/env bash
# Docker's default route: through the first attached network that is not --internal and has a
# gateway (macvlan included); `network disconnect` of that network moves it to the next such
# network; `network connect` adds one when the container has none; an --internal network, bridge
# or macvlan, never carries it.
set -euo pipefail
BIN=${1:?usage: default_routes.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
# setup NAME ANNOTATIONS_JSON: the hook by hand on a fresh netns named after the container.
setup() {
  new_netns "${TAG}-$1"
  local b
  b=$(bundle_for "$1" "/run/netns/${TAG}-$1")
  hook createRuntime "$(state "$1" "$b" "$(jq -c --arg n "$1" '. + {"io.ocinet.name": $n}' <<<"$2")")" || die "$1 did not set up"
}
default_of() { ip -n "${TAG}-$1" -4 route show default; }
gw_of() { ocinet network inspect "$1" | jq -r '.[0].IPAM.Config[0].Gateway'; }

ocinet network create --internal inet >/dev/null
ocinet network create n1 >/dev/null
ocinet network create n2 >/dev/null

setup c1 '{"io.ocinet.network": "inet,bridge"}'
default_of c1 | grep -q "^default via $(gw_of bridge) dev eth1" ||
  die "internal network first: default route is \"$(default_of c1)\", want via the bridge network (eth1)"
ok "an --internal network listed first does not take the default route"

setup c2 '{"io.ocinet.network": "n1,n2"}'
default_of c2 | grep -q "via $(gw_of n1) dev eth0" || die "default route of c2 is not via n1: $(default_of c2)"
ocinet network disconnect n1 c2
default_of c2 | grep -q "via $(gw_of n2) dev eth1" || die "after disconnecting n1, c2's default route is \"$(default_of c2)\", want via n2"
ocinet network connect n1 c2
default_of c2 | grep -q "via $(gw_of n2) dev eth1" || die "connect moved c2's existing default route: $(default_of c2)"
[ "$(default_of c2 | wc -l)" = 1 ] || die "c2 has two default routes: $(default_of c2)"
ok "disconnecting the network that routes moves the default route to the next one; connect leaves it"

setup c3 '{"io.ocinet.network": "inet"}'
[ -z "$(default_of c3)" ] || die "a container on an --internal network alone got a default route: $(default_of c3)"
ocinet network connect n2 c3
default_of c3 | grep -q "via $(gw_of n2) dev eth1" || die "connect did not give c3 (no default route) one via n2: $(default_of c3)"
ocinet network disconnect n2 c3
[ -z "$(default_of c3)" ] || die "c3 kept a default route after its only routed network went: $(default_of c3)"
ok "connect adds a default route to a container that has none; disconnect leaves none where none can carry it"

# macvlan on a parent made for the test (a veth in the test's host netns).
ip -n "$HOSTNS" link add mvpar type veth peer name mvpeer
ip -n "$HOSTNS" link set mvpar up
ocinet network create -d macvlan --internal --subnet 10.77.0.0/24 -o parent=mvpar mvint >/dev/null
ocinet network create -d macvlan --subnet 10.78.0.0/24 -o parent=mvpar mvext >/dev/null
setup c4 '{"io.ocinet.network": "mvint"}'
[ -z "$(default_of c4)" ] || die "a macvlan --internal network got a default route: $(default_of c4)"
setup c5 '{"io.ocinet.network": "mvint,mvext"}'
default_of c5 | grep -q "via $(gw_of mvext) dev eth1" || die "c5's default route is not via mvext: $(default_of c5)"
ok "macvlan: --internal never routes, the next macvlan network does"

for c in c1 c2 c3 c4 c5; do hook poststop "{\"id\":\"$c\",\"status\":\"stopped\",\"pid\":0}"; done
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "records left after teardown"
echo "$pass passed, 0 failed"
