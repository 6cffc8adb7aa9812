#!/usr/bin/env bash
# The "in a row" part of bench/run-all.sh alone: one bridge network, one published TCP port per
# container, N containers set up in a row, torn down (netns alive), set up again and torn down
# after their namespaces are gone, for ocinet, the CNI reference plugins and netavark, each in
# its own isolated host netns, interleaved. Prints the markdown table; the committed results
# in bench/results are left alone. The full comparison is `sudo bench/run-all.sh`.
# Usage: sudo bench/compare.sh [N] [BIN_DIR]
set -euo pipefail
out=$(mktemp -d /tmp/ocinet-compare.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$(dirname "$0")/run-all.sh" --phases row -n "${1:-100}" --bin "${2:-build/bin}" --no-install --no-build --out "$out"
