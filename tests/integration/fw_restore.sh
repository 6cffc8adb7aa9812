#!/usr/bin/env bash
# Restored after a flush, once per firewall backend: fw_restore.sh BIN_DIR iptables|nftables
# Networks A and B, a1 on A publishing 8081:80, b1 on B. Checked before a flush, right after it
# (what a flush exposes until the restore: documented in the README), and after each way the
# rules come back: the next setup, `ocinet network reload --all`, the next teardown. A reload
# run twice changes nothing; after teardown and `network rm` the firewall is as before.
set -euo pipefail
BIN=${1:?usage: fw_restore.sh BIN_DIR BACKEND}
BACKEND=${2:?usage: fw_restore.sh BIN_DIR BACKEND}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"
echo "{\"firewall_backend\":\"$BACKEND\"}" >"$OCINET_CONFIG"

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou
fw_look_first "$BACKEND"
before=$(fw_ruleset "$BACKEND")
if [ "$BACKEND" = nftables ] && ! ip netns exec "$HOSTNS" nft list tables >/dev/null 2>&1; then
  echo "SKIP: this kernel has no nf_tables"; exit 77
fi

flush() {
  if [ "$BACKEND" = nftables ]; then ip netns exec "$HOSTNS" nft flush ruleset
  else  # what iptables-restore of a saved ruleset without ocinet's chains amounts to
    for ipt in iptables-legacy ip6tables-legacy; do
      for t in nat filter; do ip netns exec "$HOSTNS" $ipt -w -t $t -F; ip netns exec "$HOSTNS" $ipt -w -t $t -X; done
    done
  fi
}
# working WHEN: a1's port from the outside, a1's masqueraded egress (the outside has no route
# back to A), and isolation (b1 cannot reach a1's address).
working() {
  [ "$(get "${TAG}-out" "http://10.88.0.1:8081/")" = a1:80 ] || die "$1: a1's published port does not answer"
  reaches a1 10.88.0.2 || die "$1: a1 has no masqueraded egress"
  ! pingable b1 "$(ip_of a1 neta)" || die "$1: b1 (network B) reaches a1 (network A)"
}

ocinet network create --subnet 10.71.0.0/24 neta >/dev/null
ocinet network create --subnet 10.72.0.0/24 netb >/dev/null
container a1 neta "8081:80"
container b1 netb
serve a1 80
working "before any flush"
ok "published port, masquerade and isolation work"

flush
[ -z "$(get "${TAG}-out" "http://10.88.0.1:8081/")" ] || die "the published port answers after a flush (was the ruleset flushed?)"
! reaches a1 10.88.0.2 || die "a1's egress still works after a flush"
reaches b1 "$(ip_of a1 neta)" || die "expected (README): isolation is gone until the rules come back, yet b1 cannot reach a1"
ok "right after a flush: published ports and egress are gone, and networks reach each other (documented)"

container c1 neta
working "after the next setup"
ok "the next setup restores every running endpoint's rules"

flush
out=$(ocinet network reload --all)
[[ "$out" == *"of 3 endpoint(s) on neta, netb"* ]] || die "network reload says: $out"
working "after network reload --all"
once=$(fw_ruleset "$BACKEND")
ocinet network reload --all >/dev/null
ocinet network reload a1 >/dev/null
[ "$once" = "$(fw_ruleset "$BACKEND")" ] || die "a second reload changed the ruleset: $(diff <(echo "$once") <(fw_ruleset "$BACKEND") | head)"
ok "network reload --all restores them and says so; a second reload changes nothing"

flush
hook poststop '{"id":"c1","status":"stopped","pid":0}'
working "after the next teardown"
ok "the next teardown restores the others' rules"

rc=0
out=$(ocinet network reload 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"give --all or container"* ]] || die "reload without arguments: rc $rc: $out"
rc=0
out=$(ocinet network reload nosuch 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"no container \"nosuch\""* ]] || die "reload of an unknown container: rc $rc: $out"
ok "network reload without a target, or of an unknown container, is exit 1"

for c in a1 b1; do hook poststop "{\"id\":\"$c\",\"status\":\"stopped\",\"pid\":0}"; done
for n in neta netb; do ocinet network rm "$n" >/dev/null; done
[ "$before" = "$(fw_ruleset "$BACKEND")" ] || die "firewall differs after teardown and network rm:
$(diff <(echo "$before") <(fw_ruleset "$BACKEND") | head -20)"
ok "after teardown and network rm the $BACKEND ruleset is exactly as before"
echo "$pass passed, 0 failed"
