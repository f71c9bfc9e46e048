#!/usr/bin/env bash
# Cached-answer throughput benchmark: parasold next to unbound.
#
#   cd /work/main && tests/bench/run.sh
#
# What it does (all traffic on 127.0.0.1 only):
#   1. starts tests/bench/upstream.py (a tiny authoritative-style responder:
#      any name -> A 192.0.2.x TTL 3600) pinned to core 1;
#   2. starts parasold and unbound (forwarder to that same upstream, config
#      from tests/bench/unbound.conf.in), both pinned to core 0;
#   3. warms both caches with bounded dnsperf passes over the first $NAMES
#      names of the Umbrella top-100k list, until a pass causes no upstream
#      query (at most $WARM_PASSES passes, dnsperf -n 1 -q $WARM_OUTSTANDING);
#   4. measures each server $RUNS times, interleaved, with
#      `dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING` pinned to core 1,
#      reading the server's utime+stime from /proc/PID/stat before and after,
#      the upstream's query counter and (parasold) its SIGUSR1 stats line;
#   5. prints a markdown section (medians + per-run numbers) and appends it
#      to BENCHMARKS.md (APPEND=0 to skip).
#
# Knobs (environment): RUNS DURATION NAMES CLIENTS OUTSTANDING WARM_PASSES
#   WARM_OUTSTANDING (100: dnsperf -q for the warm-up passes)
#   APPEND (1) KEEP (0: keep the temp dir with all logs) SKIP_BUILD (0)
#   QUERIES (path of the name list) PARASOLD (binary)
# Needs: >= 2 cores, dnsperf, unbound, taskset, /usr/bin/python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
NAMES=${NAMES:-10000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
WARM_PASSES=${WARM_PASSES:-3}
WARM_OUTSTANDING=${WARM_OUTSTANDING:-100}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PARASOLD=${PARASOLD:-$ROOT/build/resolver/parasold}
if [[ -z ${QUERIES:-} ]]; then
	for q in "$ROOT/../shared/data/queries/umbrella-top-100k.txt" \
	    /work/shared/data/queries/umbrella-top-100k.txt; do
		if [[ -r $q ]]; then QUERIES=$q; break; fi
	done
fi
PY=/usr/bin/python3
SERVER_CPU=0
LOADGEN_CPU=1

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- checks
for v in RUNS DURATION NAMES CLIENTS OUTSTANDING WARM_PASSES WARM_OUTSTANDING; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
(( DURATION <= 120 )) || die "DURATION is capped at 120 s"
(( RUNS <= 15 )) || die "RUNS is capped at 15"
[[ $(nproc) -ge 2 ]] || die "needs at least 2 cores (server on core 0, load on core 1)"
[[ -n ${QUERIES:-} && -r $QUERIES ]] || die "query name list not found (set QUERIES=)"

missing=()
for b in dnsperf unbound; do command -v "$b" >/dev/null || missing+=("$b"); done
if (( ${#missing[@]} )); then
	if [[ $(id -u) -eq 0 ]]; then
		log "installing missing Debian packages: ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
	else
		die "missing: ${missing[*]} (apt-get install ${missing[*]})"
	fi
fi
command -v taskset >/dev/null || die "taskset (util-linux) missing"
[[ -x $PY ]] || die "$PY missing"

if [[ $SKIP_BUILD != 1 && -d $ROOT/build ]]; then
	log "building: ninja -C build"
	ninja -C "$ROOT/build" >/dev/null || die "build failed"
fi
[[ -x $PARASOLD ]] || die "parasold binary not found at $PARASOLD"

# ---------------------------------------------------------------- processes
TMP=$(mktemp -d /tmp/parasold-bench.XXXXXX)
declare -a PIDS=()

cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 30; i++)); do
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

read -r UPORT PPORT BPORT <<<"$("$PY" "$HERE/upstream.py" freeport --count 3)"
log "ports: upstream=$UPORT parasold=$PPORT unbound=$BPORT; tmp=$TMP"

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

unset PARASOL_CONFIG
P_ARGS=(--listen="127.0.0.1:$PPORT" --upstream="127.0.0.1:$UPORT"
    --cache-size=64M --log-level=warn)
# Builds with blocking keep their state in the temp dir, never in the
# system paths (/var/lib/parasol, /run/parasol); the bundled default lists
# are seeded into the fresh lists.db as on a new install.
P_HELP=$("$PARASOLD" --help 2>&1 || true)
[[ $P_HELP == *--lists-db=* ]] && P_ARGS+=(--lists-db="$TMP/lists.db")
[[ $P_HELP == *--control=* ]] && P_ARGS+=(--control="$TMP/parasold.sock")
[[ $P_HELP == *--stats-db=* ]] && P_ARGS+=(--stats-db="$TMP/stats.db")
log "parasold ${P_ARGS[*]}"
taskset -c "$SERVER_CPU" "$PARASOLD" "${P_ARGS[@]}" 2>"$TMP/parasold.log" &
P_PID=$!
PIDS+=("$P_PID")

sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$BPORT|g" -e "s|@UPORT@|$UPORT|g" \
    "$HERE/unbound.conf.in" >"$TMP/unbound.conf"
unbound-checkconf "$TMP/unbound.conf" >/dev/null || die "bad unbound config"
taskset -c "$SERVER_CPU" unbound -d -c "$TMP/unbound.conf" 2>"$TMP/unbound.log" &
U_PID=$!
PIDS+=("$U_PID")

"$PY" "$HERE/upstream.py" probe --server 127.0.0.1 --port "$PPORT" >/dev/null ||
	{ cat "$TMP/parasold.log" >&2; die "parasold does not answer"; }
"$PY" "$HERE/upstream.py" probe --server 127.0.0.1 --port "$BPORT" >/dev/null ||
	{ cat "$TMP/unbound.log" >&2; die "unbound does not answer"; }
[[ $(cat /proc/$P_PID/comm) == parasold ]] || die "pid $P_PID is not parasold"
[[ $(cat /proc/$U_PID/comm) == unbound ]] || die "pid $U_PID is not unbound"
log "parasold pid=$P_PID unbound pid=$U_PID upstream pid=$UP_PID"

port_of() { case $1 in parasold) echo "$PPORT" ;; unbound) echo "$BPORT" ;; esac; }
pid_of() { case $1 in parasold) echo "$P_PID" ;; unbound) echo "$U_PID" ;; esac; }

# utime+stime (clock ticks) of a whole process, from /proc/PID/stat
cpu_ticks() {
	local stat rest f
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}

# SIGUSR1 -> parasold prints a `stats: key=value ...` line on stderr
parasold_stats() {
	local n i
	n=$(grep -c 'stats: ' "$TMP/parasold.log" || true)
	kill -USR1 "$P_PID"
	for ((i = 0; i < 60; i++)); do
		(($(grep -c 'stats: ' "$TMP/parasold.log" || true) > n)) && break
		sleep 0.05
	done
	(($(grep -c 'stats: ' "$TMP/parasold.log" || true) > n)) ||
		die "parasold printed no stats line on SIGUSR1"
	grep 'stats: ' "$TMP/parasold.log" | tail -n 1 | sed 's/.*stats: //'
}
# kernel drops (receive buffer full) on the server's UDP socket, from ss
sock_drops() {
	ss -uamn "sport = :$1" 2>/dev/null | grep -o ',d[0-9]*)' | tr -dc '0-9\n' |
		awk '{ s += $1 } END { print s + 0 }'
}
stat_get() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

alive() {
	kill -0 "$1" 2>/dev/null || {
		log "process $1 died"
		tail -n 20 "$TMP"/*.log >&2
		die "a server died during the benchmark"
	}
}

# ---------------------------------------------------------------- query file
head -n "$NAMES" "$QUERIES" | awk 'NF { print $1 " A" }' >"$TMP/queries.txt"
NQ=$(wc -l <"$TMP/queries.txt")
[[ $NQ -eq $NAMES ]] || die "query list has only $NQ names"

# ---------------------------------------------------------------- warm-up
declare -A WARM_LEFT=()
for s in parasold unbound; do
	left=-1
	for ((pass = 1; pass <= WARM_PASSES; pass++)); do
		b=$(upcount)
		taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "$(port_of $s)" \
		    -d "$TMP/queries.txt" -n 1 -l 60 -c "$CLIENTS" \
		    -q "$WARM_OUTSTANDING" -t 2 >"$TMP/warm-$s-$pass.txt" 2>&1 ||
			die "dnsperf warm-up failed for $s"
		a=$(upcount)
		left=$((a - b))
		comp=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' \
		    "$TMP/warm-$s-$pass.txt")
		log "warm-up $s pass $pass: completed=$comp upstream_queries=$left"
		alive "$(pid_of $s)"
		((left == 0)) && break
	done
	WARM_LEFT[$s]=$left
	((left == 0)) || log "WARNING: $s still sent $left upstream queries in its last warm-up pass"
done

# ---------------------------------------------------------------- measure
RES=$TMP/results.tsv
printf 'server\trun\tqps\tsent\tcompleted\tlost\tcpu_ticks\tclk_tck\trun_s\tlat_avg_s\tupstream_q\tp_queries\tp_cache_hits\tp_forwarded\tsock_drops\trcodes\n' >"$RES"
CLK=$(getconf CLK_TCK)

measure() {
	local s=$1 run=$2 port pid out ub ua cb ca sb sa pq ph pf db da
	port=$(port_of "$s")
	pid=$(pid_of "$s")
	out=$TMP/run-$s-$run.txt
	ub=$(upcount)
	if [[ $s == parasold ]]; then sb=$(parasold_stats); fi
	db=$(sock_drops "$port")
	cb=$(cpu_ticks "$pid")
	taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "$port" \
	    -d "$TMP/queries.txt" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" \
	    >"$out" 2>&1 || die "dnsperf failed for $s (see $out)"
	alive "$pid"
	ca=$(cpu_ticks "$pid")
	da=$(sock_drops "$port")
	pq=- ph=- pf=-
	if [[ $s == parasold ]]; then
		sa=$(parasold_stats)
		pq=$(($(stat_get "$sa" queries) - $(stat_get "$sb" queries)))
		ph=$(($(stat_get "$sa" cache_hits) - $(stat_get "$sb" cache_hits)))
		pf=$(($(stat_get "$sa" forwarded) - $(stat_get "$sb" forwarded)))
		echo "run $run before: $sb" >>"$TMP/parasold-stats.txt"
		echo "run $run after:  $sa" >>"$TMP/parasold-stats.txt"
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
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
	    "$s" "$run" "$qps" "$sent" "$comp" "$lost" "$((ca - cb))" "$CLK" \
	    "$rt" "$lat" "$((ua - ub))" "$pq" "$ph" "$pf" "$((da - db))" "$rc" >>"$RES"
	log "$s run $run: qps=$qps completed=$comp lost=$lost sock_drops=$((da - db)) cpu_ticks=$((ca - cb)) upstream_q=$((ua - ub)) parasold(queries=$pq hits=$ph fwd=$pf) rcodes: $rc"
}

for ((run = 1; run <= RUNS; run++)); do
	# alternate the order so neither server always goes first
	if ((run % 2)); then order=(parasold unbound); else order=(unbound parasold); fi
	for s in "${order[@]}"; do measure "$s" "$run"; done
done

# ---------------------------------------------------------------- report
P_ERRS=$(grep -v 'stats: ' "$TMP/parasold.log" | grep -c . || true)
U_ERRS=$(grep -v ' info: ' "$TMP/unbound.log" | grep -c . || true)
rss_mib() { awk '/^VmRSS:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
RSS="parasold=$(rss_mib "$P_PID") unbound=$(rss_mib "$U_PID")"

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_FAM=$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_MOD=$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
P_VER="$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown) ($("$PARASOLD" --version 2>&1 | head -n 1))"
U_VER="$(unbound -V 2>&1 | head -n 1) ($(dpkg-query -W -f='${Version}' unbound 2>/dev/null || echo '?'))"
D_VER="dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version *//p' | head -n 1) ($(dpkg-query -W -f='${Version}' dnsperf 2>/dev/null || echo '?'))"

CMD="cd $ROOT && tests/bench/run.sh"
nondefault=""
[[ $RUNS != 3 ]] && nondefault+="RUNS=$RUNS "
[[ $DURATION != 10 ]] && nondefault+="DURATION=$DURATION "
[[ $NAMES != 10000 ]] && nondefault+="NAMES=$NAMES "
[[ $CLIENTS != 4 ]] && nondefault+="CLIENTS=$CLIENTS "
[[ $OUTSTANDING != 200 ]] && nondefault+="OUTSTANDING=$OUTSTANDING "
[[ $WARM_PASSES != 3 ]] && nondefault+="WARM_PASSES=$WARM_PASSES "
[[ $WARM_OUTSTANDING != 100 ]] && nondefault+="WARM_OUTSTANDING=$WARM_OUTSTANDING "
[[ -n $nondefault ]] && CMD="cd $ROOT && ${nondefault}tests/bench/run.sh"

"$PY" "$HERE/report.py" --results "$RES" \
    --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --machine "nproc=$(nproc), CPU: $CPU_MODEL (family $CPU_FAM model $CPU_MOD), kernel $(uname -r)" \
    --parasold-version "$P_VER" --unbound-version "$U_VER" \
    --dnsperf-version "$D_VER" --command "$CMD" \
    --params "names=$NAMES (first of $(basename "$QUERIES")), dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING, runs=$RUNS per server (interleaved)" \
    --warm "parasold=${WARM_LEFT[parasold]} unbound=${WARM_LEFT[unbound]}" \
    --parasold-args "$(sed -e "s|$TMP|\$TMP|g" -e "s|:$PPORT|:PORT|" -e "s|:$UPORT|:UPORT|" <<<"${P_ARGS[*]}")" \
    --log-lines "parasold=$P_ERRS unbound=$U_ERRS" --rss "$RSS" \
    >"$TMP/section.md"

cat "$TMP/section.md"
if [[ $APPEND == 1 ]]; then
	BM=$ROOT/BENCHMARKS.md
	if [[ ! -e $BM ]]; then
		cat "$HERE/benchmarks-intro.md" >"$BM"
	fi
	{ echo; cat "$TMP/section.md"; } >>"$BM"
	log "appended results to $BM"
fi
if ((P_ERRS > 0)); then
	log "parasold logged $P_ERRS non-stats lines (first 10):"
	grep -v 'stats: ' "$TMP/parasold.log" | head -n 10 >&2
fi
if ((U_ERRS > 0)); then
	log "unbound logged $U_ERRS warning/error lines (first 10):"
	grep -v ' info: ' "$TMP/unbound.log" | head -n 10 >&2
fi
