# bench/lib.sh: how each system is invoked, the way its runtime does it, plus the worker loop
# that run-all.sh drives. Sourced by the worker (`bash bench/lib.sh worker SYS`), which runs
# inside that system's own isolated "host" network namespace.
#
# Environment (exported by run-all.sh): W (work dir on a private tmpfs), BIN (ocinet binaries).
# Container number I uses the network namespace $W/ns/SYS/cI (a bind-mounted netns), host port
# BASE+I (ocinet 10000, CNI 20000, netavark 30000) and, where the system wants a static
# address, 10.202.(I/250).(I%250+2) out of a /16. Every system has a /16: ocinet's default
# network `bridge` gets 172.17.0.0/16 from Docker's pools, CNI 10.201.0.0/16, netavark
# 10.202.0.0/16.
#
# Each SYS_setup / SYS_teardown / SYS_gone is the whole work for one container, as one or more
# processes started from this shell. RUNPFX (an array) may prefix every process started (GNU
# time, for peak RSS); NVLOCK may prefix netavark (flock, as Podman holds its network lock).

RUNPFX=()
NVLOCK=()
now_us() { REPLY=${EPOCHREALTIME/./}; }  # microseconds, without a fork

# ---- ocinet: ocinet-hook createRuntime / poststop, OCI state on stdin --------------------------
ocinet_init() {
  export OCINET_RUN_DIR="$W/ocinet/run" OCINET_LIB_DIR="$W/ocinet/lib" OCINET_CONFIG="$W/ocinet/absent.json"
  mkdir -p "$W/ocinet/b"
}
ocinet_prep() {  # the bundle the runtime would have: a rootfs, config.json naming the netns
  mkdir -p "$W/ocinet/b/$1/rootfs/etc"
  printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"network","path":"%s/ns/ocinet/c%s"}]}}' \
    "$W" "$1" >"$W/ocinet/b/$1/config.json"
}
ocinet_setup() {
  "${RUNPFX[@]}" "$BIN/ocinet-hook" createRuntime <<<"{\"ociVersion\":\"1.0.2\",\"id\":\"o$1\",\"status\":\"creating\",\"pid\":0,\"bundle\":\"$W/ocinet/b/$1\",\"annotations\":{\"io.ocinet.ports\":\"$((10000 + $1)):80\"}}"
}
ocinet_teardown() {
  "${RUNPFX[@]}" "$BIN/ocinet-hook" poststop <<<"{\"ociVersion\":\"1.0.2\",\"id\":\"o$1\",\"status\":\"stopped\",\"pid\":0,\"bundle\":\"$W/ocinet/b/$1\"}"
}
ocinet_gone() { ocinet_teardown "$1"; }  # config.json names a netns path that no longer exists

# ---- CNI: bridge (+ host-local IPAM, exec'ed by bridge) then portmap with bridge's result -------
CNI_BRIDGE_CONF=
cni_init() {
  mkdir -p "$W/cni/data" "$W/cni/pm"
  CNI_BRIDGE_CONF="{\"cniVersion\":\"1.0.0\",\"name\":\"cmp\",\"type\":\"bridge\",\"bridge\":\"cni-cmp0\",\"isGateway\":true,\"ipMasq\":true,\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"$W/cni/data\",\"ranges\":[[{\"subnet\":\"10.201.0.0/16\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}"
}
cni_prep() { :; }
cni() {  # cni COMMAND PLUGIN I NETNS  (config on stdin)
  CNI_COMMAND=$1 CNI_CONTAINERID=c$3 CNI_NETNS=$4 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "${RUNPFX[@]}" "/usr/lib/cni/$2"
}
cni_setup() {
  local ns="$W/ns/cni/c$1" result
  # The runtime (libcni) reads the result and builds portmap's config in-process: no jq here.
  result=$(cni ADD bridge "$1" "$ns" <<<"$CNI_BRIDGE_CONF") || return 1
  printf '{"cniVersion":"1.0.0","name":"cmp","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%s,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' \
    $((20000 + $1)) "$result" >"$W/cni/pm/$1"  # libcni caches the result too
  cni ADD portmap "$1" "$ns" <"$W/cni/pm/$1" >/dev/null
}
cni_teardown() {  # DEL in reverse order of the chain
  cni DEL portmap "$1" "$W/ns/cni/c$1" <"$W/cni/pm/$1" >/dev/null || return 1
  cni DEL bridge "$1" "$W/ns/cni/c$1" <<<"$CNI_BRIDGE_CONF" >/dev/null
}
cni_gone() { cni_teardown "$1"; }  # CNI_NETNS names a path that no longer exists

# ---- netavark: netavark --config DIR setup|teardown NETNS, network options on stdin -------------
NETAVARK=/usr/lib/podman/netavark
netavark_init() { mkdir -p "$W/netavark/cfg" "$W/netavark/opts"; }
netavark_prep() {  # what Podman passes: container, network definition, port mappings
  printf '{"container_id":"a%063d","container_name":"n%s","networks":{"cmp":{"interface_name":"eth0","static_ips":["10.202.%s.%s"]}},"network_info":{"cmp":{"name":"cmp","id":"3f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9","driver":"bridge","network_interface":"nv-cmp0","subnets":[{"subnet":"10.202.0.0/16","gateway":"10.202.0.1"}],"ipv6_enabled":false,"internal":false,"dns_enabled":false,"ipam_options":{"driver":"host-local"}}},"port_mappings":[{"host_ip":"","container_port":80,"host_port":%s,"range":1,"protocol":"tcp"}]}' \
    "$1" "$1" $(($1 / 250)) $(($1 % 250 + 2)) $((30000 + $1)) >"$W/netavark/opts/$1"
}
netavark_setup() {
  "${NVLOCK[@]}" "${RUNPFX[@]}" "$NETAVARK" --config "$W/netavark/cfg" setup "$W/ns/netavark/c$1" <"$W/netavark/opts/$1" >/dev/null
}
netavark_teardown() {
  "${NVLOCK[@]}" "${RUNPFX[@]}" "$NETAVARK" --config "$W/netavark/cfg" teardown "$W/ns/netavark/c$1" <"$W/netavark/opts/$1" >/dev/null
}
# netavark 1.4 opens the namespace before anything else and fails on a missing path, releasing
# nothing; Podman keeps its netns bind mount until teardown, so the "gone" case for netavark is
# a fresh, empty namespace at the same path (run-all.sh makes it): the container's veth and
# addresses are gone, the firewall rules are still there to remove. netavark removes them and
# then exits 1 with {"error":"failed to delete container veth eth0: ... No such device"}: that
# exit counts as done here (the host-side state is released; Podman would show the error).
netavark_gone() {
  local rc=0 line=
  "${RUNPFX[@]}" "$NETAVARK" --config "$W/netavark/cfg" teardown "$W/ns/netavark/c$1" <"$W/netavark/opts/$1" >"$W/netavark/gone.out" || rc=$?
  ((rc == 0)) && return 0
  read -r line <"$W/netavark/gone.out" || true
  echo "$line" >&2
  [[ $line == *"failed to delete container veth"* ]]
}

# ---- the worker: one per system, in that system's host netns ----------------------------------
# Reads commands on fd 3, answers one line per command on fd 4: "RC MICROSECONDS".
#   prep A B      prepare containers A..B (bundles, option files)     untimed
#   setup I | teardown I | gone I                                     timed, one container
#   rss I         setup I with every process under GNU time; appends peak RSS (KiB) to rss.kb
#   conc OP A B   OP (setup|teardown) for containers A..B all at once (released together by a
#                 FIFO barrier); appends each one's microseconds to conc.OP; answers the wall time
worker() {
  SYS=$1
  "${SYS}_init"
  local op a b c rc i t0 t1 pids
  while read -r op a b c <&3; do
    rc=0
    case $op in
      prep)
        for ((i = a; i <= b; i++)); do "${SYS}_prep" "$i" || rc=$?; done
        echo "$rc 0" >&4 ;;
      setup | teardown | gone)
        now_us; t0=$REPLY
        "${SYS}_$op" "$a" >/dev/null 2>"$W/$SYS/last.err" || rc=$?
        now_us; echo "$rc $((REPLY - t0))" >&4 ;;
      rss)
        RUNPFX=(/usr/bin/time -f %M -a -o "$W/$SYS/rss.kb")
        "${SYS}_setup" "$a" >/dev/null 2>"$W/$SYS/last.err" || rc=$?
        RUNPFX=()
        echo "$rc 0" >&4 ;;
      conc)
        local go="$W/$SYS/go" gofd
        rm -f "$go"; mkfifo "$go"
        [ "$SYS" = netavark ] && NVLOCK=(flock "$W/netavark/lock")
        pids=()
        local c_op=$a
        for ((i = b; i <= c; i++)); do
          (
            : <"$go"  # the barrier: opening blocks until the coordinator opens the write end
            now_us; t1=$REPLY
            if "${SYS}_$c_op" "$i" >/dev/null 2>>"$W/$SYS/conc.err"; then
              now_us; echo $((REPLY - t1)) >>"$W/$SYS/conc.$c_op"
            else
              echo "failed" >>"$W/$SYS/conc.$c_op"; exit 1
            fi
          ) &
          pids+=($!)
        done
        sleep 0.5  # every job forked and blocked on the barrier
        now_us; t0=$REPLY
        exec {gofd}>"$go"  # releases them all; held open so a late job never blocks
        for i in "${pids[@]}"; do wait "$i" || rc=1; done
        now_us; t1=$REPLY
        exec {gofd}>&-
        NVLOCK=()
        echo "$rc $((t1 - t0))" >&4 ;;
      quit) return 0 ;;
      *) echo "2 0" >&4 ;;
    esac
  done
}

if [ "${1:-}" = worker ]; then worker "$2"; fi
