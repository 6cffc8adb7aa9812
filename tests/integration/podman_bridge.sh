#!/usr/bin/env bash
# The same hook under Podman 4, through an oci-hooks directory (hooks.d JSON like the one
# `cmake --install` ships), with the runtime in the test's host netns: a published port answers,
# /etc/hosts (which Podman bind-mounts) gets the container's address, and `podman rm` leaves
# nothing. Podman's storage is private to the test.
set -euo pipefail
BIN=${1:?usage: podman_bridge.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v podman >/dev/null || { echo "SKIP: podman is not installed"; exit 77; }
command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
. "$(dirname "$0")/../lib.sh"
pm() {
  nsenter --net="/run/netns/$HOSTNS" podman --root "$WORK/storage" --runroot "$WORK/runroot" --tmpdir "$WORK/ptmp" \
    --storage-driver vfs --events-backend file --runtime runc --cgroup-manager cgroupfs --hooks-dir "$WORK/hooks.d" "$@"
}
pm_cleanup() { pm rm -f -t 0 -a >/dev/null 2>&1 || true; pm rmi -a -f >/dev/null 2>&1 || true; cleanup; }
trap pm_cleanup EXIT

new_netns "$HOSTNS"
new_netns "${TAG}-client"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 cl
mkdir -p "$WORK/hooks.d" "$WORK/ptmp"
jq -n --arg hook "$HOOK" --arg r "$OCINET_RUN_DIR" --arg l "$OCINET_LIB_DIR" --arg c "$OCINET_CONFIG" '{
  version: "1.0.0",
  hook: {path: $hook, args: ["ocinet-hook"], env: ["OCINET_RUN_DIR=" + $r, "OCINET_LIB_DIR=" + $l, "OCINET_CONFIG=" + $c]},
  when: {annotations: {"^io\\.ocinet\\.": ".*"}},
  stages: ["precreate", "createRuntime", "poststop"]}' >"$WORK/hooks.d/ocinet.json"
make_rootfs "$WORK/rootfs"
tar -C "$WORK/rootfs" -cf "$WORK/bb.tar" .
if ! pm import "$WORK/bb.tar" localhost/ocinet-bb >"$WORK/import.log" 2>&1; then
  echo "SKIP: podman cannot import an image here: $(tail -1 "$WORK/import.log")"
  exit 77
fi
if ! pm run -d --name web --network=none --ulimit nofile=20000:20000 --ulimit nproc=20000:20000 \
  --annotation io.ocinet.ports=8080:80 --annotation io.ocinet.name=web \
  localhost/ocinet-bb httpd -f -p 80 -h /www >"$WORK/run.log" 2>&1; then
  cat "$WORK/run.log" >&2
  die "podman run failed"
fi
ok "podman ran the container with the hook from hooks.d"
body=$(http_get "${TAG}-client" http://10.77.0.1:8080/)
[ "$body" = "hello from ocinet" ] || die "published port did not answer under podman (got '$body')"
ok "published port answers under podman"
ip=$(jq -r '.attachments[0].ip' "$OCINET_RUN_DIR/endpoints/"*.json)
pm exec web cat /etc/hosts | grep -q "^$ip[[:space:]].*web" || die "podman's bind-mounted /etc/hosts lacks '$ip web'"
ok "/etc/hosts written through podman's bind mount"
pm rm -f -t 0 web >/dev/null
[ "$(host_veths)" = 0 ] || die "veth left after podman rm"
[ -z "$(ls "$OCINET_RUN_DIR/endpoints")" ] || die "endpoint record left after podman rm"
[ "$(fw_rules 'ocinet:')" = 0 ] || die "firewall rules left after podman rm"
ok "podman rm ran the poststop hook: nothing left"
echo "$pass passed, 0 failed"
