#!/usr/bin/env bash
# Smoke test of bench/run-all.sh: every phase with tiny numbers (3 containers in a row, 3 at
# once, levels 0 and 3, 2 samples). Checks that ocinet's figures are real numbers, that every
# installed peer either has figures or a stated reason, and that nothing is left behind.
# Usage: bench_smoke.sh BIN_DIR
set -euo pipefail
BIN=$(readlink -f "${1:?usage: bench_smoke.sh BIN_DIR}")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/ocinet-bench-smoke.XXXXXX)
before=$(ls -d /tmp/ocinet-bench.* 2>/dev/null || true)
trap 'rm -rf "$OUT"' EXIT
"$REPO/bench/run-all.sh" -n 3 -k 2 -c 3 -r 1 --levels "0 3" --bin "$BIN" --no-install --no-build --out "$OUT" >"$OUT/stdout" 2>"$OUT/stderr" ||
  { cat "$OUT/stderr"; echo "FAIL: run-all.sh exited non-zero"; exit 1; }
md="$OUT/latest.md"
fail() { cat "$md" "$OUT/stderr"; echo "FAIL: $*"; exit 1; }
grep -Eq '^\| ocinet \(nftables\) \| [0-9]+\.[0-9]+ ms \| [0-9]+\.[0-9]+ ms \| [0-9]+\.[0-9]+ ms \|' "$md" || fail "no in-a-row figures for ocinet"
grep -Eq '^\| 3 \| [0-9]+\.[0-9]+ ms' "$md" || fail "no figure at 3 existing containers"
grep -Eq '^\| peak RSS of the hook ≤ 8 MiB \| [0-9]+\.[0-9] MiB' "$md" || fail "no peak RSS"
[ "$(grep -c '^| ocinet (nftables) |' "$md")" = 2 ] || fail "ocinet missing from the in-a-row or concurrent table"
[ -s "$OUT/latency-vs-existing.dat" ] || fail "no plot data"
for peer in "CNI bridge + host-local + portmap" netavark; do
  grep -Fq "| $peer | " "$md" || grep -Fq "**$peer: cannot run here" "$md" || fail "$peer: neither figures nor a reason"
done
# Nothing of the run may remain visible from here.
! grep -q ocinet-bench /proc/self/mountinfo || fail "a bench mount is left"
[ "$(ls -d /tmp/ocinet-bench.* 2>/dev/null || true)" = "$before" ] || fail "a bench work dir is left"
echo "bench smoke: ok ($(grep -c '^| ' "$md") table rows)"
