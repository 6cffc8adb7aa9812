#!/usr/bin/env bash
# The embedded name server end to end, without a runtime: endpoint records and network
# definitions written the way the hook writes them, containers as bare network namespaces,
# ocinet-dns in a test "host" netns, queries with dig and busybox nslookup from inside the
# containers' namespaces, and fake upstream resolvers (a small python3 server: answers,
# NXDOMAIN, REFUSED, silence, truncation) in an "outside" namespace.
set -euo pipefail
BIN=${1:?usage: dns_server.sh BIN_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: dig is not installed (bind9-dnsutils)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$BIN/ocinet-dns" ] || { echo "SKIP: $BIN/ocinet-dns is not built"; exit 77; }
. "$(dirname "$0")/../lib.sh"
DNS="$BIN/ocinet-dns"
SERVER_PID=""
stop_server() { [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }; SERVER_PID=""; }
trap 'stop_server; cleanup' EXIT
die() { echo "FAIL: $*" >&2; tail -n 30 "$WORK/dns.log" >&2 2>/dev/null || true; exit 1; }

new_netns "$HOSTNS"
new_netns "${TAG}-out"
link_netns "$HOSTNS" 10.88.0.1 "${TAG}-out" 10.88.0.2 up
for a in 3 4 5; do ip -n "${TAG}-out" addr add "10.88.0.$a/24" dev upb; done

# Fake upstreams: .2 answers (NXDOMAIN for nx*), .3 refuses, .4 is silent, .5 truncates over
# UDP and answers over TCP.
cat >"$WORK/upstream.py" <<'EOF'
import selectors, socket, struct
MODES = {"10.88.0.2": "answer", "10.88.0.3": "refuse", "10.88.0.4": "silent", "10.88.0.5": "tc"}
def reply(d, mode, tcp):
    i, labels = 12, []
    while d[i]:
        labels.append(d[i + 1:i + 1 + d[i]].decode("ascii", "replace")); i += 1 + d[i]
    i += 1
    name, qsec, qtype = ".".join(labels).lower(), d[12:i + 4], struct.unpack("!H", d[i:i + 2])[0]
    if mode == "silent":
        return None
    flags, rcode, ans = 0x8080 | (d[2] & 1) << 8, 0, b""
    if mode == "refuse": rcode = 5
    elif name.startswith("nx"): rcode = 3
    elif mode == "tc" and not tcp: flags |= 0x0200
    elif qtype == 1:
        ip = "192.0.2.99" if mode == "tc" else ("192.0.2.10" if name == "ext.test" else "192.0.2.1")
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
    return d[:2] + struct.pack("!HHHHH", flags | rcode, 1, 1 if ans else 0, 0, 0) + qsec + ans
sel = selectors.DefaultSelector()
for addr, mode in MODES.items():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, 53)); sel.register(u, selectors.EVENT_READ, ("udp", mode))
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((addr, 53)); t.listen(16)
    sel.register(t, selectors.EVENT_READ, ("tcp", mode))
open("READY", "w").close()
while True:
    for key, _ in sel.select():
        kind, mode = key.data
        if kind == "udp":
            d, peer = key.fileobj.recvfrom(4096)
            r = reply(d, mode, False)
            if r: key.fileobj.sendto(r, peer)
        else:
            c, _ = key.fileobj.accept(); c.settimeout(2)
            try:
                n = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))[0]
                r = reply(c.recv(n, socket.MSG_WAITALL), mode, True)
                if r: c.sendall(struct.pack("!H", len(r)) + r)
            except Exception: pass
            c.close()
EOF
(cd "$WORK" && exec ip netns exec "${TAG}-out" python3 "$WORK/upstream.py") >"$WORK/upstream.log" 2>&1 &
disown
for _ in $(seq 50); do [ -e "$WORK/READY" ] && break; sleep 0.1; done
[ -e "$WORK/READY" ] || { cat "$WORK/upstream.log" >&2; die "fake upstream did not start"; }

# Networks: front (its own upstream .2), back (host resolvers), iso (--internal), nodns.
ocinet network create --subnet 10.77.1.0/24 front >/dev/null
ocinet network create --subnet 10.77.2.0/24 back >/dev/null
ocinet network create --subnet 10.77.3.0/24 --internal iso >/dev/null
ocinet network create --subnet 10.77.4.0/24 nodns >/dev/null
netdef() { local f="$OCINET_LIB_DIR/networks/$1.json"; jq "$2" "$f" >"$f.new" && mv "$f.new" "$f"; }
netdef front '.dns_servers = ["10.88.0.2"]'
netdef nodns '.dns_enabled = false'
printf 'nameserver 10.88.0.3\nnameserver 10.88.0.2\n' >"$WORK/resolv.conf"

mkdir -p "$OCINET_RUN_DIR/endpoints"
# record ID NAME EXTRA_JSON ATTACHMENTS: an endpoint record as the hook commits it ("ready"),
# for the container netns ${TAG}-ID (created here); attachments as [[network, ip, [aliases]]...].
# With PENDING=1 it is left as ID.json.pending for `control add` to commit once its sockets are
# bound: the hook's order (bind, commit the record, send add), else the sweep could bind first.
record() {
  local id=$1 name=$2 extra=$3 atts=$4 ns="/run/netns/${TAG}-$1"
  [ -e "$ns" ] || new_netns "${TAG}-$id"
  jq -n --arg id "$id" --arg n "$name" --arg ns "$ns" --arg nsid "$(stat -L -c %d:%i "$ns")" \
    --argjson atts "$atts" --argjson extra "$extra" '
    {id: $id, name: $n, mode: "bridge", state: "ready", pid: 0, netns: $ns, netns_id: $nsid, hostname: "",
     ports: [], steps: ["name"], tag: $id,
     attachments: [$atts[] | {network: .[0], bridge: "br", host_ifname: "x", ifname: "eth0", ip: .[1], prefix: 24,
                              gateway: "", mac: "", mtu: 0, aliases: (.[2] // [])}]} + $extra' \
    >"$OCINET_RUN_DIR/endpoints/$id.json.tmp"
  mv "$OCINET_RUN_DIR/endpoints/$id.json.tmp" "$OCINET_RUN_DIR/endpoints/$id.json${PENDING:+.pending}"
}
q() {  # q CONTAINER NAME [dig options]: the answer's addresses/names, sorted, space-separated
  local c=$1 n=$2; shift 2
  ip netns exec "${TAG}-$c" dig +short +time=2 +tries=1 @127.0.0.11 "$@" "$n" 2>/dev/null | sort | xargs
}
status_of() { local c=$1 n=$2; shift 2; ip netns exec "${TAG}-$c" dig +time=5 +tries=1 @127.0.0.11 "$@" "$n" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
start_server() {
  ip netns exec "$HOSTNS" "$DNS" --resolv-conf "$WORK/resolv.conf" --resolved-conf "$WORK/none" --log-level debug \
    </dev/null >>"$WORK/dns.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -S "$OCINET_RUN_DIR/dns/control.sock" ] && return 0; sleep 0.01; done
  die "ocinet-dns did not bind its control socket: $(cat "$WORK/dns.log")"
}
# control OP ID [NETNS]: one control message (python: SOCK_SEQPACKET) sent from the host netns;
# `add` first creates the two sockets inside the container netns NETNS, as the hook does;
# `spawn` does the same but hands them to a new `ocinet-dns --client-fd 3`, as a hook starting
# the server would.
cat >"$WORK/control.py" <<'EOF'
import array, ctypes, json, os, socket, subprocess, sys
op, ident, sock, netns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
HOME = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
def setns(fd):
    if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0: raise OSError(ctypes.get_errno(), "setns")
def listeners():
    fd = os.open(netns, os.O_RDONLY); setns(fd); os.close(fd)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); u.bind(("127.0.0.11", 53))
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.11", 53)); t.listen(64)
    setns(HOME)
    pending = os.path.join(os.path.dirname(sock), "..", "endpoints", ident + ".json")
    if os.path.exists(pending + ".pending"): os.rename(pending + ".pending", pending)
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [u.fileno(), t.fileno()]).tobytes())], (u, t)
fds, keep = listeners() if op in ("add", "spawn") else ([], None)
if op == "spawn":
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    os.dup2(theirs.fileno(), 3, inheritable=True)
    p = subprocess.Popen(sys.argv[5:] + ["--client-fd", "3"], pass_fds=[3], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(3); theirs.close()
    mine.sendmsg([json.dumps({"op": "add", "id": ident}).encode()], fds)
    sys.exit(p.wait(timeout=5))
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sock)
s.sendmsg([json.dumps({"op": op, "id": ident} if ident else {"op": op}).encode()], fds)
if op == "status":
    s.settimeout(2); print(s.recv(1 << 20).decode())
EOF
control() { ip netns exec "$HOSTNS" python3 "$WORK/control.py" "$1" "${2:-}" "$OCINET_RUN_DIR/dns/control.sock" "${3:-none}" "${@:4}"; }

record c1 web '{"hostname": "h-web"}' '[["front", "10.77.1.2", ["svc"]]]'
record c2 api '{}' '[["front", "10.77.1.3", ["svc"]], ["back", "10.77.2.3"]]'
record c3 db '{}' '[["back", "10.77.2.4"]]'
record c4 lonely '{}' '[["iso", "10.77.3.2"]]'
record c5 hidden '{}' '[["nodns", "10.77.4.2"]]'
record c6 linker '{"links": [{"name": "db", "alias": "database"}]}' '[["back", "10.77.2.6"]]'
record c7 quiet '{"dns": ["10.88.0.4"]}' '[["back", "10.77.2.7"]]'
record c8 trunc '{"dns": ["10.88.0.5"]}' '[["back", "10.77.2.8"]]'

step "start: every ready record on a DNS network is served"
start_server
[ "$(q c1 api)" = 10.77.1.3 ] || die "web cannot resolve api: '$(q c1 api)'"
[ "$(q c1 API.)" = 10.77.1.3 ] && [ "$(q c1 api.front)" = 10.77.1.3 ] || die "case or name.network not answered"
[ "$(q c2 web)" = 10.77.1.2 ] && [ "$(q c2 h-web)" = 10.77.1.2 ] && [ "$(q c2 c1)" = 10.77.1.2 ] || die "name, hostname or id of web not answered"
[ "$(q c1 svc)" = "10.77.1.2 10.77.1.3" ] || die "alias svc does not return both holders: '$(q c1 svc)'"
firsts=$(for _ in $(seq 12); do ip netns exec "${TAG}-c1" dig +short @127.0.0.11 svc | head -1; done | sort -u | wc -l)
[ "$firsts" = 2 ] || die "alias answers never change order"
ok "names, name.network, hostname, id, aliases with every holder in rotating order"
[ "$(q c3 api)" = 10.77.2.3 ] || die "db does not see api's back address: '$(q c3 api)'"
[ "$(q c1 db)" != 10.77.2.4 ] || die "a name on another network answered"
ok "a name on another network is not answered"
[ "$(q c6 database)" = 10.77.2.4 ] && [ "$(q c2 database)" != 10.77.2.4 ] || die "links are not private to their declarer"
ok "links answer for their declarer only"
[ "$(q c1 10.77.1.3 -x)" = api.front. ] || die "PTR of api: '$(q c1 10.77.1.3 -x)'"
[ "$(q c1 10.77.2.4 -x)" != db.back. ] || die "PTR of a hidden container answered"
ok "PTR answers name.network. for visible addresses"
[ "$(q c1 api +tcp)" = 10.77.1.3 ] || die "no answer over TCP"
ip netns exec "${TAG}-c2" busybox nslookup web 127.0.0.11 2>&1 | grep -q 10.77.1.2 || die "busybox nslookup does not find web"
ok "TCP and busybox nslookup"
[ "$(status_of c1 web -t AAAA)" = NOERROR ] && [ -z "$(q c1 web -t AAAA)" ] || die "AAAA of a v4-only name is not NODATA"
ok "NODATA for a local name without the asked type"
ip netns exec "${TAG}-c5" dig +time=1 +tries=1 @127.0.0.11 web >/dev/null 2>&1 && die "a container on a network without DNS is served"
ok "no server in a container without a DNS network"

step "forwarding"
[ "$(q c1 ext.test)" = 192.0.2.10 ] || die "front's upstream not used: '$(q c1 ext.test)'"
[ "$(status_of c1 nx.example)" = NXDOMAIN ] || die "upstream NXDOMAIN not passed back"
[ "$(q c3 ext.test)" = 192.0.2.10 ] || die "REFUSED from the first host resolver did not move on"
[ "$(q c1 ext.test +tcp)" = 192.0.2.10 ] || die "forwarding over TCP failed"
[ "$(q c8 whatever)" = 192.0.2.99 ] || die "a truncated answer was not retried over TCP: '$(q c8 whatever)'"
ok "upstream answers and NXDOMAIN pass back, REFUSED moves on, TCP, TC retried over TCP"
t0=$(date +%s%N)
st=$(status_of c7 ext.test)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$st" = SERVFAIL ] && [ "$ms" -lt 3500 ] || die "silent upstream: status '$st' after $ms ms"
ok "SERVFAIL after $ms ms when the upstream is silent"
[ "$(status_of c4 ext.test)" = SERVFAIL ] && [ "$(q c4 lonely)" = 10.77.3.2 ] || die "internal network: names or no forwarding"
ok "internal network: names answer, nothing is forwarded"

step "control messages"
PENDING=1 record c9 late '{}' '[["front", "10.77.1.9"]]'
control add c9 "/run/netns/${TAG}-c9"
[ "$(q c1 late)" = 10.77.1.9 ] && [ "$(q c9 web)" = 10.77.1.2 ] || die "add: not served at once"
! grep -q "refusing handed sockets" "$WORK/dns.log" || die "the server refused the sockets handed over for c9"
ok "add with the hook's sockets: served at once"
record c1 web '{"hostname": "h-web"}' '[["front", "10.77.1.2", ["svc", "newalias"]]]'
control update c1
[ "$(q c2 newalias)" = 10.77.1.2 ] || die "update did not bring the new alias"
ok "update reloads a record"
fds_before=$(ls "/proc/$SERVER_PID/fd" | wc -l)
control remove c2
[ "$(q c1 api)" != 10.77.1.3 ] && [ "$(q c1 svc)" = 10.77.1.2 ] || die "removed container still answered"
[ -z "$(ip netns exec "${TAG}-c2" ss -Hlnu)$(ip netns exec "${TAG}-c2" ss -Hlnt)" ] || die "sockets left in the removed container's netns"
[ "$(ls "/proc/$SERVER_PID/fd" | wc -l)" = $((fds_before - 2)) ] || die "the server still holds descriptors of the removed container"
sleep 2.2
[ "$(q c1 api)" != 10.77.1.3 ] || die "the sweep served a removed container again"
ok "remove: no longer answered, its netns holds no socket of the server"
control status | jq -e '.counts.served >= 7 and (.endpoints | map(.id) | index("c1") != null)' >/dev/null || die "status is wrong"
ok "status"

step "a second server started by a hook hands its connection over"
PENDING=1 record c10 spawned '{}' '[["front", "10.77.1.10"]]'
control spawn c10 "/run/netns/${TAG}-c10" "$DNS" --resolv-conf "$WORK/resolv.conf" || die "the second ocinet-dns did not exit 0"
[ "$(q c10 web)" = 10.77.1.2 ] && [ "$(q c1 spawned)" = 10.77.1.10 ] || die "adopted add not served"
kill -0 "$SERVER_PID" || die "the first server died"
ok "a second instance adopts into the running server and exits 0"

step "records going away, and a restart"
rm "$OCINET_RUN_DIR/endpoints/c3.json"
sleep 2.5
[ "$(q c6 db)" != 10.77.2.4 ] || die "a removed record still answers"
[ -z "$(ip netns exec "${TAG}-c3" ss -Hlnu)" ] || die "sockets left in c3's netns"
ok "a removed record is dropped by the sweep, its sockets closed"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
t0=$(date +%s%N)
start_server
for _ in $(seq 100); do [ "$(ip netns exec "${TAG}-c9" dig +short +time=1 +tries=1 @127.0.0.11 web 2>/dev/null)" = 10.77.1.2 ] && break; sleep 0.01; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(q c9 web)" = 10.77.1.2 ] && [ "$(q c10 late)" = 10.77.1.9 ] && [ "$ms" -lt 1000 ] || die "restarted server answers after $ms ms"
ok "killed with SIGKILL and started again: answering after $ms ms"

stop_server
for c in c1 c3 c9 c10; do [ -z "$(ip netns exec "${TAG}-$c" ss -Hlnu)" ] || die "socket left in $c after the server stopped"; done
[ ! -e "$OCINET_RUN_DIR/dns/control.sock" ] || die "control socket left after SIGTERM"
ok "SIGTERM: clean stop"
echo "$pass passed, 0 failed"
