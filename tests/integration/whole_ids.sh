#!/usr/bin/env bash
# Container ids are whole keys: runc containers frontend-web-1 and frontend-web-2 (the same first
# 12 characters, no io.ocinet.name) both start on a user network and both publish a port; stray
# poststops for ids never set up (frontend-web-9, and frontend-web, their shared 12-character
# prefix) touch neither; tearing one down leaves the other's port, rules and peers' hosts lines;
# `ocinet ps` shows them apart.
set -euo pipefail
BIN=${1:?usage: whole_ids.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou
ocinet network create unet >/dev/null

# run_web ID PORT: busybox httpd on :80 of a container named by its id alone, publishing PORT.
run_web() {
  make_bundle "$WORK/$1" "{\"io.ocinet.network\":\"unet\",\"io.ocinet.ports\":\"$2:80\"}" '["httpd","-f","-p","80","-h","/www"]'
  echo "$1" >"$WORK/$1/rootfs/www/index.html"
  run_container "$1" "$WORK/$1"
}
page() { http_get "${TAG}-out" "http://10.88.0.1:$1/"; }
# resolves NAME: the peer's lookup (busybox nslookup, through its resolv.conf: the name server)
# finds NAME's address on unet.
resolves() { in_container peer nslookup "$1" 2>/dev/null | grep -q "Address.*$2"; }
stray_poststop() { hook poststop "{\"id\":\"$1\",\"status\":\"stopped\",\"pid\":0}" || die "poststop of unknown $1 failed"; }

start peer unet
run_web frontend-web-1 8081 || die "frontend-web-1 did not start"
run_web frontend-web-2 8082 || die "frontend-web-2 did not start (its default name clashed?)"
[ "$(page 8081)" = frontend-web-1 ] && [ "$(page 8082)" = frontend-web-2 ] || die "published ports do not answer"
ok "two containers whose ids share 12 characters start and publish"

ocinet ps --format json | jq -e '[.[].name] | sort == ["frontend-web-1","frontend-web-2","peer"]' >/dev/null ||
  die "default names are not the whole ids: $(ocinet ps --format json | jq -c '[.[].name]')"
ids=$(ocinet ps | awk 'NR > 1 {print $1}' | sort)
[ "$(echo "$ids" | uniq | wc -l)" = 3 ] && echo "$ids" | grep -qx frontend-web-1 && echo "$ids" | grep -qx frontend-web-2 ||
  die "ocinet ps shows two containers the same way: $ids"
ok "ocinet ps shows each id whole, names default to them"

W1=$(ip_of frontend-web-1 unet) W2=$(ip_of frontend-web-2 unet)
resolves frontend-web-1 "$W1" && resolves frontend-web-2 "$W2" || die "the peer does not resolve both by their whole ids ($W1, $W2)"
ok "the peer resolves each container by its whole id" 
stray_poststop frontend-web-9
stray_poststop frontend-web
[ "$(page 8081)" = frontend-web-1 ] && [ "$(page 8082)" = frontend-web-2 ] || die "a stray poststop removed published ports"
[ "$(fw_dnats 'ocinet:frontend-web-1')" -ge 1 ] && [ "$(fw_dnats 'ocinet:frontend-web-2')" -ge 1 ] ||
  die "a stray poststop removed firewall rules"
ok "poststops of ids never set up touch neither container"

stop_container frontend-web-1
[ "$(page 8082)" = frontend-web-2 ] || die "frontend-web-2's port stopped answering when frontend-web-1 went"
[ -z "$(page 8081)" ] || die "frontend-web-1's port still answers after its teardown"
resolves frontend-web-2 "$W2" || die "frontend-web-1's teardown took frontend-web-2's name"
! resolves frontend-web-1 "$W1" || die "frontend-web-1 still resolves after its teardown"
in_container peer ping -c 1 -W 2 frontend-web-2 >/dev/null || die "peer cannot reach frontend-web-2 by name"
[ "$(fw_rules 'ocinet:frontend-web-1"')$(fw_rules 'ocinet:frontend-web-1 ')" = 00 ] || die "frontend-web-1's rules outlived it"
ok "a teardown takes only its own port, rules and name"

stop_container frontend-web-2
stop_container peer
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "records left: $(ls "$OCINET_RUN_DIR/endpoints")"
[ "$(fw_rules 'ocinet:frontend')" = 0 ] || die "rules left after teardown"
ok "all gone after teardown"
echo "$pass passed, 0 failed"
