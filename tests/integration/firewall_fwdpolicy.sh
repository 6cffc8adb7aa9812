#!/usr/bin/env bash
# Beside another firewall manager (Docker, ufw, firewalld's iptables backend) that set the
# host's FORWARD policy to DROP, once per ocinet backend and per way the other manager writes:
#   firewall_fwdpolicy.sh BIN_DIR iptables|nftables nft|legacy
# nft: `iptables`/`ip6tables` of Debian 12 (iptables-nft: nf_tables tables `ip filter` and
# `ip6 filter`); legacy: iptables-legacy/ip6tables-legacy (x_tables).
# Topology (all made here): outside (10.89.0.2, fd89::2) -- host (10.89.0.1, fd89::1) -- containers
#   neta (10.71.0.0/24, fd71::/64): a1 (publishes 8080:80), a2   netb (10.72.0.0/24, fd72::/64): b1
#   netc (--internal, 10.73.0.0/24): c1, c2
# With the other manager's FORWARD policy DROP (and a rule of its own in FORWARD), checks egress,
# a published port from outside, hairpin, traffic within a network, isolation between networks
# and the internal network's closure, over IPv4 and IPv6; that the other manager's policy, rule
# and iptables-save still work; a control (ocinet's accept for egress taken out of the foreign
# chain: egress fails); and that after teardown and `network rm` every table of both subsystems
# is exactly as before the test.
set -euo pipefail
BIN=${1:?usage: firewall_fwdpolicy.sh BIN_DIR BACKEND MANAGER}
BACKEND=${2:?usage: firewall_fwdpolicy.sh BIN_DIR BACKEND MANAGER}
MANAGER=${3:?usage: firewall_fwdpolicy.sh BIN_DIR BACKEND MANAGER}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
. "$(dirname "$0")/../lib.sh"
echo "{\"firewall_backend\":\"$BACKEND\"}" >"$OCINET_CONFIG"
case "$MANAGER" in
  nft) IPT=iptables-nft IP6T=ip6tables-nft ;;
  legacy) IPT=iptables-legacy IP6T=ip6tables-legacy ;;
  *) die "manager $MANAGER: want nft or legacy" ;;
esac
ipt() { ip netns exec "$HOSTNS" "$IPT" -w "$@" 2> >(grep -v "^# Warning" >&2); }
ip6t() { ip netns exec "$HOSTNS" "$IP6T" -w "$@" 2> >(grep -v "^# Warning" >&2); }

# Every table of both subsystems in the host netns, counters stripped.
fw_all() {
  local save
  for save in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do
    echo "## $save"
    ip netns exec "$HOSTNS" $save 2>&1 | { grep -v '^#' || true; } | sed 's/\[[0-9]*:[0-9]*\]//'
  done
  echo "## nft"
  ip netns exec "$HOSTNS" nft list ruleset 2> >(grep -v '^# Warning' >&2) | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.89.0.1 "${TAG}-out" 10.89.0.2 ou
ip -n "$HOSTNS" addr add fd89::1/64 dev oua nodad
ip -n "${TAG}-out" addr add fd89::2/64 dev oub nodad
if { [ "$BACKEND" = nftables ] || [ "$MANAGER" = nft ]; } && ! ip netns exec "$HOSTNS" nft list tables >/dev/null 2>&1; then
  echo "SKIP: this kernel has no nf_tables"; exit 77
fi
for tool in "$IPT" "$IP6T" iptables-nft-save iptables-legacy-save; do
  command -v "$tool" >/dev/null || { echo "SKIP: no $tool"; exit 77; }
done

# The other manager: FORWARD policy DROP in both families, and a rule of its own.
ipt -P FORWARD DROP
ip6t -P FORWARD DROP
ipt -A FORWARD -s 192.0.2.0/24 -d 198.51.100.0/24 -p tcp --dport 22 -m comment --comment other-manager -j ACCEPT
ip6t -A FORWARD -s 2001:db8:1::/64 -p tcp --dport 22 -m comment --comment other-manager -j ACCEPT
other=$(ipt -S FORWARD; ip6t -S FORWARD)
if [ "$BACKEND" = iptables ]; then  # legacy tables exist once anyone looks at them: look first
  for t in nat filter; do
    ip netns exec "$HOSTNS" iptables-legacy -t $t -L -n >/dev/null
    ip netns exec "$HOSTNS" ip6tables-legacy -t $t -L -n >/dev/null
  done
fi
before=$(fw_all)

ocinet network create --ipv6 --subnet 10.71.0.0/24 --subnet fd71::/64 neta >/dev/null
ocinet network create --ipv6 --subnet 10.72.0.0/24 --subnet fd72::/64 netb >/dev/null
ocinet network create --internal --subnet 10.73.0.0/24 netc >/dev/null
bridge_of() { jq -r .bridge "$OCINET_LIB_DIR/networks/$1.json"; }
BRA=$(bridge_of neta)

container a1 neta "8080:80"
container a2 neta
container b1 netb
container c1 netc
container c2 netc
serve a1 80

# Where ocinet's accepts for neta are: its own rules in the other manager's chain, or (iptables
# backend, legacy manager) the jump to OCINET-FORWARD that backend has always put first.
ocinet_accepts() {
  if [ "$BACKEND" = iptables ] && [ "$MANAGER" = legacy ]; then ipt -S FORWARD | grep -c -- '-j OCINET-FORWARD' || true
  else { ipt -S FORWARD; ip6t -S FORWARD; } | grep -c 'ocinet-net:neta\b' || true; fi
}
[ "$(ocinet_accepts)" -ge 1 ] || die "no accept of ocinet's in the other manager's FORWARD chain:
$(ipt -S FORWARD)"
ok "ocinet's accepts are in the $MANAGER FORWARD chain ($(ocinet_accepts) for neta)"

reaches a2 10.89.0.2 || die "egress: a2 cannot reach the outside"
reaches a2 fd89::2 || die "egress over IPv6: a2 cannot reach the outside"
ok "egress to the outside (IPv4 and IPv6)"
[ "$(get "${TAG}-out" "http://10.89.0.1:8080/")" = "a1:80" ] || die "published 8080:80 does not answer from outside"
[ "$(get "${TAG}-out" "http://[fd89::1]:8080/")" = "a1:80" ] || die "published 8080:80 does not answer from outside over IPv6"
ok "a published port answers from outside (IPv4 and IPv6)"
[ "$(get "${TAG}-a1" "http://10.89.0.1:8080/")" = "a1:80" ] || die "hairpin: a1 cannot reach its own published port"
[ "$(get "${TAG}-a2" "http://10.89.0.1:8080/")" = "a1:80" ] || die "hairpin: a2 cannot reach a1's published port"
[ "$(get "${TAG}-a2" "http://[fd89::1]:8080/")" = "a1:80" ] || die "hairpin: a2 cannot reach a1's published port over IPv6"
ok "hairpin: a container reaches its own and its neighbour's published port through the host address"
reaches a2 "$(ip_of a1 neta)" && reaches a2 "$(ip6_of a1 neta)" || die "a2 cannot reach a1 on their network"
reaches c2 "$(ip_of c1 netc)" || die "internal network: c2 cannot reach c1"
ok "containers of one network reach each other (also on the internal network)"
! pingable b1 "$(ip_of a1 neta)" && ! pingable a1 "$(ip_of b1 netb)" || die "isolation: neta and netb reach each other"
! pingable b1 "$(ip6_of a1 neta)" && ! pingable a1 "$(ip6_of b1 netb)" || die "isolation over IPv6: neta and netb reach each other"
! pingable c1 10.89.0.2 || die "the internal network reaches the outside"
! pingable b1 "$(ip_of c1 netc)" && ! pingable c1 "$(ip_of b1 netb)" || die "the internal network and netb reach each other"
ok "isolation: networks apart both ways (IPv4 and IPv6), the internal network closed"

missing=$(printf '%s\n' "$other" | grep -vFx -f <(ipt -S FORWARD; ip6t -S FORWARD) || true)
[ -z "$missing" ] || die "the other manager's policy or rule is gone: $missing"
if ip netns exec "$HOSTNS" iptables-nft-save 2>&1 | grep -qi incompatible; then die "iptables-nft can no longer read its table"; fi
ok "the other manager's policy DROP and its rule are still there; iptables-nft-save reads every table"

# Control: without ocinet's accept the other manager's policy drops egress. Taken out and put
# back with the other manager's own tool (a rule iptables wrote, not ocinet: network rm must
# find it by its comment all the same).
if [ "$BACKEND" = iptables ] && [ "$MANAGER" = legacy ]; then
  accept=(FORWARD -j OCINET-FORWARD)
else
  accept=(FORWARD -i "$BRA" -m comment --comment ocinet-net:neta -j ACCEPT)
fi
ipt -D "${accept[@]}"
! pingable a2 10.89.0.2 || die "control: egress works even without ocinet's accept"
ipt -I "${accept[@]}"
reaches a2 10.89.0.2 || die "egress does not come back with ocinet's accept"
ok "control: without ocinet's accept in the $MANAGER FORWARD chain egress fails"

# The other manager restarts: its FORWARD chain is flushed and its own rule put back (policy
# DROP kept), ocinet's accepts are gone with the flush. `network reload --all` (what the systemd
# unit runs after nftables or firewalld) puts them back.
ipt -F FORWARD
ipt -A FORWARD -s 192.0.2.0/24 -d 198.51.100.0/24 -p tcp --dport 22 -m comment --comment other-manager -j ACCEPT
! pingable a2 10.89.0.2 || die "egress works after the other manager's restart took ocinet's accept (nothing tested)"
ocinet network reload --all >/dev/null
reaches a2 10.89.0.2 || die "network reload did not put ocinet's accepts back in the $MANAGER FORWARD chain"
[ "$(ipt -S FORWARD | grep -c 'other-manager')" = 1 ] || die "network reload touched the other manager's rule"
ocinet network reload --all >/dev/null
reaches a2 10.89.0.2 && [ "$(ipt -S FORWARD | grep -c -- '-i '"$BRA"' .*ocinet-net:neta\|OCINET-FORWARD')" = 1 ] ||
  die "a second reload changed ocinet's accepts: $(ipt -S FORWARD)"
ok "after the other manager's restart, network reload puts ocinet's accepts back, once"

for c in a1 a2 b1 c1 c2; do hook poststop "{\"id\":\"$c\",\"status\":\"stopped\",\"pid\":0}"; done
for n in neta netb netc; do ocinet network rm "$n" >/dev/null; done
after=$(fw_all)
[ "$before" = "$after" ] || die "firewall differs after teardown and network rm:
$(diff <(echo "$before") <(echo "$after") | head -30)"
ok "after teardown and network rm every table (nf_tables and x_tables, IPv4 and IPv6) is exactly as before"
echo "$pass passed, 0 failed"
