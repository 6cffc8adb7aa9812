#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time (FUZZ_SECONDS,
# default 6) from the seed corpus. A crash fails the test and leaves its input in
# build/fuzz/crash-*; turn each into a unit test. Longer run: FUZZ_SECONDS=600 bash tests/fuzz/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build}/fuzz
command -v clang++ >/dev/null || { echo "SKIP: clang++ is not installed (apt-get install clang)"; exit 77; }
secs=${FUZZ_SECONDS:-6}
CC=clang CXX=clang++ cmake -S "$here" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
work=""
trap 'rm -rf "$work"' EXIT  # also when the run is killed part-way (a CI stop left one behind)
for t in oci_state annotations ports network_def hosts_merge dns_query; do
  work=$(mktemp -d /tmp/ocinet-fuzz.XXXXXX)
  cp "$here/corpus/$t/"* "$work/"
  if ! (cd "$out" && "./fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=5 "$work" >"$out/$t.log" 2>&1); then
    tail -30 "$out/$t.log"
    rm -rf "$work"
    echo "fuzz_$t: crash (input saved in $out)"
    exit 1
  fi
  echo "fuzz_$t: $(grep -o 'Done [0-9]* runs' "$out/$t.log" | tail -1) in ${secs}s, no crash"
  rm -rf "$work"
done
echo "6 passed, 0 failed"
