#!/usr/bin/env bash
# Builds the RPM from the working tree with rpmbuild (Debian's `rpm` package works: the build
# dependencies are Debian's, so rpmbuild is told not to look for them in an rpm database).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/build/packages
top=$(mktemp -d /tmp/ocinet-rpm.XXXXXX)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{SOURCES,SPECS,BUILD,RPMS,SRPMS} "$out" "$top/src/ocinet-0.1.0"
git ls-files -z | xargs -0 -I{} cp --parents {} "$top/src/ocinet-0.1.0/"
tar -C "$top/src" -czf "$top/SOURCES/ocinet-0.1.0.tar.gz" ocinet-0.1.0
cp packaging/rpm/ocinet.spec "$top/SPECS/"
rpmbuild --define "_topdir $top" --nodeps -bb "$top/SPECS/ocinet.spec" >"$top/build.log" 2>&1 || { tail -40 "$top/build.log"; exit 1; }
cp "$top"/RPMS/*/ocinet-*.rpm "$out/"
ls "$out"/ocinet-*.rpm
