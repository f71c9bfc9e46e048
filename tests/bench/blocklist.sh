#!/usr/bin/env bash
# Blocklist-at-scale benchmark: parasold with the ~1.1M-name scale set next
# to unbound with the same names as `local-zone: "NAME." always_null`.
#
#   cd /work/main && tests/bench/blocklist.sh
#
# What it does (all traffic on 127.0.0.1 only, all state in a temp dir):
#   1. builds the unique name set of shared/data/scale (every list file:
#      `#` comments and blank lines skipped, lower-cased, trailing dot
#      stripped), a lists.db holding it as one subtree deny feed (schema made
#      by `parasol deny add/rm placeholder.invalid`, entries inserted with
#      /usr/bin/python3 in one transaction that also bumps the generation),
#      an empty lists.db (schema only), and an unbound include file with one
#      always_null local-zone per name;
#   2. starts tests/bench/upstream.py on core 1 (explicit loopback upstream
#      for every server);
#   3. start-up: $STARTS times each, starts parasold (1.1M list) and unbound
#      (1.1M local zones) on core 0 and polls every 5 ms with an A query for
#      a blocked name until the answer is A 0.0.0.0; records the time from
#      the start, parasold's `lists: ... built in X ms` log line, VmRSS and
#      VmHWM after load, CPU time used; all but the last instance are
#      stopped again (SIGTERM, time to exit recorded).  parasold with the
#      empty lists.db is started once the same way;
#   4. blocked names: a fixed-seed sample of $SAMPLE names of the set, every
#      $WWW_EVERY-th asked as www.NAME (parent match), type A.  Every answer
#      is checked once (blocklist.py verify, with EDNS: A 0.0.0.0, and for
#      parasold EDE 15), plus dig spot checks; then $RUNS interleaved
#      `dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING` runs per server,
#      dnsperf on core 1, server CPU from /proc/PID/stat, upstream query
#      counter (must stay 0), parasold's SIGUSR1 stats (blocked delta);
#   5. cache hits, matcher cost: the first $NAMES Umbrella names that the set
#      does not block (name nor any parent in it), warmed as in run.sh, then
#      $RUNS interleaved runs of parasold without a list, parasold with the
#      1.1M list and (CACHE_UNBOUND=1) unbound with the 1.1M local zones;
#   6. RSS/HWM of every server at the end; prints a markdown section and
#      appends it to BENCHMARKS.md (APPEND=0 to skip), with the method text
#      (tests/bench/blocklist-method.md) the first time.
#
# Knobs (environment): RUNS (3) DURATION (10) STARTS (3) SAMPLE (10000)
#   WWW_EVERY (4) SEED (1) NAMES (10000) CLIENTS (4) OUTSTANDING (200)
#   WARM_PASSES (3) WARM_OUTSTANDING (100) CACHE_UNBOUND (1) APPEND (1)
#   KEEP (0: keep the temp dir) SKIP_BUILD (0) SCALE_DIR QUERIES PARASOLD
#   PARASOL
# Needs: >= 2 cores, ~1 GB free memory, dnsperf, unbound, dig, taskset,
#   /usr/bin/python3.  Takes about 4 minutes with the defaults.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
STARTS=${STARTS:-3}
SAMPLE=${SAMPLE:-10000}
WWW_EVERY=${WWW_EVERY:-4}
SEED=${SEED:-1}
NAMES=${NAMES:-10000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
WARM_PASSES=${WARM_PASSES:-3}
WARM_OUTSTANDING=${WARM_OUTSTANDING:-100}
CACHE_UNBOUND=${CACHE_UNBOUND:-1}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PARASOLD=${PARASOLD:-$ROOT/build/resolver/parasold}
PARASOL=${PARASOL:-$ROOT/build/tools/parasol}
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
SERVER_CPU=0
LOADGEN_CPU=1
BL="$PY $HERE/blocklist.py"

log() { printf '[blbench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- checks
for v in RUNS DURATION STARTS SAMPLE WWW_EVERY SEED NAMES CLIENTS OUTSTANDING \
    WARM_PASSES WARM_OUTSTANDING; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
(( DURATION <= 120 )) || die "DURATION is capped at 120 s"
(( RUNS <= 15 )) || die "RUNS is capped at 15"
(( STARTS <= 10 )) || die "STARTS is capped at 10"
[[ $(nproc) -ge 2 ]] || die "needs at least 2 cores (server on core 0, load on core 1)"
[[ -n $SCALE_DIR && -d $SCALE_DIR ]] || die "scale list folder not found (set SCALE_DIR=)"
[[ -n $QUERIES && -r $QUERIES ]] || die "query name list not found (set QUERIES=)"

missing=()
for b in dnsperf unbound dig; do command -v "$b" >/dev/null || missing+=("$b"); done
if (( ${#missing[@]} )); then
	pkgs=()
	for b in "${missing[@]}"; do
		case $b in dig) pkgs+=(bind9-dnsutils) ;; *) pkgs+=("$b") ;; esac
	done
	if [[ $(id -u) -eq 0 ]]; then
		log "installing missing Debian packages: ${pkgs[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
	else
		die "missing: ${missing[*]} (apt-get install ${pkgs[*]})"
	fi
fi
command -v taskset >/dev/null || die "taskset (util-linux) missing"
[[ -x $PY ]] || die "$PY missing"
"$PY" -c 'import sqlite3' || die "$PY has no sqlite3 module"

if [[ $SKIP_BUILD != 1 && -d $ROOT/build ]]; then
	log "building: ninja -C build"
	ninja -C "$ROOT/build" >/dev/null || die "build failed"
fi
[[ -x $PARASOLD ]] || die "parasold binary not found at $PARASOLD"
[[ -x $PARASOL ]] || die "parasol CLI not found at $PARASOL"
"$PARASOLD" --help 2>&1 | grep -q -- '--seed-defaults=' ||
	die "this parasold has no blocklist options"

TMP=$(mktemp -d /tmp/parasold-blbench.XXXXXX)
declare -a PIDS=()

cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid did not stop on SIGTERM, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CLK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- data
shopt -s nullglob
LISTS=()
for f in "$SCALE_DIR"/* "$SCALE_DIR"/*/*; do
	[[ -f $f && $(basename "$f") != SOURCES.md ]] && LISTS+=("$f")
done
shopt -u nullglob
(( ${#LISTS[@]} )) || die "no list files in $SCALE_DIR"
NSET=$($BL names --out "$TMP/names.txt" "${LISTS[@]}")
log "scale set: $NSET unique names from ${#LISTS[@]} files in $SCALE_DIR"

$BL sample --names "$TMP/names.txt" --count "$SAMPLE" --www-every "$WWW_EVERY" \
    --seed "$SEED" --out "$TMP/blocked.txt" >"$TMP/sample.txt"
log "blocked-name queries: $(cat "$TMP/sample.txt")"
$BL cachenames --names "$TMP/names.txt" --queries "$QUERIES" --count "$NAMES" \
    --out "$TMP/cachehit.txt" >"$TMP/cachenames.txt"
log "cache-hit queries from $(basename "$QUERIES"): $(cat "$TMP/cachenames.txt") (skipped = blocked by the set)"

make_schema() { # make_schema DB: parasol's own schema, no entries
	"$PARASOL" --lists-db="$1" --control="$TMP/none.sock" deny add \
	    placeholder.invalid >>"$TMP/parasol-cli.log" 2>&1 ||
		die "parasol deny add failed (see $TMP/parasol-cli.log)"
	"$PARASOL" --lists-db="$1" --control="$TMP/none.sock" deny rm \
	    placeholder.invalid >>"$TMP/parasol-cli.log" 2>&1 ||
		die "parasol deny rm failed (see $TMP/parasol-cli.log)"
}
SCALE_DB=$TMP/scale.db
EMPTY_DB=$TMP/empty.db
make_schema "$SCALE_DB"
make_schema "$EMPTY_DB"
LOADED=$($BL load-db --db "$SCALE_DB" --names "$TMP/names.txt")
log "lists.db: $LOADED ($(du -k "$SCALE_DB" | cut -f1) KiB)"
DB_KIB=$(du -k "$SCALE_DB" | cut -f1)
DB_LOAD_S=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$LOADED")

$BL unbound-zones --names "$TMP/names.txt" --out "$TMP/zones.conf" >/dev/null
ZONES_KIB=$(du -k "$TMP/zones.conf" | cut -f1)

# a blocked probe name (parent match) for the readiness polls
PROBE="www.$(head -n 1 "$TMP/blocked.txt" | awk '{ sub(/^www\./, "", $1); print $1 }')"

# ---------------------------------------------------------------- upstream
read -r UPORT PPORT EPORT BPORT <<<"$("$PY" "$HERE/upstream.py" freeport --count 4)"
log "ports: upstream=$UPORT parasold=$PPORT parasold-nolist=$EPORT unbound=$BPORT; tmp=$TMP"

taskset -c "$LOADGEN_CPU" "$PY" "$HERE/upstream.py" serve --listen 127.0.0.1 \
    --port "$UPORT" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
upcount() { "$PY" "$HERE/upstream.py" count --server 127.0.0.1 --port "$UPORT"; }
for ((i = 0; i < 50; i++)); do
	upcount >/dev/null 2>&1 && break
	sleep 0.1
done
upcount >/dev/null || die "upstream did not come up"

# ---------------------------------------------------------------- servers
unset PARASOL_CONFIG
declare -A PORT=([parasold]=$PPORT [parasold-nolist]=$EPORT [unbound]=$BPORT)
declare -A PID=()
declare -A LOGF=()

p_args() { # p_args DB SOCK PORT
	# Recording is measured on its own (recording.sh); here the matcher.
	echo "--lists-db=$1 --control=$2 --seed-defaults=no --stats-db=none" \
	    "--listen=127.0.0.1:$3 --upstream=127.0.0.1:$UPORT --log-level=info" \
	    "--user=$(id -un)"
}
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$BPORT|g" -e "s|@UPORT@|$UPORT|g" \
    "$HERE/unbound.conf.in" >"$TMP/unbound-base.conf"
unbound-checkconf "$TMP/unbound-base.conf" >/dev/null || die "bad unbound config"
{
	cat "$TMP/unbound-base.conf"
	echo
	echo "# the scale set, one always_null local zone per name"
	echo "include: \"$TMP/zones.conf\""
} >"$TMP/unbound.conf"

cpu_ticks() {
	local stat rest f
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# start_server NAME TAG: start on core 0, wait until it answers, record a
# row in startup.tsv; leaves PID[NAME] set
start_server() {
	local s=$1 tag=$2 t0 out pid first null build names kib
	LOGF[$s]=$TMP/$s-$tag.log
	t0=${EPOCHREALTIME/./}000
	case $s in
	parasold)
		# shellcheck disable=SC2046
		taskset -c "$SERVER_CPU" "$PARASOLD" $(p_args "$SCALE_DB" \
		    "$TMP/parasold.sock" "$PPORT") 2>"${LOGF[$s]}" &
		;;
	parasold-nolist)
		# shellcheck disable=SC2046
		taskset -c "$SERVER_CPU" "$PARASOLD" $(p_args "$EMPTY_DB" \
		    "$TMP/parasold-nolist.sock" "$EPORT") 2>"${LOGF[$s]}" &
		;;
	unbound)
		taskset -c "$SERVER_CPU" unbound -d -c "$TMP/unbound.conf" \
		    2>"${LOGF[$s]}" &
		;;
	esac
	pid=$!
	PIDS+=("$pid")
	PID[$s]=$pid
	if [[ $s == parasold-nolist ]]; then
		out=$($BL ready --port "${PORT[$s]}" --name "$PROBE" \
		    --since-ns "$t0" --timeout 60 --any) ||
			{ tail -n 20 "${LOGF[$s]}" >&2; die "$s does not answer"; }
	else
		out=$($BL ready --port "${PORT[$s]}" --name "$PROBE" \
		    --since-ns "$t0" --timeout 120) ||
			{ tail -n 20 "${LOGF[$s]}" >&2; die "$s does not answer $PROBE with 0.0.0.0 ($out)"; }
	fi
	local comm
	comm=$(<"/proc/$pid/comm")
	[[ $comm == parasold || $comm == unbound ]] || die "pid $pid is $comm"
	first=$(sed -n 's/.*first_answer_ms=\([-0-9]*\).*/\1/p' <<<"$out")
	null=$(sed -n 's/.*first_null_ms=\([-0-9]*\).*/\1/p' <<<"$out")
	build=- names=- kib=-
	if [[ $s == parasold* ]]; then
		local line
		line=$(grep -m 1 'lists: generation' "${LOGF[$s]}" || true)
		build=$(sed -n 's/.*built in \([0-9]*\) ms.*/\1/p' <<<"$line")
		names=$(sed -n 's/.*, \([0-9]*\) names,.*/\1/p' <<<"$line")
		kib=$(sed -n 's/.*names, \([0-9]*\) KiB,.*/\1/p' <<<"$line")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$tag" \
	    "$first" "$null" "${build:--}" "${names:--}" "${kib:--}" \
	    "$(vm_kb "$pid" VmRSS)" "$(vm_kb "$pid" VmHWM)" \
	    "$(cpu_ticks "$pid")" "$CLK" >>"$TMP/startup.tsv"
	log "$s start $tag: pid=$pid answer after ${first} ms (blocked answer after ${null} ms), build=${build:--} ms names=${names:--} RSS=$(vm_kb "$pid" VmRSS) kB HWM=$(vm_kb "$pid" VmHWM) kB"
}

# stop_server NAME: SIGTERM, wait, record the time it took
stop_server() {
	local s=$1 pid=${PID[$1]} t0 i ms
	t0=${EPOCHREALTIME/./}
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie child counts as stopped
		[[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
		sleep 0.02
	done
	kill -0 "$pid" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]] &&
		die "$s (pid $pid) did not stop within 6 s"
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	wait "$pid" 2>/dev/null || true
	local keep=()
	for i in "${PIDS[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
	PIDS=("${keep[@]}")
	echo -e "$s\t$ms" >>"$TMP/stop.tsv"
	log "$s stopped in $ms ms"
}

printf 'server\tstart\tfirst_answer_ms\tfirst_null_ms\tbuild_ms\tnames\tsnap_kib\trss_kb\thwm_kb\tcpu_ticks\tclk_tck\n' >"$TMP/startup.tsv"
printf 'server\tstop_ms\n' >"$TMP/stop.tsv"
for ((k = 1; k <= STARTS; k++)); do
	for s in parasold unbound; do
		start_server "$s" "$k"
		if ((k < STARTS)); then stop_server "$s"; fi
	done
done
start_server parasold-nolist 1

alive() {
	kill -0 "$1" 2>/dev/null || {
		log "process $1 died"
		tail -n 20 "$TMP"/*.log >&2
		die "a server died during the benchmark"
	}
}
parasold_stats() { # parasold_stats NAME
	local s=$1 f=${LOGF[$1]} n i
	n=$(grep -c 'stats: ' "$f" || true)
	kill -USR1 "${PID[$s]}"
	for ((i = 0; i < 60; i++)); do
		(($(grep -c 'stats: ' "$f" || true) > n)) && break
		sleep 0.05
	done
	(($(grep -c 'stats: ' "$f" || true) > n)) ||
		die "$s printed no stats line on SIGUSR1"
	grep 'stats: ' "$f" | tail -n 1 | sed 's/.*stats: //'
}
stat_get() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
sock_drops() {
	ss -uamn "sport = :$1" 2>/dev/null | grep -o ',d[0-9]*)' | tr -dc '0-9\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

# ---------------------------------------------------------------- checks of the blocked answers
UP_BEFORE_BLOCKED=$(upcount)
printf 'server\tname\tstatus\tanswer\tede\n' >"$TMP/spot.tsv"
spot() { # spot SERVER NAME: one dig, with EDNS
	local out status ans ede
	out=$(dig +time=2 +tries=1 +norec @127.0.0.1 -p "${PORT[$1]}" "$2" A 2>&1 || true)
	status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out")
	ans=$(awk '/^;; ANSWER SECTION:/ { a = 1; next } /^$/ { a = 0 } a && $4 == "A" { printf "%s ", $5 }' <<<"$out")
	ede=$(sed -n 's/^; EDE: \([0-9]*\) (\([^)]*\)).*/\1 (\2)/p' <<<"$out")
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${status:-none}" "${ans% }" \
	    "${ede:--}" >>"$TMP/spot.tsv"
	echo "$out" >>"$TMP/spot-$1.txt"
}
SPOT_BASE=$(sed -n 2p "$TMP/blocked.txt" | awk '{ print $1 }')
SPOT_NAMES=("$SPOT_BASE" "www.$SPOT_BASE" "a.b.c.$SPOT_BASE"
    "$(tail -n 1 "$TMP/names.txt")")
for s in parasold unbound; do
	for n in "${SPOT_NAMES[@]}"; do spot "$s" "$n"; done
done
declare -A VERIFY=()
for s in parasold unbound; do
	extra=()
	[[ $s == parasold ]] && extra=(--require-ede15)
	VERIFY[$s]=$($BL verify --port "${PORT[$s]}" --file "$TMP/blocked.txt" \
	    --edns "${extra[@]}" 2>"$TMP/verify-$s.err") ||
		{ cat "$TMP/verify-$s.err" >&2; die "$s: not every sampled name was blocked: ${VERIFY[$s]}"; }
	log "verify $s: ${VERIFY[$s]}"
done

# ---------------------------------------------------------------- measurement
RES=$TMP/results.tsv
printf 'scenario\tserver\trun\tqps\tsent\tcompleted\tlost\tcpu_ticks\tclk_tck\trun_s\tlat_avg_s\tupstream_q\tp_queries\tp_blocked\tp_cache_hits\tp_forwarded\tsock_drops\trcodes\n' >"$RES"

# measure SCENARIO SERVER RUN QUERYFILE
measure() {
	local sc=$1 s=$2 run=$3 qf=$4 port=${PORT[$2]} pid=${PID[$2]} out
	local ub ua cb ca sb sa db da pq=- pb=- ph=- pf=-
	out=$TMP/run-$sc-$s-$run.txt
	ub=$(upcount)
	[[ $s == parasold* ]] && sb=$(parasold_stats "$s")
	db=$(sock_drops "$port")
	cb=$(cpu_ticks "$pid")
	taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$qf" \
	    -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" >"$out" 2>&1 ||
		die "dnsperf failed for $s (see $out)"
	alive "$pid"
	ca=$(cpu_ticks "$pid")
	da=$(sock_drops "$port")
	if [[ $s == parasold* ]]; then
		sa=$(parasold_stats "$s")
		pq=$(($(stat_get "$sa" queries) - $(stat_get "$sb" queries)))
		pb=$(($(stat_get "$sa" blocked) - $(stat_get "$sb" blocked)))
		ph=$(($(stat_get "$sa" cache_hits) - $(stat_get "$sb" cache_hits)))
		pf=$(($(stat_get "$sa" forwarded) - $(stat_get "$sb" forwarded)))
		echo "$sc run $run before: $sb" >>"$TMP/$s-stats.txt"
		echo "$sc run $run after:  $sa" >>"$TMP/$s-stats.txt"
	fi
	ua=$(upcount)
	local sent comp lost qps rt lat rc
	sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$out")
	comp=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out")
	lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$out")
	qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out")
	rt=$(sed -n 's/^ *Run time (s): *\([0-9.]*\).*/\1/p' "$out")
	lat=$(sed -n 's/^ *Average Latency (s): *\([0-9.]*\).*/\1/p' "$out")
	rc=$(sed -n 's/^ *Response codes: *//p' "$out")
	[[ -n $comp && -n $qps ]] || die "could not parse dnsperf output $out"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
	    "$sc" "$s" "$run" "$qps" "$sent" "$comp" "$lost" "$((ca - cb))" "$CLK" \
	    "$rt" "$lat" "$((ua - ub))" "$pq" "$pb" "$ph" "$pf" "$((da - db))" \
	    "$rc" >>"$RES"
	log "$sc $s run $run: qps=$qps completed=$comp lost=$lost drops=$((da - db)) cpu_ticks=$((ca - cb)) upstream_q=$((ua - ub)) parasold(queries=$pq blocked=$pb hits=$ph fwd=$pf) rcodes: $rc"
}

# interleave SCENARIO QUERYFILE SERVER...: RUNS rounds, order rotated
interleave() {
	local sc=$1 qf=$2 run i n
	shift 2
	local servers=("$@")
	n=${#servers[@]}
	for ((run = 1; run <= RUNS; run++)); do
		for ((i = 0; i < n; i++)); do
			measure "$sc" "${servers[$(((i + run - 1) % n))]}" "$run" "$qf"
		done
	done
}

# one untimed pass over the blocked names per server (sanity, page-in)
for s in parasold unbound; do
	taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" \
	    -d "$TMP/blocked.txt" -n 1 -l 60 -c "$CLIENTS" -q "$WARM_OUTSTANDING" \
	    -t 2 >"$TMP/warm-blocked-$s.txt" 2>&1 || die "dnsperf warm-up failed for $s"
done
interleave blocked "$TMP/blocked.txt" parasold unbound
UP_AFTER_BLOCKED=$(upcount)
UP_BLOCKED_PHASE=$((UP_AFTER_BLOCKED - UP_BEFORE_BLOCKED))
log "upstream queries during the whole blocked-name phase (checks, warm-up, runs): $UP_BLOCKED_PHASE"

CACHE_SERVERS=(parasold-nolist parasold)
[[ $CACHE_UNBOUND == 1 ]] && CACHE_SERVERS+=(unbound)
declare -A WARM_LEFT=()
for s in "${CACHE_SERVERS[@]}"; do
	left=-1
	for ((pass = 1; pass <= WARM_PASSES; pass++)); do
		b=$(upcount)
		taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" \
		    -d "$TMP/cachehit.txt" -n 1 -l 60 -c "$CLIENTS" \
		    -q "$WARM_OUTSTANDING" -t 2 >"$TMP/warm-cache-$s-$pass.txt" 2>&1 ||
			die "dnsperf warm-up failed for $s"
		a=$(upcount)
		left=$((a - b))
		log "warm-up $s pass $pass: upstream_queries=$left"
		alive "${PID[$s]}"
		((left == 0)) && break
	done
	WARM_LEFT[$s]=$left
	((left == 0)) || log "WARNING: $s still sent $left upstream queries in its last warm-up pass"
done
interleave cachehit "$TMP/cachehit.txt" "${CACHE_SERVERS[@]}"

# ---------------------------------------------------------------- end state
printf 'server\trss_kb\thwm_kb\tlog_warn_err\n' >"$TMP/end.tsv"
for s in parasold parasold-nolist unbound; do
	alive "${PID[$s]}"
	if [[ $s == unbound ]]; then
		nerr=$(grep -v ' info: ' "${LOGF[$s]}" | grep -c . || true)
	else
		nerr=$(grep -cE 'parasold (warn|error):' "${LOGF[$s]}" || true)
	fi
	printf '%s\t%s\t%s\t%s\n' "$s" "$(vm_kb "${PID[$s]}" VmRSS)" \
	    "$(vm_kb "${PID[$s]}" VmHWM)" "$nerr" >>"$TMP/end.tsv"
done
# parasold's counters at the end (lost/dropped/errors)
for s in parasold parasold-nolist; do
	echo "$s end: $(parasold_stats "$s")" >>"$TMP/end-stats.txt"
done

# ---------------------------------------------------------------- report
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_FAM=$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_MOD=$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
MEM=$(awk '/^MemTotal:/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)
P_VER="$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown) ($("$PARASOLD" --version 2>&1 | head -n 1))"
U_VER="$(unbound -V 2>&1 | head -n 1) ($(dpkg-query -W -f='${Version}' unbound 2>/dev/null || echo '?'))"
D_VER="dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version *//p' | head -n 1) ($(dpkg-query -W -f='${Version}' dnsperf 2>/dev/null || echo '?'))"

CMD="cd $ROOT && tests/bench/blocklist.sh"
nondefault=""
for kv in RUNS=3 DURATION=10 STARTS=3 SAMPLE=10000 WWW_EVERY=4 SEED=1 \
    NAMES=10000 CLIENTS=4 OUTSTANDING=200 WARM_PASSES=3 WARM_OUTSTANDING=100 \
    CACHE_UNBOUND=1; do
	k=${kv%%=*}
	[[ ${!k} != "${kv#*=}" ]] && nondefault+="$k=${!k} "
done
[[ -n $nondefault ]] && CMD="cd $ROOT && ${nondefault}tests/bench/blocklist.sh"

"$PY" "$HERE/blocklist_report.py" --tmp "$TMP" \
    --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --machine "nproc=$(nproc), CPU: $CPU_MODEL (family $CPU_FAM model $CPU_MOD), $MEM, kernel $(uname -r); load average before the run $LOAD_BEFORE (after it, including its own two busy cores: $(cut -d' ' -f1-3 /proc/loadavg))" \
    --parasold-version "$P_VER" --unbound-version "$U_VER" \
    --dnsperf-version "$D_VER" --command "$CMD" \
    --set "$NSET unique names from ${#LISTS[@]} files of $(basename "$SCALE_DIR")/ (lists.db $((DB_KIB / 1024)) MiB, filled in ${DB_LOAD_S} s; unbound include file $((ZONES_KIB / 1024)) MiB)" \
    --blocked-queries "$SAMPLE names drawn from the set (seed $SEED), 1 in $WWW_EVERY asked as www.NAME ($(cat "$TMP/sample.txt")), type A, no EDNS" \
    --cache-queries "first $NAMES names of $(basename "$QUERIES") that the set does not block ($(cat "$TMP/cachenames.txt")), type A, no EDNS" \
    --load "dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING, $RUNS runs per server (interleaved, order rotated); start-up measured $STARTS times per server" \
    --parasold-args "$(p_args '$DB' '$TMP/parasold.sock' PORT | sed "s|:$UPORT|:UPORT|")" \
    --verify "parasold: ${VERIFY[parasold]}; unbound: ${VERIFY[unbound]}" \
    --upstream-blocked "$UP_BLOCKED_PHASE" \
    --warm "$(for s in "${CACHE_SERVERS[@]}"; do printf '%s=%s ' "$s" "${WARM_LEFT[$s]}"; done)" \
    --probe "$PROBE" \
    >"$TMP/section.md"

cat "$TMP/section.md"
if [[ $APPEND == 1 ]]; then
	BM=$ROOT/BENCHMARKS.md
	[[ -e $BM ]] || cat "$HERE/benchmarks-intro.md" >"$BM"
	if ! grep -q '^## Method: blocklist at scale' "$BM"; then
		{ echo; cat "$HERE/blocklist-method.md"; } >>"$BM"
	fi
	{ echo; cat "$TMP/section.md"; } >>"$BM"
	log "appended results to $BM"
fi
for s in parasold parasold-nolist unbound; do
	if [[ $s == unbound ]]; then
		lines=$(grep -v ' info: ' "${LOGF[$s]}" || true)
	else
		lines=$(grep -E 'parasold (warn|error):' "${LOGF[$s]}" || true)
	fi
	[[ -n $lines ]] && { log "$s logged warnings/errors (first 10):"; head -n 10 <<<"$lines" >&2; }
done
log "done in $((SECONDS - T_BEGIN)) s"
