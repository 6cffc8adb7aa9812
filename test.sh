#!/usr/bin/env bash
# Installs the build dependencies, builds, and runs every test (unit tests need no root; the
# integration tests need root and run in network namespaces they create and remove).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure "$@"
