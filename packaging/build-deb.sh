#!/usr/bin/env bash
# Builds the Debian package from the working tree: build/packages/ocinet_<version>_<arch>.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/build/packages
src=$(mktemp -d /tmp/ocinet-deb.XXXXXX)
trap 'rm -rf "$src"' EXIT
mkdir -p "$src/ocinet" "$out"
# The tracked files as they are in the working tree, plus the debian/ directory at the top.
git ls-files -z | xargs -0 -I{} cp --parents {} "$src/ocinet/"
cp -r packaging/deb/debian "$src/ocinet/debian"
(cd "$src/ocinet" && dpkg-buildpackage -us -uc -b >"$src/build.log" 2>&1) || { tail -40 "$src/build.log"; exit 1; }
cp "$src"/ocinet_*.deb "$out/"
ls "$out"/ocinet_*.deb
