#!/usr/bin/env bash
# The CLI's contract on bad requests: exit 1 and one line on stderr. State lives in temporary
# directories; as root the whole test runs in a network namespace of its own, because
# `network rm` clears the network's bridge and firewall rules wherever it runs.
set -euo pipefail
BIN=${1:?usage: cli_args.sh BIN_DIR}
if [ "$(id -u)" = 0 ] && [ -z "${OCINET_TEST_NETNS:-}" ]; then
  OCINET_TEST_NETNS=1 exec unshare -n bash "$0" "$@"
fi
WORK=$(mktemp -d /tmp/ocinet-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export OCINET_RUN_DIR="$WORK/run" OCINET_LIB_DIR="$WORK/lib" OCINET_CONFIG="$WORK/none.json"
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE PATTERN ARGS...: exit status, exactly one stderr line, containing PATTERN.
expect() {
  local code=$1 pat=$2 rc=0 err
  shift 2
  err=$(timeout 10 "$BIN/ocinet" "$@" 2>&1 >/dev/null) || rc=$?  # a hang fails (124)
  [ "$rc" = "$code" ] || fail "ocinet $*: want exit $code, got $rc ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "ocinet $*: want one stderr line, got: $err"
  [[ "$err" == *"$pat"* ]] || fail "ocinet $*: message lacks '$pat': $err"
  pass=$((pass + 1))
}

expect 1 "" bogus
expect 1 "" network
expect 1 "required" network create
expect 1 "invalid network name" network create 'a b'
expect 1 "reserved" network create none
expect 1 "etcd.endpoints" network create -d overlay o1   # overlay without etcd configured
expect 1 "host bits" network create --subnet 10.250.0.1/24 n1
expect 1 "IPv4 CIDR" network create --subnet banana n1
expect 1 "--gateway" network create --subnet 10.250.0.0/24 --gateway 10.251.0.1 n1
expect 1 "KEY=VALUE" network create -o novalue n1
expect 1 "mcast_snooping=maybe: want true or false" network create -o mcast_snooping=maybe n1
expect 1 "--mtu" network create --mtu 20 n1
"$BIN/ocinet" network create --subnet 10.250.0.0/24 n1 >/dev/null
expect 1 "already exists" network create n1
expect 1 "overlaps network \"n1\"" network create --subnet 10.250.0.128/25 n2
expect 1 "not found" network inspect nosuch
expect 1 "not found" network rm nosuch
expect 1 "default network" network rm bridge
expect 1 "no container" network connect n1 nosuch
expect 1 "--format" ps --format xml
# bundle inject reads config.json only when it is a regular file of at most 1 MiB: a FIFO once
# hung it, a symlink to a regular file is followed.
mkdir -p "$WORK/b"
mkfifo "$WORK/b/config.json"
expect 1 "$WORK/b/config.json is not a regular file" bundle inject "$WORK/b"
rm "$WORK/b/config.json" && ln -s /dev/zero "$WORK/b/config.json"
expect 1 "$WORK/b/config.json is not a regular file" bundle inject "$WORK/b"
rm "$WORK/b/config.json" && truncate -s 100M "$WORK/b/config.json"
expect 1 "$WORK/b/config.json is larger than 1 MiB" bundle inject "$WORK/b"
rm "$WORK/b/config.json" && echo '{"root":{"path":"rootfs"}}' >"$WORK/b/real.json" && ln -s real.json "$WORK/b/config.json"
"$BIN/ocinet" bundle inject "$WORK/b" --annotation io.ocinet.name=web >/dev/null
jq -e '.annotations["io.ocinet.name"] == "web"' "$WORK/b/config.json" >/dev/null || fail "inject through a symlink did not annotate"
pass=$((pass + 1))
"$BIN/ocinet" network inspect n1 | grep -q '"Subnet": "10.250.0.0/24"' || fail "inspect does not show the subnet"
"$BIN/ocinet" network rm n1 >/dev/null
"$BIN/ocinet" network ls | grep -q ' n1 ' && fail "n1 still listed after rm"
pass=$((pass + 1))
echo "$pass passed, 0 failed"
