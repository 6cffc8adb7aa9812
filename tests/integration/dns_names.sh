#!/usr/bin/env bash
# Docker's embedded DNS through the whole hook: containers on a user network find each other by
# name, name.network, alias (every holder), link, and address (PTR) at 127.0.0.11, over UDP and
# TCP; other names go to the network's upstream (--dns), answers passed back as they are; no
# running container's files are rewritten; the default bridge and --disable-dns networks have
# no name server; a torn-down container is no longer answered; a killed server is started again
# by the next setup and answers every running container.
set -euo pipefail
BIN=${1:?usage: dns_names.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: no dig (bind9-dnsutils)"; exit 77; }
command -v dnsmasq >/dev/null || { echo "SKIP: no dnsmasq (dnsmasq-base), the test's upstream"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
# The upstream: dnsmasq in a namespace of its own, routed from the host (the server forwards
# from the host's netns). Names under .test are its own: outside.test answers, others NXDOMAIN.
new_netns "${TAG}-up"
link_netns "$HOSTNS" 10.53.0.1 "${TAG}-up" 10.53.0.2 "dn$$"
ip netns exec "${TAG}-up" dnsmasq --no-resolv --no-hosts --local=/test/ --address=/outside.test/192.0.2.7 \
  --listen-address=10.53.0.2 --bind-interfaces --pid-file="$WORK/dnsmasq.pid" --user=root

# setup NAME ANNOTATIONS_JSON [ID]: the hook by hand on a fresh netns named after the container.
setup() {
  new_netns "${TAG}-$1"
  local b
  b=$(bundle_for "$1" "/run/netns/${TAG}-$1")
  hook createRuntime "$(state "${3:-$1}" "$b" "$(jq -c --arg n "$1" '. + {"io.ocinet.name": $n}' <<<"$2")")" || die "$1 did not set up"
}
teardown() { hook poststop "{\"id\":\"${2:-$1}\",\"status\":\"stopped\",\"pid\":0}"; }
# q NAME DIG_ARGS...: dig from inside container NAME at 127.0.0.11, short answers sorted.
q() { local c=$1; shift; ip netns exec "${TAG}-$c" dig @127.0.0.11 +time=2 +tries=1 +short "$@" | sort; }
status_of() { local c=$1; shift; ip netns exec "${TAG}-$c" dig @127.0.0.11 +time=4 +tries=1 "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
server_pid() { pgrep -f "ocinet-dns .*--run-dir $OCINET_RUN_DIR" | head -1; }

ocinet network create --dns 10.53.0.2 app >/dev/null
ocinet network create app2 >/dev/null
ocinet network create --internal --dns 10.53.0.2 inet >/dev/null
ocinet network create --disable-dns nodns >/dev/null
ocinet network inspect nodns | jq -e '.[0].DNSEnabled == false' >/dev/null || die "inspect nodns: DNSEnabled is not false"

# User networks exist and no server runs: a setup forks the launcher, which must go with the hook
# when the setup needs no server (a default-bridge container): no process left in the host netns.
setup early '{}'
for _ in $(seq 20); do [ -z "$(ip netns pids "$HOSTNS")" ] && break; sleep 0.05; done
[ -z "$(ip netns pids "$HOSTNS")" ] || die "processes left in the host netns after a setup that needed no server: $(ip netns pids "$HOSTNS" | xargs -r ps -o pid=,comm= -p)"
ok "a setup that needs no name server starts none and leaves no launcher behind"

LONG=$(printf 'a%.0s' {1..63})b  # a 64-character id: answered by its 12-character short form too
setup web '{"io.ocinet.network": "app", "io.ocinet.aliases": "api"}'
hosts_before=$(cat "$WORK/b-web/rootfs/etc/hosts")
setup web2 '{"io.ocinet.network": "app", "io.ocinet.aliases": "api"}' "$LONG"
setup db '{"io.ocinet.network": "app2"}'
setup both '{"io.ocinet.network": "app,app2", "io.ocinet.links": "web:w1"}'
W=$(ip_of web app) W2=$(ip_of "$LONG" app) D=$(ip_of db app2)
[ -n "$(server_pid)" ] || die "no name server runs after setups on a user network"

r=$(cat "$WORK/b-web/rootfs/etc/resolv.conf")
grep -q '^nameserver 127.0.0.11$' <<<"$r" && [ "$(grep -c '^nameserver' <<<"$r")" = 1 ] && grep -q '^options.*ndots:0' <<<"$r" ||
  die "web's resolv.conf is not Docker's (nameserver 127.0.0.11 alone, options ndots:0): $r"
ok "resolv.conf on a user network: nameserver 127.0.0.11 alone, options ndots:0"
[ "$(cat "$WORK/b-web/rootfs/etc/hosts")" = "$hosts_before" ] || die "web's /etc/hosts changed when web2 started"
! grep -q web2 "$WORK/b-web/rootfs/etc/hosts" || die "web's /etc/hosts names web2"
ok "a setup rewrites no running container's /etc/hosts"

[ "$(q web web2)" = "$W2" ] || die "web: web2 -> '$(q web web2)', want $W2"
[ "$(q web WEB2.app)" = "$W2" ] || die "web: WEB2.app -> '$(q web WEB2.app)', want $W2"
[ "$(q web "${LONG:0:12}")" = "$W2" ] || die "web: the short id ${LONG:0:12} does not answer"
[ "$(q web2 web +tcp)" = "$W" ] || die "web2 over TCP: web -> '$(q web2 web +tcp)', want $W"
[ "$(ip netns exec "${TAG}-web" busybox nslookup web2 127.0.0.11 2>/dev/null | grep -c "$W2")" -ge 1 ] ||
  die "busybox nslookup web2 from web does not find $W2"
ok "names answer over UDP and TCP: name, NAME.network (any case), short id, busybox nslookup"
[ "$(q web api | tr '\n' ' ')" = "$(printf '%s\n' "$W" "$W2" | sort | tr '\n' ' ')" ] || die "api -> '$(q web api)', want $W and $W2"
firsts=$(for _ in $(seq 12); do ip netns exec "${TAG}-web" dig @127.0.0.11 +short api | head -1; done | sort -u | wc -l)
[ "$firsts" = 2 ] || die "a shared alias always answers in the same order (12 queries)"
ok "a shared alias answers every holder, in an order that changes"
[ "$(q web -x "$W2")" = "web2.app." ] || die "PTR of $W2 -> '$(q web -x "$W2")', want web2.app."
ok "PTR of a container address answers name.network."
[ -z "$(q web db)" ] && [ -z "$(q db web)" ] || die "web and db (no network in common) resolve each other"
[ "$(q both db)" = "$D" ] && [ "$(q both web)" = "$W" ] || die "both (app, app2) does not resolve db and web"
[ "$(q both w1)" = "$W" ] && [ -z "$(q web2 w1)" ] || die "the link alias w1 must answer for both only"
ok "only containers sharing a network answer; a link answers for the container that declared it"
[ "$(q web outside.test)" = 192.0.2.7 ] || die "outside.test not forwarded to the network's --dns upstream"
[ "$(status_of web nothing.test)" = NXDOMAIN ] || die "the upstream's NXDOMAIN is not passed back: $(status_of web nothing.test)"
ok "other names go to the network's upstream; its NXDOMAIN is passed back"

setup in1 '{"io.ocinet.network": "inet"}'
setup in2 '{"io.ocinet.network": "inet"}'
[ "$(q in1 in2)" = "$(ip_of in2 inet)" ] || die "names do not answer on an --internal network"
[ -z "$(q in1 outside.test)" ] || die "an --internal network's container got an outside name answered"
ok "--internal: names answer, nothing is forwarded"

setup plain '{}'
setup off1 '{"io.ocinet.network": "nodns"}'
for c in plain off1; do
  ! grep -q 127.0.0.11 "$WORK/b-$c/rootfs/etc/resolv.conf" || die "$c's resolv.conf points at 127.0.0.11"
  ! ip netns exec "${TAG}-$c" dig @127.0.0.11 +time=1 +tries=1 +short web 2>/dev/null | grep -q '^[0-9]' || die "$c is answered at 127.0.0.11"
done
ok "the default bridge and a --disable-dns network have no name server"

teardown web2 "$LONG"
[ -z "$(q web web2)" ] || die "web2 still answers right after its teardown"
ok "a torn-down container no longer answers"

old=$(server_pid)
kill -9 "$old"
setup web3 '{"io.ocinet.network": "app"}'
t0=$(date +%s%N)
until [ "$(q both web)" = "$W" ]; do
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000 ] || die "after the server was killed, web is not answered within 1 s of the next setup"
  sleep 0.05
done
[ "$(q web3 both | tr '\n' ' ')" = "$(printf '%s\n' "$(ip_of both app)" | sort | tr '\n' ' ')" ] || die "web3 does not find both"
[ "$(server_pid)" != "$old" ] || die "the server was not started again"
ok "a killed server is started by the next setup and answers every running container within 1 s"

for c in early web db both in1 in2 plain off1 web3; do teardown "$c"; done
served=$(ip netns exec "$HOSTNS" "$BIN/ocinet" dns status | jq '.endpoints | length')
[ "$served" = 0 ] || die "the server still serves $served endpoints after every teardown"
ok "after every teardown the server serves nothing (their sockets, which hold the netns, are closed)"
echo "$pass passed, 0 failed"
