#!/usr/bin/env bash
# The same hook under crun: a published port answers, teardown leaves nothing. crun refuses this
# machine's hybrid cgroup layout, so it runs in a private mount namespace with pure cgroup2 and
# its cgroup manager disabled (../shared/ENVIRONMENT.md), inside the test's host netns.
set -euo pipefail
BIN=${1:?usage: crun_bridge.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v crun >/dev/null || { echo "SKIP: crun is not installed"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is needed to write the bundle's config.json"; exit 77; }
. "$(dirname "$0")/../lib.sh"
CRUN_ROOT="$WORK/crun"
crun_do() {
  nsenter --net="/run/netns/$HOSTNS" unshare -m sh -c \
    'umount -l /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup && exec crun --root "$0" --cgroup-manager=disabled "$@"' \
    "$CRUN_ROOT" "$@"
}
crun_cleanup() { crun_do delete -f web >/dev/null 2>&1 || true; cleanup; }
trap crun_cleanup EXIT

new_netns "$HOSTNS"
new_netns "${TAG}-client"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 cl
make_bundle "$WORK/web" '{"io.ocinet.ports":"8080:80","io.ocinet.name":"web"}' '["httpd","-f","-p","80","-h","/www"]'
if ! crun_do run -d --bundle "$WORK/web" web </dev/null >"$WORK/crun.log" 2>&1; then
  if grep -qi "cgroup" "$WORK/crun.log"; then echo "SKIP: crun cannot start here: $(head -1 "$WORK/crun.log")"; exit 77; fi
  cat "$WORK/crun.log" >&2
  die "crun run failed"
fi
ok "crun started the container with the hook"
body=$(http_get "${TAG}-client" http://10.77.0.1:8080/)
[ "$body" = "hello from ocinet" ] || die "published port did not answer under crun (got '$body')"
ok "published port answers under crun"
crun_do kill web KILL >/dev/null 2>&1 || true
for _ in $(seq 50); do crun_do state web 2>/dev/null | grep -q '"stopped"' && break; sleep 0.1; done
crun_do delete web
[ "$(host_veths)" = 0 ] || die "veth left after crun delete"
[ "$(fw_rules 'ocinet:web')" = 0 ] || die "firewall rules left after crun delete"
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "endpoint record left after crun delete"
ok "crun delete ran the poststop hook: nothing left"
echo "$pass passed, 0 failed"
