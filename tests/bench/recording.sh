#!/usr/bin/env bash
# What recording blocked lookups costs: dnsperf on blocked names against
# parasold with stats.db recording on, and with it off (--stats-db=none),
# interleaved in one run.
#
#   cd /work/main && tests/bench/recording.sh
#
# All traffic on 127.0.0.1. The query list is every name of the bundled
# default lists (about 6,100, all blocked, type A), so each second of load
# has thousands of distinct (client, name) keys for the recorder to fold.
# parasold is pinned to core 0, dnsperf to core 1; server CPU time comes
# from /proc/PID/stat, qps from dnsperf, and the recorder's own counters
# (stats_blocked_events, stats_written, stats_dropped) from SIGUSR1 after
# each run. Prints a markdown section and appends it to BENCHMARKS.md
# (APPEND=0 to skip).
#
# Knobs: RUNS (3) DURATION (10) CLIENTS (4) OUTSTANDING (200) APPEND (1)
#   KEEP (0) SKIP_BUILD (0)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PARASOLD=$ROOT/build/resolver/parasold
PY=$(command -p -v python3)
SERVER_CPU=0
LOADGEN_CPU=1

die() { echo "recording.sh: $*" >&2; exit 1; }
command -v dnsperf >/dev/null || die "needs dnsperf (docker/build.sh --bench)"
[ "$(nproc)" -ge 2 ] || die "needs two cores"
if [ "$SKIP_BUILD" != 1 ]; then
	"$ROOT/docker/build.sh" --bench >/dev/null
fi

TMP=$(mktemp -d /tmp/parasol-bench-rec.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$KEEP" = 1 ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Every bundled name, as a dnsperf query list.
awk '!/^#/ && NF >= 2 && $1 ~ /^(0\.0\.0\.0|127\.0\.0\.1)$/ && $2 != "localhost" { print $2 " A" }' \
    "$ROOT"/blocklist/default/*.txt | sort -u >"$TMP/queries"
n_names=$(wc -l <"$TMP/queries")

UPORT=$(free_port)
"$PY" "$HERE/upstream.py" serve --listen 127.0.0.1 --port "$UPORT" 2>"$TMP/upstream.log" &
PIDS+=($!)

cpu_ticks() {
	local stat rest f
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}

# The value of key=N in the last stats: line of a log.
stat_of() { grep 'stats:' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

start() { # mode -> sets PID PORT LOG
	local mode=$1 stats
	PORT=$(free_port)
	LOG=$TMP/parasold-$mode.log
	stats=$TMP/stats-$mode.db
	[ "$mode" = off ] && stats=none
	rm -f "$TMP/lists-$mode.db"* "$TMP/stats-$mode.db"*
	taskset -c $SERVER_CPU "$PARASOLD" --listen="127.0.0.1:$PORT" \
	    --upstream="127.0.0.1:$UPORT" --lists-db="$TMP/lists-$mode.db" \
	    --control="$TMP/ctl-$mode" --stats-db="$stats" --log-level=info \
	    --user="$(id -un)" \
	    2>"$LOG" &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 1 100); do
		grep -q ' ready' "$LOG" && return 0
		sleep 0.05
	done
	die "parasold ($mode) did not start: $(cat "$LOG")"
}

rows=()
for run in $(seq 1 "$RUNS"); do
	for mode in off on; do
		start "$mode"
		# One pass to build nothing but the same state in both (the
		# blocked answers never touch the cache).
		taskset -c $LOADGEN_CPU dnsperf -s 127.0.0.1 -p "$PORT" \
		    -d "$TMP/queries" -n 1 -q 100 >/dev/null 2>&1
		c0=$(cpu_ticks "$PID")
		taskset -c $LOADGEN_CPU dnsperf -s 127.0.0.1 -p "$PORT" \
		    -d "$TMP/queries" -l "$DURATION" -c "$CLIENTS" \
		    -q "$OUTSTANDING" >"$TMP/dnsperf-$mode-$run.txt" 2>&1 ||
			die "dnsperf failed"
		c1=$(cpu_ticks "$PID")
		sleep 1.5 # the recorder flushes once a second
		kill -USR1 "$PID"
		sleep 0.3
		qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$TMP/dnsperf-$mode-$run.txt")
		done_q=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$TMP/dnsperf-$mode-$run.txt")
		lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$TMP/dnsperf-$mode-$run.txt")
		us=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$done_q" \
		    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
		rows+=("| $run | $mode | $qps | $done_q | $lost | $us | $(stat_of "$LOG" blocked) | $(stat_of "$LOG" stats_blocked_events) | $(stat_of "$LOG" stats_written) | $(stat_of "$LOG" stats_dropped) |")
		if [ "$mode" = on ]; then
			rowsdb=$("$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), coalesce(sum(count),0) from blocked").fetchone())' "$TMP/stats-on.db")
			rows+=("|  |  | stats.db rows, sum(count): $rowsdb |  |  |  |  |  |  |  |")
		fi
		kill "$PID"
		wait "$PID" 2>/dev/null || true
	done
done

{
	echo
	echo "## Recording blocked lookups: on vs off, $(date -u '+%Y-%m-%d %H:%M') UTC"
	echo
	echo "\`tests/bench/recording.sh\` (commit $(git -C "$ROOT" describe --always --dirty)): the"
	echo "$n_names names of the bundled lists (all blocked, type A), \`dnsperf -l $DURATION -c $CLIENTS"
	echo "-q $OUTSTANDING\` on core 1, parasold on core 0 with \`--stats-db=none\` (off) or a"
	echo "stats.db (on), interleaved. CPU µs/query is the server's utime+stime over"
	echo "completed queries. The last four columns are parasold's own counters after"
	echo "the run (SIGUSR1): blocked answers, blocked lookups handed to the"
	echo "recorder, written to stats.db, dropped."
	echo
	echo "| run | recording | queries/s | completed | lost | CPU µs/query | blocked | events | written | dropped |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | tee "$TMP/section.md"

if [ "$APPEND" = 1 ]; then
	cat "$TMP/section.md" >>"$ROOT/BENCHMARKS.md"
fi
