#!/usr/bin/env bash
# Installs what building and testing ocinet needs, from Debian 12's own packages.
set -euo pipefail
pkgs=(cmake g++ make pkg-config
      libnl-3-dev libnl-route-3-dev libiptc-dev libnftables-dev nlohmann-json3-dev libspdlog-dev
      libseccomp-dev catch2 libcli11-dev libcurl4-openssl-dev libc6-dev
      runc crun podman busybox-static iproute2 iptables nftables jq util-linux procps git tar
      clang libclang-rt-14-dev debhelper dpkg-dev rpm
      etcd-server etcd-client
      libknot-dev bind9-dnsutils dnsperf aardvark-dns dnsmasq-base)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
