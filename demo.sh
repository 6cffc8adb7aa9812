#!/usr/bin/env bash
# The main job, visibly: a runc container gets networking and a published port from ocinet.
# Builds ocinet, then inside a "host" network namespace made for the demo (the machine's own
# network is never touched): starts busybox httpd in a container with io.ocinet.ports=8080:80,
# fetches the page from a separate "client" namespace through the published port, stops the
# container and shows that its veth, firewall rules and lease are gone.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
BIN="$PWD/build/bin"
. tests/lib.sh

step "host namespace $HOSTNS (10.77.0.1) and client namespace ${TAG}-client (10.77.0.2)"
new_netns "$HOSTNS"
new_netns "${TAG}-client"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 up

step "container 'web': busybox httpd on :80, annotations io.ocinet.ports=8080:80 io.ocinet.name=web"
make_bundle "$WORK/web" '{"io.ocinet.ports":"8080:80","io.ocinet.name":"web"}' '["httpd","-f","-p","80","-h","/www"]'
run_container web "$WORK/web"
ip netns exec "$HOSTNS" "$BIN/ocinet" ps
echo "-- ocinet's firewall rules in the host namespace:"
fw_dump | grep -i -E 'ocinet|pub_|masq|bridges' | head -30
echo "-- inside the container:"
in_container web ip -4 addr show eth0 | grep inet
in_container web ip route
in_container web cat /etc/hosts

step "client: wget http://10.77.0.1:8080/"
body=$(http_get "${TAG}-client" http://10.77.0.1:8080/)
echo "$body"
[ "$body" = "hello from ocinet" ] || die "no answer through the published port"

id=web
step "stop the container (runc delete runs the poststop hook)"
stop_container web
CONTAINERS=()
echo "-- links in the host namespace (the ocinet0 bridge stays, like docker0):"
ip -n "$HOSTNS" -br link
echo "-- firewall rules of the container: $(fw_rules "ocinet:$id")"
echo "-- leases: $(marks "$OCINET_RUN_DIR/ipam" | wc -l)"
echo "-- endpoint records: $(find "$OCINET_RUN_DIR/endpoints" -type f | wc -l)"
[ "$(host_veths)" = 0 ] || die "a veth is left"
[ "$(fw_rules "ocinet:$id")" = 0 ] || die "a firewall rule is left"
echo "demo: OK"
