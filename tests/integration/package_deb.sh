#!/usr/bin/env bash
# Packaging end to end: builds the .deb (and the RPM), installs it on this machine, runs a Podman container
# through the installed hook (hooks.d file and /usr/libexec/ocinet/ocinet-hook as packaged, in
# the test's own host netns), checks its published port, and purges the package leaving nothing.
set -euo pipefail
BIN=${1:?usage: package_deb.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to install a package"; exit 77; }
command -v dpkg-buildpackage >/dev/null || { echo "SKIP: dpkg-buildpackage missing (apt-get install dpkg-dev debhelper)"; exit 77; }
command -v podman >/dev/null || { echo "SKIP: podman is not installed"; exit 77; }
if dpkg -s ocinet >/dev/null 2>&1; then echo "SKIP: an ocinet package is already installed here; not replacing it"; exit 77; fi
. "$(dirname "$0")/../lib.sh"
unset OCINET_RUN_DIR OCINET_LIB_DIR OCINET_CONFIG  # the packaged defaults are what is tested
pm() {
  nsenter --net="/run/netns/$HOSTNS" podman --root "$WORK/storage" --runroot "$WORK/runroot" --tmpdir "$WORK/ptmp" \
    --storage-driver vfs --events-backend file --runtime runc --cgroup-manager cgroupfs \
    --hooks-dir /usr/share/containers/oci/hooks.d "$@"
}
pkg_cleanup() {
  pm rm -f -t 0 -a >/dev/null 2>&1 || true
  pm rmi -a -f >/dev/null 2>&1 || true
  dpkg --purge ocinet >/dev/null 2>&1 || true
  cleanup
}
trap pkg_cleanup EXIT

deb=$(bash "$(dirname "$0")/../../packaging/build-deb.sh") || { echo "$deb" | tail -40 >&2; die "no .deb built"; }
deb=$(echo "$deb" | tail -1)
[ -f "$deb" ] || die "no .deb built"
dpkg -i "$deb" >/dev/null
for f in /usr/libexec/ocinet/ocinet-hook /usr/bin/ocinet /usr/share/containers/oci/hooks.d/ocinet.json /etc/ocinet/ocinet.json \
  /usr/share/man/man1/ocinet.1.gz /usr/share/man/man8/ocinet-hook.8.gz /usr/share/bash-completion/completions/ocinet \
  /lib/systemd/system/ocinet-agent.service; do
  [ -e "$f" ] || die "package did not install $f"
done
grep -q '^ExecStart=/usr/bin/ocinet agent' /lib/systemd/system/ocinet-agent.service || die "agent unit does not run ocinet agent"
grep -q '^ExecStart=/usr/bin/ocinet network reload --all' /lib/systemd/system/ocinet-firewall-reload.service ||
  die "the firewall reload unit is not installed or does not run network reload"
[ -L /etc/systemd/system/multi-user.target.wants/ocinet-firewall-reload.service ] ||
  die "the firewall reload unit is not enabled"
jq -e '.hook.path == "/usr/libexec/ocinet/ocinet-hook"' /usr/share/containers/oci/hooks.d/ocinet.json >/dev/null || die "hooks.d points elsewhere"
ok "the .deb builds and installs hook, CLI, hooks.d file, config, man pages, completion and the agent unit"
# The hook is a static PIE carrying libc.a (CMakeLists.txt, OCINET_STATIC_HOOK): the package
# says which glibc it was built with, and the hook still runs the installed libraries' dlopen path
# (the Podman container below is its network's first: the table is made through libnftables).
[ -z "$(readelf -l /usr/libexec/ocinet/ocinet-hook | grep -i 'program interpreter')" ] || die "the installed hook is not statically linked"
dpkg-deb -f "$deb" Built-Using | grep -q '^glibc (= ' || die "the .deb does not name the glibc it carries (Built-Using)"
ok "the installed hook is a static PIE and the .deb's Built-Using names glibc"

new_netns "$HOSTNS"
new_netns "${TAG}-client"
link_netns "$HOSTNS" 10.77.0.1 "${TAG}-client" 10.77.0.2 cl
mkdir -p "$WORK/ptmp"
make_rootfs "$WORK/rootfs"
tar -C "$WORK/rootfs" -cf "$WORK/bb.tar" .
pm import "$WORK/bb.tar" localhost/ocinet-bb >/dev/null 2>&1 || { echo "SKIP: podman cannot import an image here"; exit 77; }
pm run -d --name web --network=none --ulimit nofile=20000:20000 --ulimit nproc=20000:20000 \
  --annotation io.ocinet.ports=8080:80 localhost/ocinet-bb httpd -f -p 80 -h /www >/dev/null
[ "$(http_get "${TAG}-client" http://10.77.0.1:8080/)" = "hello from ocinet" ] || die "published port did not answer through the installed hook"
ip netns exec "$HOSTNS" ocinet ps | grep -q '8080->80/tcp' || die "ocinet ps (installed) does not show the endpoint"
pm rm -f -t 0 web >/dev/null
[ -z "$(ls /run/ocinet/endpoints 2>/dev/null)" ] || die "endpoint record left after podman rm"
ok "a Podman container gets its published port through the installed hook; rm releases it"

dpkg --purge ocinet >/dev/null
for f in /usr/libexec/ocinet /usr/bin/ocinet /usr/share/containers/oci/hooks.d/ocinet.json /etc/ocinet /run/ocinet /var/lib/ocinet \
  /lib/systemd/system/ocinet-agent.service /usr/lib/systemd/system/ocinet-agent.service \
  /lib/systemd/system/ocinet-firewall-reload.service /usr/lib/systemd/system/ocinet-firewall-reload.service \
  /etc/systemd/system/multi-user.target.wants/ocinet-firewall-reload.service; do
  [ ! -e "$f" ] || die "$f left after purge"
done
ok "purge leaves nothing"

# The RPM builds too (rpmbuild from Debian's rpm package) and carries the same files.
if command -v rpmbuild >/dev/null; then
  rpm_file=$(bash "$(dirname "$0")/../../packaging/build-rpm.sh" | tail -1)
  files=$(rpm -qlp "$rpm_file" 2>/dev/null)
  for f in /usr/libexec/ocinet/ocinet-hook /usr/bin/ocinet /usr/share/containers/oci/hooks.d/ocinet.json /etc/ocinet/ocinet.json \
    /usr/lib/systemd/system/ocinet-agent.service /usr/lib/systemd/system/ocinet-firewall-reload.service; do
    grep -qx "$f" <<<"$files" || die "the RPM lacks $f"
  done
  ok "the RPM builds with rpmbuild and carries hook, CLI, hooks.d file and config"
fi
echo "$pass passed, 0 failed"
