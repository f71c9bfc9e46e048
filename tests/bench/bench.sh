#!/usr/bin/env bash
# Side-by-side resolver benchmark: a bare recvmmsg/sendmmsg responder (the
# floor), parasold, unbound and dnsmasq, one at a time, each a caching
# forwarder to the same authoritative nsd on loopback, each with the same
# blocklist in its own native form.
#
#   cd /work/main && tests/bench/bench.sh            # print the section
#   cd /work/main && tests/bench/bench.sh --append   # and append it to BENCHMARKS.md
#
# What it does (all traffic on 127.0.0.1 only, all state in a temp dir):
#   1. inputs (tests/bench/bench.py prepare): the unique names of every list
#      under shared/data/scale (the "full" blocklist, ~1.1M) and a fixed-seed
#      100k subset of it; nsd's zone "." built from the top-site list
#      (umbrella-top-100k.txt): `NAME A addr` and `*.NAME A addr` for each of
#      its ~92k usable names; the query files: cached (the first $NAMES zone
#      names the full set does not block), blocked ($SAMPLE names of the set,
#      every 4th as www.NAME), a 20 % blocked mix, and for every miss
#      measurement a fresh file of never-asked names `<tag><n>.NAME`;
#   2. each blocklist in each server's form: parasold a lists.db made by the
#      project's own tools (`parasol feeds add` of a local file, then
#      `parasol-update`); unbound `local-zone: "NAME." always_null`; dnsmasq
#      `address=/NAME/#` (A 0.0.0.0, AAAA ::);
#   3. starts nsd (Debian) on core $LOADGEN_CPU as the only upstream;
#   4. $RUNS rounds; in each, for every blocklist size ($SIZES) and every
#      server ($SERVERS; order reversed every other round; bare only with
#      size none as it has no list): starts the server on core $SERVER_CPU,
#      polls it (A query every 5 ms) until it answers -- with a blocklist,
#      until it answers a blocked name with the block -- and reads VmRSS and
#      VmHWM; checks that it forwards (fresh names get nsd's address, and nsd
#      counted the queries), answers cached names with nsd's address and
#      blocks blocked names (A 0.0.0.0), aborting otherwise; warms its cache
#      ($WARM_PASSES passes over the cached names); then for each scenario
#      ($SCENARIOS): a throughput run `dnsperf -l $DURATION -c $CLIENTS -q
#      $OUTSTANDING` (server CPU from /proc/PID/stat, queries/s, lost, nsd's
#      query count) and a latency run at a fixed rate `dnsperf -Q $RATE -l
#      $LAT_DURATION -v` (misses: -Q $MISS_RATE; p50/p99 from the per-query
#      latencies, lost);
#      reads VmRSS/VmHWM again and stops the server (SIGTERM);
#   5. prints a markdown section with the medians over the rounds (and the
#      per-run numbers); with --append (or APPEND=1) also appends it to
#      BENCHMARKS.md.
#
# Knobs (environment): RUNS (3) DURATION (3 s) LAT_DURATION (2 s) RATE
#   (20000 q/s) MISS_RATE (5000 q/s: the fixed rate for misses) CLIENTS (4) OUTSTANDING (200) NAMES (10000) SAMPLE (10000)
#   SUBSET (100000) CHECK (300 names per check) WARM_PASSES (2)
#   SERVERS ("bare parasold unbound dnsmasq") SIZES ("none 100k full")
#   SCENARIOS ("cached blocked mix miss") SERVER_CPU (1) LOADGEN_CPU (0)
#   READY_TIMEOUT (60 s) DNSMASQ_CACHE (2 x NAMES) APPEND (0) KEEP (0: keep
#   the temp dir) SKIP_BUILD (0) SCALE_DIR QUERIES PARASOLD PARASOL
#   PARASOL_UPDATE BARE
# Needs: >= 2 cores, ~1.5 GB free memory, dnsperf, unbound, dnsmasq (Debian
#   dnsmasq-base), nsd, taskset, /usr/bin/python3 (docker/build.sh --bench).
# With the defaults it takes about 15 minutes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

for arg in "$@"; do
	case $arg in
	--append) APPEND=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: tests/bench/bench.sh [--append]" >&2; exit 64 ;;
	esac
done

RUNS=${RUNS:-3}
DURATION=${DURATION:-3}
LAT_DURATION=${LAT_DURATION:-2}
RATE=${RATE:-20000}
MISS_RATE=${MISS_RATE:-5000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
NAMES=${NAMES:-10000}
SAMPLE=${SAMPLE:-10000}
SUBSET=${SUBSET:-100000}
CHECK=${CHECK:-300}
WARM_PASSES=${WARM_PASSES:-2}
SERVERS=${SERVERS:-bare parasold unbound dnsmasq}
SIZES=${SIZES:-none 100k full}
SCENARIOS=${SCENARIOS:-cached blocked mix miss}
SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
APPEND=${APPEND:-0}
KEEP=${KEEP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PARASOLD=${PARASOLD:-$ROOT/build/resolver/parasold}
PARASOL=${PARASOL:-$ROOT/build/tools/parasol}
PARASOL_UPDATE=${PARASOL_UPDATE:-$ROOT/build/feeds/parasol-update}
BARE=${BARE:-$ROOT/build/tests/bench-bare}
first_readable() {
	local p
	for p in "$@"; do
		if [[ -r $p ]]; then echo "$p"; return 0; fi
	done
	return 0
}
[[ -n ${SCALE_DIR:-} ]] || SCALE_DIR=$(first_readable \
    "$ROOT/../shared/data/scale" /work/shared/data/scale)
[[ -n ${QUERIES:-} ]] || QUERIES=$(first_readable \
    "$ROOT/../shared/data/queries/umbrella-top-100k.txt" \
    /work/shared/data/queries/umbrella-top-100k.txt)
PY=/usr/bin/python3
B="$PY $HERE/bench.py"
BL="$PY $HERE/blocklist.py"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- checks
for v in RUNS DURATION LAT_DURATION RATE MISS_RATE CLIENTS OUTSTANDING NAMES SAMPLE \
    SUBSET CHECK WARM_PASSES READY_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $SERVER_CPU =~ ^[0-9]+$ && $LOADGEN_CPU =~ ^[0-9]+$ ]] ||
	die "SERVER_CPU and LOADGEN_CPU must be core numbers"
[[ $SERVER_CPU != "$LOADGEN_CPU" ]] || die "SERVER_CPU and LOADGEN_CPU must differ"
((DURATION <= 120 && LAT_DURATION <= 120)) || die "DURATION and LAT_DURATION are capped at 120 s"
((RUNS <= 15)) || die "RUNS is capped at 15"
((RATE <= 200000 && MISS_RATE <= 200000)) || die "RATE and MISS_RATE are capped at 200000 q/s"
((CHECK <= NAMES && CHECK <= SAMPLE)) || die "CHECK must not exceed NAMES and SAMPLE"
: "${DNSMASQ_CACHE:=$((2 * NAMES > 10000 ? 2 * NAMES : 10000))}"
[[ $DNSMASQ_CACHE =~ ^[1-9][0-9]*$ ]] || die "DNSMASQ_CACHE must be a positive integer"
(($(nproc) >= 2)) || die "needs at least 2 cores (server on one, load and nsd on another)"
read -r -a SRV <<<"$SERVERS"
read -r -a SZS <<<"$SIZES"
read -r -a SCS <<<"$SCENARIOS"
((${#SRV[@]} && ${#SZS[@]} && ${#SCS[@]})) || die "SERVERS, SIZES and SCENARIOS must not be empty"
declare -A WANT=()
for s in "${SRV[@]}"; do
	case $s in bare | parasold | unbound | dnsmasq) ;;
	*) die "SERVERS: unknown server '$s' (bare parasold unbound dnsmasq)" ;;
	esac
	[[ -z ${WANT[$s]:-} ]] || die "SERVERS: '$s' named twice"
	WANT[$s]=1
done
want() { [[ -n ${WANT[$1]:-} ]]; }
for z in "${SZS[@]}"; do
	case $z in none | 100k | full) ;;
	*) die "SIZES: unknown size '$z' (none 100k full)" ;;
	esac
done
for c in "${SCS[@]}"; do
	case $c in cached | blocked | mix | miss) ;;
	*) die "SCENARIOS: unknown scenario '$c' (cached blocked mix miss)" ;;
	esac
done
[[ -n $SCALE_DIR && -d $SCALE_DIR ]] || die "scale list folder not found (set SCALE_DIR=)"
[[ -n $QUERIES && -r $QUERIES ]] || die "query name list not found (set QUERIES=)"

missing=()
for b in dnsperf nsd nsd-control taskset; do
	command -v "$b" >/dev/null || missing+=("$b")
done
if want unbound; then command -v unbound >/dev/null || missing+=(unbound); fi
if want dnsmasq; then
	command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || missing+=(dnsmasq)
fi
((${#missing[@]} == 0)) ||
	die "missing: ${missing[*]} (install with: docker/build.sh --bench)"
[[ -x $PY ]] || die "$PY missing"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

if [[ $SKIP_BUILD != 1 && -d $ROOT/build ]]; then
	log "building: ninja -C build"
	ninja -C "$ROOT/build" >/dev/null || die "build failed"
fi
if want parasold; then
	for b in "$PARASOLD" "$PARASOL" "$PARASOL_UPDATE"; do
		[[ -x $b ]] || die "$b not found (ninja -C build)"
	done
fi
if want bare; then [[ -x $BARE ]] || die "bench-bare not found at $BARE (ninja -C build)"; fi

# ---------------------------------------------------------------- processes
TMP=$(mktemp -d /tmp/parasol-bench.XXXXXX)
declare -a PIDS=()

stop_pid() { # SIGTERM, wait up to 10 s, then SIGKILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid did not stop on SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	if [[ $KEEP == 1 ]]; then
		log "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T_BEGIN=$SECONDS
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
CLK=$(getconf CLK_TCK)
on_load() { taskset -c "$LOADGEN_CPU" "$@"; }

# ---------------------------------------------------------------- inputs
log "preparing names, zone and blocklists in $TMP"
mkdir -p "$TMP/data"
PREP=$($B prepare --scale-dir "$SCALE_DIR" --queries "$QUERIES" --out "$TMP/data" \
    --subset "$SUBSET" --sample "$SAMPLE" --names "$NAMES" --check "$CHECK") ||
	die "preparing the inputs failed"
log "inputs: $PREP"
prep_get() { tr ' ' '\n' <<<"$PREP" | sed -n "s/^$1=//p"; }
D=$TMP/data

# parasold's lists.db for each size, made with the project's own tools: a
# local-file feed of the set (domains format, subtree), published by
# parasol-update; the bundled feeds a fresh lists.db declares are removed
# (they would be fetched from the internet).  "none": schema only.
declare -A LISTS_DB=()
if want parasold; then
	for z in "${SZS[@]}"; do
		db=$TMP/lists-$z.db
		LISTS_DB[$z]=$db
		cli=("$PARASOL" --lists-db="$db" --control="$TMP/none.sock")
		if [[ $z == none ]]; then
			"${cli[@]}" deny add placeholder.invalid >>"$TMP/parasol-cli.log" 2>&1 &&
			    "${cli[@]}" deny rm placeholder.invalid >>"$TMP/parasol-cli.log" 2>&1 ||
				die "parasol could not create $db (see $TMP/parasol-cli.log)"
		else
			"${cli[@]}" feeds add "bench-$z" "$D/set-$z.txt" --format=domains \
			    --category=bench >>"$TMP/parasol-cli.log" 2>&1 ||
				die "parasol feeds add failed (see $TMP/parasol-cli.log)"
			while read -r id; do
				[[ $id == "bench-$z" ]] && continue
				"${cli[@]}" feeds rm "$id" >>"$TMP/parasol-cli.log" 2>&1
			done < <("${cli[@]}" --json feeds ls |
			    "$PY" -c 'import json,sys; [print(f["id"]) for f in json.load(sys.stdin)]')
			log "parasol-update: publishing the $z set into $db"
			"$PARASOL_UPDATE" --lists-db="$db" --control="$TMP/none.sock" \
			    --no-reload --quiet --max-invalid=0 >>"$TMP/parasol-update.log" 2>&1 ||
				die "parasol-update failed (see $TMP/parasol-update.log)"
		fi
	done
fi

# ---------------------------------------------------------------- nsd
read -r NPORT SPORT <<<"$("$PY" "$HERE/upstream.py" freeport --count 2)"
mkdir -p "$TMP/nsd"
cat >"$TMP/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: $NPORT
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$D"
    database: ""
    zonelistfile: "$TMP/nsd/zone.list"
    xfrdfile: "$TMP/nsd/xfrd.state"
    xfrdir: "$TMP/nsd"
    pidfile: "$TMP/nsd/nsd.pid"
    logfile: "$TMP/nsd.log"
    verbosity: 0
    hide-version: yes
    minimal-responses: yes
    refuse-any: yes
remote-control:
    control-enable: yes
    control-interface: $TMP/nsd/nsd.sock
zone:
    name: "."
    zonefile: "root.zone"
EOF
nsd-checkconf "$TMP/nsd/nsd.conf" || die "bad nsd config"
taskset -c "$LOADGEN_CPU" nsd -d -c "$TMP/nsd/nsd.conf" 2>>"$TMP/nsd.log" &
NSD_PID=$!
PIDS+=("$NSD_PID")
nsd_count() { # queries nsd has answered so far
	nsd-control -c "$TMP/nsd/nsd.conf" stats_noreset 2>/dev/null |
		sed -n 's/^num\.queries=//p'
}
T0=$(date +%s%N)
FIRST=$(head -n 1 "$D/pool.txt")
$BL ready --port "$NPORT" --name "$FIRST" --since-ns "$T0" --timeout 60 --any \
    >"$TMP/nsd-ready.txt" || { cat "$TMP/nsd.log" >&2; die "nsd does not answer"; }
[[ -n $(nsd_count) ]] || die "nsd-control gives no query count"
log "nsd pid=$NSD_PID port=$NPORT zone: $(prep_get zone_names) names ($(prep_get zone_records) records), $(cat "$TMP/nsd-ready.txt")"

# ---------------------------------------------------------------- servers
unset PARASOL_CONFIG
COMM_bare=bench-bare COMM_parasold=parasold COMM_unbound=unbound COMM_dnsmasq=dnsmasq

start_server() { # start_server SERVER SIZE TAG -> sets SPID
	local s=$1 z=$2 tag=$3 conf
	case $s in
	bare)
		taskset -c "$SERVER_CPU" "$BARE" "$SPORT" 2>"$TMP/$tag.log" &
		;;
	parasold)
		taskset -c "$SERVER_CPU" "$PARASOLD" --listen="127.0.0.1:$SPORT" \
		    --upstream="127.0.0.1:$NPORT" --log-level=info \
		    --lists-db="${LISTS_DB[$z]}" --control="$TMP/parasold.sock" \
		    --stats-db="$TMP/stats-$tag.db" --seed-defaults=no \
		    --user="$(id -un)" \
		    2>"$TMP/$tag.log" &
		;;
	unbound)
		conf=$TMP/$tag.conf
		sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$SPORT|g" -e "s|@UPORT@|$NPORT|g" \
		    "$HERE/unbound.conf.in" >"$conf"
		[[ $z == none ]] || echo "include: \"$D/unbound-$z.conf\"" >>"$conf"
		taskset -c "$SERVER_CPU" unbound -d -c "$conf" 2>"$TMP/$tag.log" &
		;;
	dnsmasq)
		# a pure caching forwarder: no resolv.conf, no hosts, no DHCP
		conf=/dev/null
		[[ $z == none ]] || conf=$D/dnsmasq-$z.conf
		taskset -c "$SERVER_CPU" "$DNSMASQ" --keep-in-foreground --conf-file="$conf" \
		    --port="$SPORT" --listen-address=127.0.0.1 --bind-interfaces \
		    --no-resolv --no-hosts --server="127.0.0.1#$NPORT" \
		    --cache-size="$DNSMASQ_CACHE" --dns-forward-max=1000 \
		    --log-facility=- --pid-file= --user=root --group=root \
		    2>"$TMP/$tag.log" &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
}

cpu_ticks() { # utime+stime (clock ticks) of a whole process
	local stat rest f
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}
mem_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
alive() {
	kill -0 "$1" 2>/dev/null && return 0
	tail -n 20 "$TMP/$2.log" >&2
	die "$2 (pid $1) died"
}
dnsperf_field() { sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1"; }

RES=$TMP/results.tsv
INST=$TMP/instances.tsv
printf 'run\tserver\tsize\tscenario\tkind\trate\tqps\tcompleted\tlost\tcpu_ticks\tp50_ms\tp99_ms\tupstream_q\trcodes\n' >"$RES"
printf 'run\tserver\tsize\tready_ms\tfirst_ms\tnames\trss_load\thwm_load\trss_end\thwm_end\n' >"$INST"
CHECKS_DONE=()
NONCE=$(printf '%04x' $((RANDOM % 65536)))

measure() { # measure RUN SERVER SIZE SCENARIO TAG PID
	local run=$1 s=$2 z=$3 sc=$4 tag=$5 pid=$6 file n1=() out cb ca ub ua
	local comp lost qps rc lat p50 p99 lfile rate=$RATE
	case $sc in
	cached) file=$D/hits.txt ;;
	blocked) file=$D/blocked.txt ;;
	mix) file=$D/mix.txt ;;
	miss)
		# more never-asked names than the run can send (bounded by -l)
		file=$TMP/miss-$tag-$run.txt
		$B misses --pool "$D/pool.txt" --tag "m${NONCE}r${run}t" \
		    --count $((DURATION * 150000)) --out "$file"
		n1=(-n 1)
		;;
	esac
	out=$TMP/$tag-$sc-$run.txt
	ub=$(nsd_count)
	cb=$(cpu_ticks "$pid")
	on_load dnsperf -s 127.0.0.1 -p "$SPORT" -d "$file" "${n1[@]}" \
	    -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1 ||
		die "dnsperf failed for $tag $sc (see $out)"
	alive "$pid" "$tag"
	ca=$(cpu_ticks "$pid")
	ua=$(nsd_count)
	comp=$(dnsperf_field "$out" 'Queries completed')
	lost=$(dnsperf_field "$out" 'Queries lost')
	qps=$(dnsperf_field "$out" 'Queries per second')
	rc=$(sed -n 's/^ *Response codes: *//p' "$out")
	[[ -n $comp && -n $qps ]] || die "could not parse dnsperf output $out"
	[[ $rc == "NOERROR "* && $rc != *%*%* ]] ||
		log "  WARNING: $tag $sc: answers other than NOERROR: $rc"
	[[ $sc == miss ]] && rm -f "$file"
	printf '%s\t%s\t%s\t%s\ttput\t-\t%s\t%s\t%s\t%s\t-\t-\t%s\t%s\n' "$run" "$s" \
	    "$z" "$sc" "$qps" "$comp" "$lost" "$((ca - cb))" "$((ua - ub))" "$rc" >>"$RES"

	# fixed rate: per-query latencies from dnsperf -v
	lfile=$file
	if [[ $sc == miss ]]; then
		rate=$MISS_RATE
		lfile=$TMP/miss-$tag-$run-lat.txt
		$B misses --pool "$D/pool.txt" --tag "m${NONCE}r${run}l" \
		    --count $((rate * LAT_DURATION + rate)) --out "$lfile"
	fi
	lat=$TMP/$tag-$sc-$run-lat.txt
	ub=$(nsd_count)
	on_load dnsperf -s 127.0.0.1 -p "$SPORT" -d "$lfile" "${n1[@]}" \
	    -l "$LAT_DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -Q "$rate" -t 2 -v \
	    >"$lat" 2>&1 || die "dnsperf (fixed rate) failed for $tag $sc (see $lat)"
	alive "$pid" "$tag"
	ua=$(nsd_count)
	[[ $sc == miss ]] && rm -f "$lfile"
	read -r _ p50 p99 <<<"$($B latency --file "$lat" | tr '=' ' ' | awk '{ print $1, $4, $6 }')"
	comp=$(dnsperf_field "$lat" 'Queries completed')
	lost=$(dnsperf_field "$lat" 'Queries lost')
	qps=$(dnsperf_field "$lat" 'Queries per second')
	rc=$(sed -n 's/^ *Response codes: *//p' "$lat")
	[[ -n $comp && -n $qps ]] || die "could not parse dnsperf output $lat"
	grep -v '^> ' "$lat" >"$lat.summary" && mv "$lat.summary" "$lat"
	printf '%s\t%s\t%s\t%s\tlat\t%s\t%s\t%s\t%s\t-\t%s\t%s\t%s\t%s\n' "$run" "$s" \
	    "$z" "$sc" "$rate" "$qps" "$comp" "$lost" "$p50" "$p99" "$((ua - ub))" "$rc" >>"$RES"
	log "  $sc: $(awk -v t="$((ca - cb))" -v c="$(tail -n 2 "$RES" | head -n 1 | cut -f8)" \
	    -v k="$CLK" 'BEGIN { if (c > 0) printf "%.2f", t / k * 1e6 / c; else printf "-" }') µs/query," \
	    "$(tail -n 2 "$RES" | head -n 1 | cut -f7 | cut -d. -f1) q/s, lost $(tail -n 2 "$RES" | head -n 1 | cut -f9);" \
	    "at $rate/s: p50 ${p50} ms p99 ${p99} ms lost $lost"
}

instance() { # instance RUN SERVER SIZE
	local run=$1 s=$2 z=$3 tag t0 ready first ready_ms first_ms names=- pid
	local rl hl re he ub ua w sc comm
	tag=$s-$z
	t0=$(date +%s%N)
	start_server "$s" "$z" "$tag"
	pid=$SPID
	# ready: the first answer; with a blocklist, the first blocked answer
	if [[ $s == bare || $z == none ]]; then
		ready=$(on_load $BL ready --port "$SPORT" --name "$FIRST" --since-ns "$t0" \
		    --timeout "$READY_TIMEOUT" --any) ||
			{ tail -n 20 "$TMP/$tag.log" >&2; die "$tag does not answer"; }
	else
		ready=$(on_load $BL ready --port "$SPORT" \
		    --name "$(head -n 1 "$D/blocked.txt" | cut -d' ' -f1)" \
		    --since-ns "$t0" --timeout "$READY_TIMEOUT") ||
			{ tail -n 20 "$TMP/$tag.log" >&2; die "$tag does not block within $READY_TIMEOUT s ($ready)"; }
	fi
	first_ms=$(sed -n 's/.*first_answer_ms=\([-0-9]*\).*/\1/p' <<<"$ready")
	ready_ms=$(sed -n 's/.*first_null_ms=\([-0-9]*\).*/\1/p' <<<"$ready")
	[[ $s == bare || $z == none ]] && ready_ms=$first_ms
	comm=COMM_$s
	[[ $(cat "/proc/$pid/comm") == "${!comm}" ]] || die "pid $pid is not $s"
	rl=$(mem_kib "$pid" VmRSS)
	hl=$(mem_kib "$pid" VmHWM)
	case $s in
	parasold)
		names=$(sed -n 's/.*lists: generation [0-9]*, \([0-9]*\) names.*/\1/p' \
		    "$TMP/$tag.log" | tail -n 1)
		[[ -n $names ]] || names=- ;;
	unbound)
		[[ $z == none ]] && names=0 || names=$(wc -l <"$D/set-$z.txt") ;;
	dnsmasq)
		# dnsmasq counts each address=/NAME/ as one more "nameserver"
		names=$(sed -n 's/.*using \([0-9]*\) more nameservers.*/\1/p' \
		    "$TMP/$tag.log" | tail -n 1)
		[[ -n $names ]] || names=0 ;;
	esac
	log "run $run $tag pid=$pid: ready ${ready_ms} ms, VmRSS $((rl / 1024)) MiB, names $names"

	if [[ $s != bare ]]; then
		# really forwards: fresh names get nsd's answer, and nsd saw them
		$B misses --pool "$D/pool.txt" --tag "c${NONCE}r${run}" --count "$CHECK" \
		    --out /dev/null --check "$TMP/check-fwd.txt"
		ub=$(nsd_count)
		$B check --port "$SPORT" --file "$TMP/check-fwd.txt" >"$TMP/check.out" 2>&1 ||
			{ cat "$TMP/check.out" >&2; die "$tag does not forward misses to nsd"; }
		ua=$(nsd_count)
		((ua - ub >= CHECK)) ||
			die "$tag: nsd saw $((ua - ub)) queries for $CHECK fresh names"
		w="forward $CHECK/$CHECK (nsd +$((ua - ub)))"
		$B check --port "$SPORT" --file "$D/check-hits.txt" >"$TMP/check.out" 2>&1 ||
			{ cat "$TMP/check.out" >&2; die "$tag: wrong answers for top-site names"; }
		w+=", cached names $CHECK/$CHECK"
		if [[ $z != none ]]; then
			$B check --port "$SPORT" --file "$D/check-blocked.txt" >"$TMP/check.out" 2>&1 ||
				{ cat "$TMP/check.out" >&2; die "$tag does not block the blocklist's names"; }
			w+=", blocked $CHECK/$CHECK"
		fi
		log "  checks: $w"
		CHECKS_DONE+=("$tag")
		for ((i = 1; i <= WARM_PASSES; i++)); do
			ub=$(nsd_count)
			on_load dnsperf -s 127.0.0.1 -p "$SPORT" -d "$D/hits.txt" -n 1 \
			    -c "$CLIENTS" -q 100 -t 2 -l 60 >"$TMP/warm.txt" 2>&1 ||
				die "dnsperf warm-up failed for $tag"
			ua=$(nsd_count)
		done
		((ua - ub == 0)) ||
			log "  WARNING: $tag still sent $((ua - ub)) upstream queries in its last warm-up pass"
	fi

	for sc in "${SCS[@]}"; do
		if [[ $s != bare && $z == none && ($sc == blocked || $sc == mix) ]]; then
			continue
		fi
		measure "$run" "$s" "$z" "$sc" "$tag" "$pid"
	done
	re=$(mem_kib "$pid" VmRSS)
	he=$(mem_kib "$pid" VmHWM)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$s" "$z" \
	    "$ready_ms" "$first_ms" "$names" "$rl" "$hl" "$re" "$he" >>"$INST"
	grep -iE 'warn|error|fatal' "$TMP/$tag.log" |
	    grep -v -e 'cache size greater than 10000' | head -n 5 >&2 || true
	stop_pid "$pid"
	forget_pid "$pid"
}

# ---------------------------------------------------------------- rounds
for ((run = 1; run <= RUNS; run++)); do
	if ((run % 2)); then
		order=("${SRV[@]}")
	else
		order=()
		for ((i = ${#SRV[@]} - 1; i >= 0; i--)); do order+=("${SRV[i]}"); done
	fi
	for z in "${SZS[@]}"; do
		for s in "${order[@]}"; do
			# the bare responder has no blocklist: measured once per round
			[[ $s == bare && $z != "${SZS[0]}" ]] && continue
			instance "$run" "$s" "$z"
		done
	done
done

# ---------------------------------------------------------------- report
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
M=$TMP/meta.txt
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M') UTC"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "cores=$(nproc)"
	echo "kernel=$(uname -r)"
	v=-
	want parasold && v="$("$PARASOLD" --version 2>&1 | head -n 1) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
	echo "v_parasold=$v"
	echo "v_unbound=$(pkgver unbound)"
	echo "v_dnsmasq=$(pkgver dnsmasq-base)"
	echo "v_nsd=$(pkgver nsd)"
	echo "v_dnsperf=$(pkgver dnsperf)"
	echo "data=blocklists none / 100k ($(prep_get set_100k) names) / full ($(prep_get set_full) names, $(prep_get lists) files of $(basename "$SCALE_DIR")); nsd zone of $(prep_get zone_names) names of $(basename "$QUERIES") (+ a wildcard under each); cached: $NAMES of them ($(prep_get pool) not blocked by the full set); blocked: $SAMPLE names of the set (every 4th as www.NAME); mix: $(prep_get mix_blocked) of $(prep_get mix) blocked; miss: fresh names under the zone's names"
	echo "runs=$RUNS"
	echo "duration=$DURATION"
	echo "lat_duration=$LAT_DURATION"
	echo "rate=$RATE"
	echo "miss_rate=$MISS_RATE"
	echo "clients=$CLIENTS"
	echo "outstanding=$OUTSTANDING"
	echo "server_cpu=$SERVER_CPU"
	echo "loadgen_cpu=$LOADGEN_CPU"
	echo "elapsed=$((SECONDS - T_BEGIN))"
	echo "loadavg=$LOADAVG"
	echo "clk_tck=$CLK"
	echo "servers=${SRV[*]}"
	echo "sizes=${SZS[*]}"
	echo "scenarios=${SCS[*]}"
	echo "command=RUNS=$RUNS DURATION=$DURATION LAT_DURATION=$LAT_DURATION RATE=$RATE MISS_RATE=$MISS_RATE SERVERS=\"${SRV[*]}\" SIZES=\"${SZS[*]}\" SCENARIOS=\"${SCS[*]}\" tests/bench/bench.sh"
	echo "checks=every server but bare: $CHECK fresh names answered with nsd's address (nsd counted at least $CHECK queries), $CHECK cached names answered with nsd's address, with a blocklist $CHECK blocked names answered A 0.0.0.0 (${#CHECKS_DONE[@]} starts checked); the cache warmed with $WARM_PASSES passes over the cached names"
} >"$M"
$B report --results "$RES" --instances "$INST" --meta "$M" >"$TMP/section.md" ||
	die "report failed"
echo
cat "$TMP/section.md"
if [[ $APPEND == 1 ]]; then
	if [[ ! -e $ROOT/BENCHMARKS.md ]]; then
		{ cat "$HERE/benchmarks-intro.md"; echo; cat "$HERE/bench-method.md"; } \
		    >"$ROOT/BENCHMARKS.md"
	fi
	{ echo; cat "$TMP/section.md"; } >>"$ROOT/BENCHMARKS.md"
	log "appended to $ROOT/BENCHMARKS.md"
fi
log "done in $((SECONDS - T_BEGIN)) s"
