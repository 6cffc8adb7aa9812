#!/usr/bin/env bash
# Published host ports against the host's own listening sockets, once per firewall backend:
#   host_ports.sh BIN_DIR iptables|nftables
# A port a host process listens on (TCP, UDP; the given host IP or every address; IPv4 and
# IPv6) is refused with exit 1 naming it, leaving nothing behind; the same setup succeeds once
# the listener is gone. A picked host port (range, dynamic) skips ports in use on the host.
# Topology: the test's host netns (10.88.0.1, fd88::1, on a veth to a second netns that only
# gives it those addresses); containers are netns of their own, wired by the hook run by hand
# (under its seccomp filter). No packet is sent: the host's sockets are what is checked.
set -euo pipefail
BIN=${1:?usage: host_ports.sh BIN_DIR BACKEND}
BACKEND=${2:?usage: host_ports.sh BIN_DIR BACKEND}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
# The host's listeners: python3 binds any address and family, with or without IPV6_V6ONLY.
command -v python3 >/dev/null || { echo "SKIP: needs python3 for the host's listeners"; exit 77; }
. "$(dirname "$0")/../lib.sh"
echo "{\"firewall_backend\":\"$BACKEND\"}" >"$OCINET_CONFIG"

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 ou
ip -n "$HOSTNS" addr add fd88::1/64 dev oua nodad
if [ "$BACKEND" = nftables ] && ! ip netns exec "$HOSTNS" nft list tables >/dev/null 2>&1; then
  echo "SKIP: this kernel has no nf_tables"; exit 77
fi

# listen PROTO ADDR PORT [v6only]: a host process (in $HOSTNS) bound to ADDR:PORT, listening
# (TCP, SCTP) or bound and unconnected (UDP); its pid in $l once the socket exists. Killed by unlisten
# or, failing that, by cleanup (every process in the test's namespaces).
listen() {
  local proto=$1 addr=$2 port=$3 v6only=${4:-0}
  ip netns exec "$HOSTNS" python3 -c '
import socket, sys, time
proto, addr, port, v6only = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if proto == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
else:
    s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP if proto == "sctp" else 0)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
s.bind((addr, port))
if proto != "udp":
    s.listen()
time.sleep(3600)' "$proto" "$addr" "$port" "$v6only" >/dev/null 2>&1 &
  l=$!
  disown "$l"  # no job notice when it is killed
  l_port="$proto $port"
  for _ in $(seq 50); do
    host_uses $l_port && return
    sleep 0.1
  done
  die "listener $proto $addr:$port did not come up"
}
host_uses() {  # host_uses tcp|udp|sctp PORT
  local flag=-t; [ "$1" = udp ] && flag=-u; [ "$1" = sctp ] && flag=-S
  [ -n "$(ip netns exec "$HOSTNS" ss -Hna $flag "sport = :$2")" ]
}
unlisten() {  # kills the listener in $l (on $l_port) and waits until its socket is gone
  kill "$l"
  for _ in $(seq 50); do host_uses $l_port || return 0; sleep 0.1; done
  die "listener on $l_port did not go away"
}

# setup NAME NETWORK PORTS: the hook by hand against NAME's netns (made by the caller: outside
# of a command substitution, so that cleanup knows it); prints stderr, returns the status.
setup() {
  local b ann
  b=$(bundle_for "$1" "/run/netns/${TAG}-$1")
  ann=$(jq -cn --arg n "$2" --arg p "$3" '{"io.ocinet.network": $n, "io.ocinet.ports": $p}')
  hook createRuntime "$(state "$1" "$b" "$ann")" 2>&1 >/dev/null
}
teardown() { hook poststop "{\"id\":\"$1\",\"status\":\"stopped\",\"pid\":0}"; }
# refused NAME NETWORK PORTS PATTERN: exit 1, one line naming PATTERN, nothing of NAME left.
refused() {
  local out rc=0
  [ -e "/run/netns/${TAG}-$1" ] || new_netns "${TAG}-$1"
  out=$(setup "$1" "$2" "$3") || rc=$?
  [ "$rc" = 1 ] || die "ports $3 on $2: want exit 1, got $rc: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ "$out" == *"$4"* ]] || die "ports $3 on $2: message lacks '$4': $out"
  [ ! -e "$OCINET_RUN_DIR/endpoints/$1.json" ] || die "ports $3: endpoint record of $1 left"
  [ -z "$(marks_of "$1" "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports" "$OCINET_RUN_DIR/names")" ] ||
    die "ports $3: lease, port or name of $1 left: $(marks_of "$1" "$OCINET_RUN_DIR")"
  [ "$(fw_rules "ocinet:$1")" = 0 ] || die "ports $3: firewall rules of $1 left"
  ! ip -n "${TAG}-$1" link show eth0 >/dev/null 2>&1 || die "ports $3: eth0 left in $1"
}
# published NAME NETWORK PORTS: setup succeeds (then torn down again unless KEEP=1).
published() {
  local out rc=0
  [ -e "/run/netns/${TAG}-$1" ] || new_netns "${TAG}-$1"
  out=$(setup "$1" "$2" "$3") || rc=$?
  [ "$rc" = 0 ] || die "ports $3 on $2: want success, got $rc: $out"
  [ "$(jq -r .state "$OCINET_RUN_DIR/endpoints/$1.json")" = ready ] || die "ports $3 on $2: $1 is not ready"
  [ "${KEEP:-0}" = 1 ] || teardown "$1"
}
host_port_of() { jq -r ".ports[$2].host_port" "$OCINET_RUN_DIR/endpoints/$1.json"; }

fw_look_first "$BACKEND"
before=$(fw_ruleset "$BACKEND")
ocinet network create --subnet 10.71.0.0/24 v4net >/dev/null
ocinet network create --ipv6 --subnet 10.72.0.0/24 --subnet fd72::/64 dual >/dev/null

# TCP on 0.0.0.0: refused while the host listens, published once it stops.
listen tcp 0.0.0.0 8090
refused a1 v4net "8090:80" "io.ocinet.ports: host port 8090/tcp is in use on the host (0.0.0.0:8090)"
refused a1 v4net "10.88.0.1:8090:80" "host port 8090/tcp is in use on the host (0.0.0.0:8090)"
refused a1 v4net "127.0.0.1:8090:80" "host port 8090/tcp is in use on the host (0.0.0.0:8090)"
refused a1 v4net "7000:70,8089-8090:79-80" "host port 8090/tcp is in use"
ok "a host TCP listener on 0.0.0.0:8090 refuses 8090:80 on every address, 10.88.0.1 and 127.0.0.1, exit 1, nothing left"
published a2 v4net "8090:80/udp"
ok "the same port over UDP is free"
unlisten
published a1 v4net "8090:80"
ok "8090:80 is published once the host's listener is gone"

# 127.0.0.1: conflicts with every address and with 127.0.0.1, not with another host address.
listen tcp 127.0.0.1 8091
refused b1 v4net "8091:80" "host port 8091/tcp is in use on the host (127.0.0.1:8091)"
refused b1 v4net "127.0.0.1:8091:80" "(127.0.0.1:8091)"
published b2 v4net "10.88.0.1:8091:80"
unlisten
ok "a listener on 127.0.0.1:8091 refuses 8091:80 and 127.0.0.1:8091:80, not 10.88.0.1:8091:80"

# UDP: a bound unconnected socket conflicts with /udp, not /tcp.
listen udp 0.0.0.0 5353
refused c1 v4net "5353:53/udp" "host port 5353/udp is in use on the host (0.0.0.0:5353)"
published c2 v4net "5353:53"
unlisten
listen udp 10.88.0.1 5354
refused c1 v4net "5354:53/udp" "host port 5354/udp is in use on the host (10.88.0.1:5354)"
published c2 v4net "127.0.0.1:5354:53/udp"
unlisten
ok "UDP sockets on 0.0.0.0:5353 and 10.88.0.1:5354 refuse /udp publications that would take their traffic, not /tcp"

# IPv6: [::] without IPV6_V6ONLY takes IPv4 too; with it, IPv6 only.
listen tcp :: 8092 0
refused d1 v4net "8092:80" "host port 8092/tcp is in use on the host ([::]:8092)"
refused d1 v4net "10.88.0.1:8092:80" "([::]:8092)"
unlisten
listen tcp :: 8093 1
published d2 v4net "8093:80"
published d2 v4net "10.88.0.1:8093:80"
refused d1 dual "8093:80" "host port 8093/tcp is in use on the host ([::]:8093)"
refused d1 dual "[fd88::1]:8093:80" "([::]:8093)"
published d2 dual "10.88.0.1:8093:80"
unlisten
listen udp fd88::1 8094 1
refused d1 dual "8094:80/udp" "host port 8094/udp is in use on the host ([fd88::1]:8094)"
refused d1 dual "[fd88::1]:8094:80/udp" "([fd88::1]:8094)"
published d2 v4net "8094:80/udp"
published d2 dual "10.88.0.1:8094:80/udp"
unlisten
ok "IPv6: [::] dual-stack refuses IPv4 too; a v6only [::] or [fd88::1] listener refuses IPv6 publications only"

# Picked host ports skip ports in use on the host.
listen tcp 0.0.0.0 8100
KEEP=1 published e1 v4net "8100-8101:80"
[ "$(host_port_of e1 0)" = 8101 ] || die "range 8100-8101: picked $(host_port_of e1 0), which the host uses"
teardown e1
unlisten
listen tcp 0.0.0.0 32768
KEEP=1 published e2 v4net "80"
[ "$(host_port_of e2 0)" = 32769 ] || die "dynamic: picked $(host_port_of e2 0), want 32769 (32768 is the host's)"
teardown e2
refused e3 v4net "8102-8102:80,32768-32768:80" "host port 32768/tcp is in use"
unlisten
listen tcp 0.0.0.0 8103
l2=$l; l2_port=$l_port; listen tcp :: 8104 1
refused e3 dual "8105:80,8103-8104:81" "no free host port in 8103-8104"
KEEP=1 published e3 v4net "8105:80,8103-8104:81"
[ "$(host_port_of e3 1)" = 8104 ] || die "range 8103-8104 on IPv4: picked $(host_port_of e3 1), want 8104 (v6only)"
teardown e3
unlisten
l=$l2 l_port=$l2_port unlisten
ok "picked host ports (range, dynamic) skip ports in use on the host"

# SCTP: a kernel without SCTP (or sctp_diag) has no SCTP sockets, never an error.
published f1 v4net "9000:90/sctp"
ok "an SCTP publication works (sctp_diag or not)"
has_sctp='import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)'
if ip netns exec "$HOSTNS" python3 -c "$has_sctp" 2>/dev/null; then
  listen sctp 0.0.0.0 9001
  refused f2 v4net "9001:90/sctp" "host port 9001/sctp is in use on the host (0.0.0.0:9001)"
  published f3 v4net "9001:90"
  unlisten
  ok "an SCTP listener refuses /sctp on its port, not /tcp"
else
  echo "note: this kernel has no SCTP: a host SCTP listener is not checked here (unit tests cover the rule)"
fi

# ocinet's own publications are not host sockets: a second container on another port, and the
# first one's port from a second container, keep ocinet's own conflict message.
KEEP=1 published g1 dual "8200:80,8201:81/udp"
refused g2 dual "8200:80" "already published by container g1"
KEEP=1 published g3 dual "8202:80"
for c in g1 g3; do teardown $c; done
ok "ocinet's own published ports do not count as host sockets"

for c in a1 a2 b1 b2 c1 c2 d1 d2 e1 e2 e3 f1 f2 f3 g1 g2 g3; do teardown $c; done
for net in v4net dual; do ocinet network rm $net >/dev/null; done
after=$(fw_ruleset "$BACKEND")
[ "$before" = "$after" ] || die "firewall differs after teardown:
$(diff <(echo "$before") <(echo "$after") | head -20)"
[ -z "$(marks "$OCINET_RUN_DIR/ipam" "$OCINET_RUN_DIR/ports")" ] || die "state left: $(marks "$OCINET_RUN_DIR")"
ok "after teardown the $BACKEND firewall and the run dir are as before"
echo "$pass passed, 0 failed"
