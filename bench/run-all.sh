#!/usr/bin/env bash
# One command for the whole comparison (issue #9): ocinet against the CNI reference plugins
# (bridge + host-local + portmap) and netavark, the same work for each, in one run:
#   row    N containers set up in a row, torn down (netns alive), set up again, then torn down
#          after their network namespaces are gone; medians, p95 and peak RSS of the setup
#   conc   C setups started at once (then C teardowns at once), R rounds: wall time, per setup
#   scale  setup latency with 0/100/500/1000 (LEVELS) containers of the same system already up:
#          K samples of one more setup + teardown at each level
# Each system is driven by its own worker shell, inside its own freshly made "host" network
# namespace (identical for all, so one system's firewall rules never weigh on another's), and
# the timed operations are interleaved: container i of ocinet, of CNI, of netavark, then i+1
# (the starting system rotates). Every process is started from a shell, the way compare.sh
# always did, and timed there; each system pays the same fork/exec.
#
# Nothing touches the machine's own network: the run lives in a private mount namespace with a
# private tmpfs holding all state and all network namespaces (bind mounts), which vanish with
# it, also when the run is killed.
#
# Usage: sudo bench/run-all.sh [-n N] [-k K] [-c C] [-r R] [--levels "0 100 500 1000"]
#          [--phases row,conc,scale] [--systems ocinet,cni,netavark] [--bin BIN_DIR]
#          [--out DIR] [--readme]
#          [--no-install] [--no-build]
# Writes OUT/latest.md (markdown tables), OUT/latency-vs-existing.dat and .png (gnuplot),
# OUT/raw/ (every sample);
# --readme also replaces the results block in README.md. Defaults: N=200 K=20 C=50 R=3,
# OUT=bench/results, BIN=build/bin (built with scripts/build.sh if missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
ARGS=("$@")
N=200 K=20 C=50 R=3 LEVELS="0 100 500 1000" PHASES=row,conc,scale ONLY=ocinet,cni,netavark
BIN="" OUT="$HERE/results" README=0 INSTALL=1 BUILD=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 1; }
while (($#)); do
  case $1 in
    -n) N=$2; shift ;;
    -k) K=$2; shift ;;
    -c) C=$2; shift ;;
    -r) R=$2; shift ;;
    --levels) LEVELS=$2; shift ;;
    --phases) PHASES=$2; shift ;;
    --systems) ONLY=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    --readme) README=1 ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILD=0 ;;
    *) usage ;;
  esac
  shift
done
for v in "$N" "$K" "$C" "$R"; do [[ $v =~ ^[1-9][0-9]{0,3}$ ]] || usage; done
[[ $LEVELS =~ ^[0-9\ ]+$ ]] || usage
[[ ,$ONLY, =~ ^(,(ocinet|cni|netavark))+,$ ]] || usage
[ "$(id -u)" = 0 ] || { echo "run-all.sh: run as root (sudo)" >&2; exit 1; }
BIN=$(readlink -f "${BIN:-$REPO/build/bin}")
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)

if [ -z "${OCB_INNER:-}" ]; then
  # Peers and tools, from Debian's own packages; a peer that cannot be installed is reported
  # and skipped by the run, never a reason to stop.
  if ((INSTALL)); then
    missing=()
    for p in containernetworking-plugins netavark iptables gnuplot-nox time util-linux; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
      echo "run-all.sh: installing ${missing[*]}" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq || true
      for p in "${missing[@]}"; do
        apt-get install -y -qq --no-install-recommends "$p" >/dev/null || echo "run-all.sh: could not install $p" >&2
      done
    fi
  fi
  if [ ! -x "$BIN/ocinet-hook" ] && ((BUILD)); then
    "$REPO/scripts/install-deps.sh"
    "$REPO/scripts/build.sh"
    BIN=$(readlink -f "$REPO/build/bin")
  fi
  # Everything below in a private mount namespace: the tmpfs and every netns bind mount die
  # with it.
  exec unshare --mount --propagation private env OCB_INNER=1 "$0" "${ARGS[@]}" --bin "$BIN" --no-install --no-build
fi

# ------------------------------------------------------------------ inside the private mount ns
T_START=$SECONDS
W=$(mktemp -d /tmp/ocinet-bench.XXXXXX)
mount -t tmpfs -o size=1g,mode=0755 ocinet-bench "$W"
export W BIN
declare -A CMD RES FAIL
WPIDS=()
cleanup() {
  set +e
  local s
  # Each worker leads its own process group (setsid): end it with everything it started.
  for s in "${WPIDS[@]}"; do kill -TERM -- "-$s" 2>/dev/null; done
  sleep 0.5
  for s in "${WPIDS[@]}"; do kill -KILL -- "-$s" 2>/dev/null; wait "$s" 2>/dev/null; done
  umount -l "$W" && rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap '' PIPE  # a dead worker must not kill the run: its reply is read as a failure
log() { printf '[%4ds] %s\n' $((SECONDS - T_START)) "$*" >&2; }

# A network namespace held by a bind mount at FILE (util-linux unshare --net=FILE).
mkns() { : >"$1" && unshare --net="$1" true; }
rmns() { umount "$1" 2>/dev/null; rm -f "$1"; }

SYSTEMS=()
declare -A LABEL=([ocinet]="ocinet (nftables)" [cni]="CNI bridge + host-local + portmap" [netavark]="netavark")
why_not() {
  case $1 in
    ocinet) [ -x "$BIN/ocinet-hook" ] || { echo "no $BIN/ocinet-hook (build first)"; return; } ;;
    cni)
      local p
      for p in bridge host-local portmap; do
        [ -x /usr/lib/cni/$p ] || { echo "no /usr/lib/cni/$p (apt-get install containernetworking-plugins)"; return; }
      done
      command -v iptables >/dev/null || echo "no iptables (portmap needs it)" ;;
    netavark)
      [ -x /usr/lib/podman/netavark ] || { echo "no /usr/lib/podman/netavark (apt-get install netavark)"; return; }
      command -v iptables >/dev/null || echo "no iptables (netavark needs it)" ;;
  esac
}

# call SYS WORDS...: one command to SYS's worker; sets RC and US (microseconds).
call() {
  local s=$1; shift
  RC=98 US=0
  echo "$*" >&"${CMD[$s]}" 2>/dev/null || return 0
  read -r RC US <&"${RES[$s]}" || { RC=98 US=0; }
}
last_err() { tail -n 1 "$W/$1/last.err" 2>/dev/null | tr -d '|\r' | cut -c1-160; }
# active LIST_NAME ROTATION: the systems still running this phase, rotated by ROTATION.
ACTIVE=()
rotated() {
  local n=${#ACTIVE[@]} j
  ROT=()
  for ((j = 0; j < n; j++)); do ROT+=("${ACTIVE[(j + $1) % n]}"); done
}
drop() {  # drop SYS PHASE WHAT: SYS failed in PHASE; it sits out the rest of the phase
  local s=$1 j
  FAIL[$s.$2]="$3 failed (exit $RC): $(last_err "$s")"
  log "$s: ${FAIL[$s.$2]}"
  for j in "${!ACTIVE[@]}"; do [ "${ACTIVE[$j]}" != "$s" ] || unset 'ACTIVE[j]'; done
  ACTIVE=("${ACTIVE[@]}")
}

has_phase() { [[ ,$PHASES, == *,$1,* ]]; }
TOP=0
if has_phase scale; then for l in $LEVELS; do if ((l > TOP)); then TOP=$l; fi; done; fi
MAXC=0
if has_phase row; then MAXC=$N; fi
if ((TOP > MAXC)); then MAXC=$TOP; fi
PROBE=5000 CONC=6000  # container numbers: 1..MAXC, probes PROBE+1.., concurrent CONC+1..

# ---- preparation: systems, host namespaces, container namespaces, bundles ------------------------
T0=$SECONDS
for s in ocinet cni netavark; do
  [[ ,$ONLY, == *,$s,* ]] || continue  # left out with --systems
  r=$(why_not "$s")
  if [ -n "$r" ]; then FAIL[$s.all]="cannot run here: $r"; log "$s: ${FAIL[$s.all]}"; continue; fi
  mkdir -p "$W/$s" "$W/ns/$s"
  mkns "$W/ns/$s.host"
  nsenter --net="$W/ns/$s.host" ip link set lo up
  mkfifo "$W/$s.cmd" "$W/$s.res"
  nsenter --net="$W/ns/$s.host" setsid bash "$HERE/lib.sh" worker "$s" 3<"$W/$s.cmd" 4>"$W/$s.res" 2>>"$W/$s/worker.err" &
  WPIDS+=($!)
  exec {fd}>"$W/$s.cmd"; CMD[$s]=$fd
  exec {fd}<"$W/$s.res"; RES[$s]=$fd
  SYSTEMS+=("$s")
done
((${#SYSTEMS[@]})) || { echo "run-all.sh: no system can run here" >&2; exit 1; }
mk_range() {  # mk_range SYS A B: namespaces cA..cB for SYS
  local i
  for ((i = $2; i <= $3; i++)); do mkns "$W/ns/$1/c$i"; done
}
ranges=("0 $MAXC")
if has_phase scale; then ranges+=("$((PROBE + 1)) $((PROBE + K))"); fi
if has_phase conc; then ranges+=("$((CONC + 1)) $((CONC + C))"); fi
jobs_=()
for s in "${SYSTEMS[@]}"; do
  ( for rg in "${ranges[@]}"; do mk_range "$s" $rg; done ) &
  jobs_+=($!)
done
for j in "${jobs_[@]}"; do wait "$j"; done
for s in "${SYSTEMS[@]}"; do for rg in "${ranges[@]}"; do echo "prep $rg" >&"${CMD[$s]}"; done; done
for s in "${SYSTEMS[@]}"; do for rg in "${ranges[@]}"; do read -r RC US <&"${RES[$s]}"; done; done
NSCOUNT=$(find "$W/ns" -mindepth 2 -name 'c*' | wc -l)
PREP_S=$((SECONDS - T0))
log "prepared $NSCOUNT container namespaces for ${#SYSTEMS[@]} systems in ${PREP_S}s"

# Warm-up: container 0 creates each system's bridge and firewall chains (a one-time cost per
# network); its setup is under GNU time, so the peak RSS includes a network's first container.
ACTIVE=()
for s in "${SYSTEMS[@]}"; do
  call "$s" rss 0
  if [ "$RC" != 0 ]; then FAIL[$s.all]="first setup failed (exit $RC): $(last_err "$s")"; log "$s: ${FAIL[$s.all]}"; continue; fi
  call "$s" teardown 0
  if [ "$RC" != 0 ]; then FAIL[$s.all]="first teardown failed (exit $RC): $(last_err "$s")"; log "$s: ${FAIL[$s.all]}"; continue; fi
  ACTIVE+=("$s")
done
SYSTEMS=("${ACTIVE[@]}")
((${#SYSTEMS[@]})) || { echo "run-all.sh: no system could set up a container here" >&2; exit 1; }

# Waits until the host ends of the veths of destroyed namespaces are gone (the kernel cleans up
# namespaces asynchronously), so a "netns gone" teardown finds them gone.
settle_veths() {
  local s n t
  for s in "${SYSTEMS[@]}"; do
    for ((t = 0; t < 600; t++)); do
      n=$(nsenter --net="$W/ns/$s.host" ip -o link show type veth | wc -l)
      ((n == 0)) && break
      sleep 0.1
    done
  done
}

# Waits until the machine is quiet: at least 90% idle over one WINDOW (seconds), trying at most
# TRIES windows; prints how long it waited. A fill leaves the kernel busy for a while (the peers'
# new containers run DAD, solicit routers and report multicast memberships over IPv6, each frame
# flooded to every port of their bridge), and so can one system's operation on a big setup
# (deferred frees of thousands of replaced firewall rules, RCU callbacks): unchecked, that work
# lands on whichever system is timed next.
settle_cpu() {  # settle_cpu WINDOW TRIES
  local t a b c d e f g h idle0 total0
  for ((t = 0; t < $2; t++)); do
    read -r _ a b c d e f g h _ </proc/stat
    idle0=$((d + e)) total0=$((a + b + c + d + e + f + g + h))
    sleep "$1"
    read -r _ a b c d e f g h _ </proc/stat
    (((d + e - idle0) * 10 >= (a + b + c + d + e + f + g + h - total0) * 9)) && break
  done
  REPLY=$t
}

# ---- row ---------------------------------------------------------------------------------------
if has_phase row; then
  log "row: $N containers in a row per system"
  ACTIVE=("${SYSTEMS[@]}")
  for op in setup teardown; do
    for ((i = 1; i <= N; i++)); do
      rotated "$i"
      for s in "${ROT[@]}"; do
        call "$s" "$op" "$i"
        if [ "$RC" = 0 ]; then echo "$US" >>"$W/$s/row.$op"; else drop "$s" row "$op of container $i"; fi
      done
    done
  done
  log "row: set up again (peak RSS under GNU time), then teardown with the netns gone"
  for ((i = 1; i <= N; i++)); do
    for s in "${ACTIVE[@]}"; do call "$s" rss "$i"; [ "$RC" = 0 ] || drop "$s" row "second setup of container $i"; done
  done
  for s in "${ACTIVE[@]}"; do
    for ((i = 1; i <= N; i++)); do
      rmns "$W/ns/$s/c$i"
      [ "$s" != netavark ] || mkns "$W/ns/$s/c$i"  # see netavark_gone in lib.sh
    done
  done
  settle_veths
  for ((i = 1; i <= N; i++)); do
    rotated "$i"
    for s in "${ROT[@]}"; do
      call "$s" gone "$i"
      if [ "$RC" = 0 ]; then echo "$US" >>"$W/$s/row.gone"; else drop "$s" row "teardown (netns gone) of container $i"; fi
    done
  done
  for s in "${SYSTEMS[@]}"; do
    for ((i = 1; i <= N; i++)); do [ -e "$W/ns/$s/c$i" ] || mkns "$W/ns/$s/c$i"; done
  done
fi

# ---- conc --------------------------------------------------------------------------------------
if has_phase conc; then
  log "conc: $C setups at once, then $C teardowns at once, $R rounds"
  ACTIVE=("${SYSTEMS[@]}")
  for ((r = 1; r <= R; r++)); do
    rotated "$r"
    for s in "${ROT[@]}"; do
      call "$s" conc setup $((CONC + 1)) $((CONC + C))
      echo "$US" >>"$W/$s/conc.wall.setup"
      [ "$RC" = 0 ] || { FAIL[$s.conc]="some concurrent setups failed: $(tail -n 1 "$W/$s/conc.err" | cut -c1-160)"; log "$s: ${FAIL[$s.conc]}"; }
      call "$s" conc teardown $((CONC + 1)) $((CONC + C))
      echo "$US" >>"$W/$s/conc.wall.teardown"
      [ "$RC" = 0 ] || { FAIL[$s.conc]="some concurrent teardowns failed: $(tail -n 1 "$W/$s/conc.err" | cut -c1-160)"; log "$s: ${FAIL[$s.conc]}"; }
    done
  done
fi

# ---- scale -------------------------------------------------------------------------------------
if has_phase scale; then
  ACTIVE=("${SYSTEMS[@]}")
  filled=0
  for L in $(tr ' ' '\n' <<<"$LEVELS" | sort -n | uniq); do
    if ((L > filled)); then
      log "scale: filling to $L containers per system (all systems at once, untimed)"
      jobs_=()
      for s in "${ACTIVE[@]}"; do
        ( for ((i = filled + 1; i <= L; i++)); do
            call "$s" rss "$i"
            [ "$RC" = 0 ] || { echo "$i $RC $(last_err "$s")"; exit 1; }
          done ) >"$W/$s/fill.err" &
        jobs_+=($!)
      done
      for j in "${jobs_[@]}"; do wait "$j" || true; done
      for s in "${ACTIVE[@]}"; do
        if [ -s "$W/$s/fill.err" ]; then
          read -r i RC _ <"$W/$s/fill.err"
          drop "$s" scale "setup of existing container $i"
        fi
      done
      filled=$L
      settle_cpu 1 60
      log "scale: machine quiet after ${REPLY}s"
    fi
    log "scale: $K samples at $L existing"
    for ((k = 1; k <= K; k++)); do
      rotated "$k"
      for s in "${ROT[@]}"; do
        settle_cpu 0.1 20  # each sample on a quiet machine (at most 2 s of waiting)
        call "$s" setup $((PROBE + k))
        if [ "$RC" != 0 ]; then drop "$s" scale "setup at $L existing"; continue; fi
        echo "$US" >>"$W/$s/scale.$L.setup"
        call "$s" teardown $((PROBE + k))
        if [ "$RC" != 0 ]; then drop "$s" scale "teardown at $L existing"; continue; fi
        echo "$US" >>"$W/$s/scale.$L.teardown"
      done
    done
  done
fi
TOTAL_S=$((SECONDS - T_START))
log "measurements done in ${TOTAL_S}s; writing $OUT"
# Every sample as measured (microseconds, in the order taken), for a second look at a figure:
# OUT/raw/SYS/{row,conc,scale}.*; in scale.L.*, sample k ran in rotation k (see rotated).
rm -rf "$OUT/raw"
for s in "${SYSTEMS[@]}"; do
  mkdir -p "$OUT/raw/$s"
  for f in "$W/$s"/row.* "$W/$s"/conc.* "$W/$s"/scale.*; do [ ! -e "$f" ] || cp "$f" "$OUT/raw/$s/"; done
done

# ---- results -----------------------------------------------------------------------------------
# stats FILE -> "median p95 n" in ms (nearest rank), or "- - 0" when there is no sample.
stats() {
  if [ ! -s "$1" ]; then echo "- - 0"; return; fi
  grep -E '^[0-9]+$' "$1" | sort -n | awk '{a[NR]=$1} END {
    if (NR == 0) { print "- - 0"; exit }
    p = int(NR * 0.95); if (p < NR * 0.95) p++; if (p < 1) p = 1
    printf "%.2f %.2f %d\n", a[int((NR + 1) / 2)] / 1000, a[p] / 1000, NR }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx\n", a / b }'; }
ms() { [ "$1" = - ] && echo "-" || echo "$1 ms"; }
peak_rss() { [ -s "$W/$1/rss.kb" ] && grep -E '^[0-9]+$' "$W/$1/rss.kb" | sort -n | tail -n 1 | awk '{printf "%.1f MiB", $1 / 1024}' || echo "-"; }
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
V_NV=$(/usr/lib/podman/netavark --version 2>/dev/null | awk '{print $2}' || true)
V_CNI=$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null || true)
V_OC=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
DATE=$(date -u +%Y-%m-%d)
GOALS=()

{
  echo "Measured $DATE on $(nproc) cores ($CPU), $MEM RAM, kernel $(uname -r); ocinet $V_OC, netavark ${V_NV:-n/a}, containernetworking-plugins ${V_CNI:-n/a}."
  echo "Run: \`sudo bench/run-all.sh -n $N -k $K -c $C -r $R --levels \"$LEVELS\"\` ($((TOTAL_S / 60)) min $((TOTAL_S % 60)) s, of which ${PREP_S} s preparing $NSCOUNT network namespaces). Every system sets up one bridge network with one published TCP port per container, in its own fresh host netns, processes started from a shell the way compare.sh does (each system pays the same ~1-2 ms of fork/exec from bash); the machine is small and noisy, so compare ratios within the run."
  for s in ocinet cni netavark; do
    [ -z "${FAIL[$s.all]:-}" ] || echo "- **${LABEL[$s]}: ${FAIL[$s.all]}**"
  done
  for k in "${!FAIL[@]}"; do [[ $k == *.all ]] || echo "- ${LABEL[${k%%.*}]} (${k#*.}): ${FAIL[$k]}"; done

  if has_phase row; then
    read -r osm osp _ < <(stats "$W/ocinet/row.setup")
    read -r otm otp _ < <(stats "$W/ocinet/row.teardown")
    read -r ogm ogp _ < <(stats "$W/ocinet/row.gone")
    echo
    echo "**$N containers in a row** (median / p95 per container; ratio = system's median / ocinet's; peak RSS = largest resident set of any process of a setup, GNU time, over all its setups incl. a network's first)"
    echo
    echo "| system | setup median | setup p95 | teardown median | teardown p95 | teardown, netns gone: median | p95 | peak RSS (setup) | setup vs ocinet | teardown vs ocinet | gone vs ocinet |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for s in "${SYSTEMS[@]}"; do
      read -r sm sp sn < <(stats "$W/$s/row.setup")
      read -r tm tp _ < <(stats "$W/$s/row.teardown")
      read -r gm gp _ < <(stats "$W/$s/row.gone")
      echo "| ${LABEL[$s]} | $(ms "$sm") | $(ms "$sp") | $(ms "$tm") | $(ms "$tp") | $(ms "$gm") | $(ms "$gp") | $(peak_rss "$s") | $(ratio "$sm" "$osm") | $(ratio "$tm" "$otm") | $(ratio "$gm" "$ogm") |"
    done
  fi

  if has_phase conc; then
    echo
    echo "**$C setups started at once** ($R rounds; wall = barrier release to the last exit, median over rounds; per setup = pooled over rounds; netavark under \`flock\`, as Podman holds its network lock around every netavark call; then $C teardowns at once)"
    echo
    echo "| system | wall, $C setups | per setup median | per setup p95 | failed | wall, $C teardowns | wall vs ocinet |"
    echo "|---|---|---|---|---|---|---|"
    read -r owm _ _ < <(stats "$W/ocinet/conc.wall.setup")
    for s in "${SYSTEMS[@]}"; do
      read -r wm _ _ < <(stats "$W/$s/conc.wall.setup")
      read -r pm pp _ < <(stats "$W/$s/conc.setup")
      read -r twm _ _ < <(stats "$W/$s/conc.wall.teardown")
      nf=$(grep -c failed "$W/$s/conc.setup" 2>/dev/null || true)
      echo "| ${LABEL[$s]} | $(ms "$wm") | $(ms "$pm") | $(ms "$pp") | ${nf:-0} | $(ms "$twm") | $(ratio "$wm" "$owm") |"
    done
  fi

  if has_phase scale; then
    echo
    echo "**Setup latency against existing containers** (that system's own, each with a published port; $K samples of one more setup + teardown per level; median, p95 in brackets)"
    echo
    hdr="| existing |" sep="|---|"
    for s in "${SYSTEMS[@]}"; do hdr+=" ${LABEL[$s]} |"; sep+="---|"; done
    for s in "${SYSTEMS[@]}"; do [ "$s" = ocinet ] || { hdr+=" $s vs ocinet |"; sep+="---|"; }; done
    hdr+=" ocinet vs its 0 |"; sep+="---|"
    echo "$hdr"; echo "$sep"
    echo "# existing ocinet_median ocinet_p95 cni_median cni_p95 netavark_median netavark_p95 (ms; NaN = not measured)" >"$OUT/latency-vs-existing.dat"
    o0=-
    for L in $(tr ' ' '\n' <<<"$LEVELS" | sort -n | uniq); do
      row="| $L |" rat="" dat="$L"
      read -r om _ _ < <(stats "$W/ocinet/scale.$L.setup")
      [ "$o0" != - ] || o0=$om
      for s in "${SYSTEMS[@]}"; do
        read -r m p _ < <(stats "$W/$s/scale.$L.setup")
        row+=" $(ms "$m") ($p) |"
        [ "$s" = ocinet ] || rat+=" $(ratio "$m" "$om") |"
      done
      for s in ocinet cni netavark; do
        read -r m p _ < <(stats "$W/$s/scale.$L.setup")
        [ "$m" = - ] && dat+=" NaN NaN" || dat+=" $m $p"
      done
      echo "$row$rat $(ratio "$om" "$o0") |"
      echo "$dat" >>"$OUT/latency-vs-existing.dat"
    done
    echo
    echo "![setup latency against existing containers](latency-vs-existing.png)"
  fi

  # The goals of issue #9, judged on this run's numbers.
  echo
  echo "**Goals** (issue #9), judged on this run:"
  echo
  echo "| goal | measured | met? |"
  echo "|---|---|---|"
  goal() { echo "| $1 | $2 | $3 |"; }
  yesno() { awk -v c="$1" 'BEGIN { print (c ? "yes" : "**no**") }'; }
  if has_phase row && [ -s "$W/netavark/row.setup" ]; then
    read -r nsm _ _ < <(stats "$W/netavark/row.setup"); read -r ntm _ _ < <(stats "$W/netavark/row.teardown")
    goal "setup ≤ 1/25 of netavark's median" "$osm ms vs $nsm ms = 1/$(awk -v a="$nsm" -v b="$osm" 'BEGIN{printf "%.1f", a/b}')" "$(yesno "$(awk -v a="$nsm" -v b="$osm" 'BEGIN{print (a / b >= 25)}')")"
    goal "teardown ≤ 1/4 of netavark's median (netns alive)" "$otm ms vs $ntm ms = 1/$(awk -v a="$ntm" -v b="$otm" 'BEGIN{printf "%.1f", a/b}')" "$(yesno "$(awk -v a="$ntm" -v b="$otm" 'BEGIN{print (a / b >= 4)}')")"
  else
    goal "setup ≤ 1/25, teardown ≤ 1/4 of netavark's median" "netavark not measured in this run" "n/a"
  fi
  if has_phase scale; then
    read -r otop _ _ < <(stats "$W/ocinet/scale.$TOP.setup")
    goal "flat curve to $TOP containers (ocinet at $TOP ≤ 1.3x its own at 0)" "$otop ms vs $o0 ms = $(ratio "$otop" "$o0")" "$(yesno "$(awk -v a="$otop" -v b="$o0" 'BEGIN{print (b > 0 && a / b <= 1.3)}')")"
  fi
  rss=$(peak_rss ocinet)
  goal "peak RSS of the hook ≤ 8 MiB" "$rss" "$(yesno "$(awk -v r="${rss% MiB}" 'BEGIN{print (r + 0 > 0 && r + 0 <= 8)}')")"
} >"$OUT/latest.md"

if has_phase scale && command -v gnuplot >/dev/null; then
  gnuplot <<EOF || log "gnuplot failed"
set terminal pngcairo size 900,560 font "sans,11"
set output "$OUT/latency-vs-existing.png"
set title "Setup latency (median of $K) against existing containers, bridge + 1 published port\n$DATE, $(nproc) cores, kernel $(uname -r)"
set xlabel "containers already set up (same system)"
set ylabel "setup latency per container, ms (log scale)"
set logscale y
set grid
set key top left
set datafile missing "NaN"
plot "$OUT/latency-vs-existing.dat" using 1:2 with linespoints lw 2 pt 7 title "ocinet", \
     "" using 1:4 with linespoints lw 2 pt 5 title "CNI bridge+host-local+portmap", \
     "" using 1:6 with linespoints lw 2 pt 9 title "netavark ${V_NV}"
EOF
elif has_phase scale; then
  log "gnuplot not installed (apt-get install gnuplot-nox): no plot"
fi

if ((README)); then
  # The block between the markers in README.md becomes this run's results.
  block=$(sed 's#(latency-vs-existing.png)#(bench/results/latency-vs-existing.png)#' "$OUT/latest.md")
  BLOCK=$block awk '
    /<!-- bench:results begin -->/ { print; print ENVIRON["BLOCK"]; skip = 1; next }
    /<!-- bench:results end -->/ { skip = 0 }
    !skip' "$REPO/README.md" >"$W/README.md" && cat "$W/README.md" >"$REPO/README.md"
fi
cat "$OUT/latest.md"
