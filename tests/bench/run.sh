#!/usr/bin/env bash
# Cached-answer throughput benchmark: parasold next to unbound, dnsmasq and
# a bare UDP echo (the floor).
#
#   cd /work/main && tests/bench/run.sh
#
# What it does (all traffic on 127.0.0.1 only):
#   1. starts tests/bench/upstream.py (a tiny authoritative-style responder:
#      any name -> A 192.0.2.x TTL 3600) pinned to core 1;
#   2. starts the servers named in $SERVERS, all pinned to core 0:
#      parasold; unbound (forwarder to that same upstream, config from
#      tests/bench/unbound.conf.in); dnsmasq (caching forwarder to that same
#      upstream, configured on its command line); bare (build/tests/bench-bare
#      from tests/bench/bare.c: recvmmsg, set QR, sendmmsg -- no DNS work,
#      the floor of what any server can do; its answers are the queries
#      echoed back, NOERROR with no records);
#   3. warms the caches with bounded dnsperf passes over the first $NAMES
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
#   SERVERS ("parasold unbound dnsmasq bare": which servers, in this order)
#   APPEND (1) KEEP (0: keep the temp dir with all logs) SKIP_BUILD (0)
#   QUERIES (path of the name list) PARASOLD (binary) BARE (binary)
#   DNSMASQ_CACHE (dnsmasq --cache-size, entries; default 2 x NAMES, at
#   least 10000, so the working set fits like it does for the others)
# Needs: >= 2 cores, dnsperf, unbound, dnsmasq (Debian dnsmasq-base),
#   taskset, /usr/bin/python3 -- the servers not in $SERVERS are not needed.
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
BARE=${BARE:-$ROOT/build/tests/bench-bare}
SERVERS=${SERVERS:-parasold unbound dnsmasq bare}
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
read -r -a SRV <<<"$SERVERS"
(( ${#SRV[@]} )) || die "SERVERS is empty"
declare -A WANT=()
for s in "${SRV[@]}"; do
	case $s in parasold | unbound | dnsmasq | bare) ;;
	*) die "SERVERS: unknown server '$s' (parasold unbound dnsmasq bare)" ;;
	esac
	[[ -z ${WANT[$s]:-} ]] || die "SERVERS: '$s' named twice"
	WANT[$s]=1
done
want() { [[ -n ${WANT[$1]:-} ]]; }
: "${DNSMASQ_CACHE:=$((2 * NAMES > 10000 ? 2 * NAMES : 10000))}"
[[ $DNSMASQ_CACHE =~ ^[1-9][0-9]*$ ]] || die "DNSMASQ_CACHE must be a positive integer"
(( DURATION <= 120 )) || die "DURATION is capped at 120 s"
(( RUNS <= 15 )) || die "RUNS is capped at 15"
[[ $(nproc) -ge 2 ]] || die "needs at least 2 cores (server on core 0, load on core 1)"
[[ -n ${QUERIES:-} && -r $QUERIES ]] || die "query name list not found (set QUERIES=)"

missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
if want unbound; then command -v unbound >/dev/null || missing+=(unbound); fi
if want dnsmasq; then
	command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] ||
		missing+=(dnsmasq-base)
fi
if (( ${#missing[@]} )); then
	if [[ $(id -u) -eq 0 ]]; then
		log "installing missing Debian packages: ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends "${missing[@]}"
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
if want parasold; then
	[[ -x $PARASOLD ]] || die "parasold binary not found at $PARASOLD"
fi
if want bare; then
	[[ -x $BARE ]] || die "bench-bare binary not found at $BARE (ninja -C build)"
fi
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

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

read -r UPORT PPORT BPORT DPORT EPORT <<<"$("$PY" "$HERE/upstream.py" freeport --count 5)"
declare -A PORT=([parasold]=$PPORT [unbound]=$BPORT [dnsmasq]=$DPORT [bare]=$EPORT)
declare -A PID=()
declare -A COMM=([parasold]=parasold [unbound]=unbound [dnsmasq]=dnsmasq [bare]=bench-bare)
ports_msg="upstream=$UPORT"
for s in "${SRV[@]}"; do ports_msg+=" $s=${PORT[$s]}"; done
log "ports: $ports_msg; tmp=$TMP"

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
P_ARGS=()
if want parasold; then
	P_ARGS=(--listen="127.0.0.1:$PPORT" --upstream="127.0.0.1:$UPORT"
	    --cache-size=64M --log-level=warn)
	# Builds with blocking keep their state in the temp dir, never in the
	# system paths (/var/lib/parasol, /run/parasol); the bundled default
	# lists are seeded into the fresh lists.db as on a new install.
	P_HELP=$("$PARASOLD" --help 2>&1 || true)
	[[ $P_HELP == *--lists-db=* ]] && P_ARGS+=(--lists-db="$TMP/lists.db")
	[[ $P_HELP == *--control=* ]] && P_ARGS+=(--control="$TMP/parasold.sock")
	[[ $P_HELP == *--stats-db=* ]] && P_ARGS+=(--stats-db="$TMP/stats.db")
	# Run as whoever runs the benchmark (root keeps root when told).
	[[ $P_HELP == *--user=* ]] && P_ARGS+=(--user="$(id -un)")
	log "parasold ${P_ARGS[*]}"
	taskset -c "$SERVER_CPU" "$PARASOLD" "${P_ARGS[@]}" 2>"$TMP/parasold.log" &
	PID[parasold]=$!
	PIDS+=("${PID[parasold]}")
fi

if want unbound; then
	sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$BPORT|g" -e "s|@UPORT@|$UPORT|g" \
	    "$HERE/unbound.conf.in" >"$TMP/unbound.conf"
	unbound-checkconf "$TMP/unbound.conf" >/dev/null || die "bad unbound config"
	taskset -c "$SERVER_CPU" unbound -d -c "$TMP/unbound.conf" 2>"$TMP/unbound.log" &
	PID[unbound]=$!
	PIDS+=("${PID[unbound]}")
fi

# dnsmasq as a pure caching forwarder: no /etc/resolv.conf, no /etc/hosts,
# no DHCP, only 127.0.0.1:DPORT, in the foreground (not debug mode), logging
# to stderr, no pid file, staying root (no privilege drop to nobody).
DM_ARGS=(--keep-in-foreground --conf-file=/dev/null --port="$DPORT"
    --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts
    --server="127.0.0.1#$UPORT" --cache-size="$DNSMASQ_CACHE"
    --dns-forward-max=1000 --log-facility=- --pid-file= --user=root
    --group=root)
if want dnsmasq; then
	log "dnsmasq ${DM_ARGS[*]}"
	taskset -c "$SERVER_CPU" "$DNSMASQ" "${DM_ARGS[@]}" 2>"$TMP/dnsmasq.log" &
	PID[dnsmasq]=$!
	PIDS+=("${PID[dnsmasq]}")
fi

if want bare; then
	taskset -c "$SERVER_CPU" "$BARE" "$EPORT" 2>"$TMP/bare.log" &
	PID[bare]=$!
	PIDS+=("${PID[bare]}")
fi

for s in "${SRV[@]}"; do
	probe_args=()
	[[ $s == bare ]] && probe_args=(--no-answer-ok)
	"$PY" "$HERE/upstream.py" probe --server 127.0.0.1 --port "${PORT[$s]}" \
	    "${probe_args[@]}" >/dev/null ||
		{ cat "$TMP/$s.log" >&2; die "$s does not answer"; }
	[[ $(cat "/proc/${PID[$s]}/comm") == "${COMM[$s]}" ]] ||
		die "pid ${PID[$s]} is not $s"
done
pids_msg=""
for s in "${SRV[@]}"; do pids_msg+="$s pid=${PID[$s]} "; done
log "${pids_msg}upstream pid=$UP_PID"
P_PID=${PID[parasold]:-}

port_of() { echo "${PORT[$1]}"; }
pid_of() { echo "${PID[$1]}"; }

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
for s in "${SRV[@]}"; do
	left=-1
	for ((pass = 1; pass <= WARM_PASSES; pass++)); do
		b=$(upcount)
		taskset -c "$LOADGEN_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$s")" \
		    -d "$TMP/queries.txt" -n 1 -l 60 -c "$CLIENTS" \
		    -q "$WARM_OUTSTANDING" -t 2 >"$TMP/warm-$s-$pass.txt" 2>&1 ||
			die "dnsperf warm-up failed for $s"
		a=$(upcount)
		left=$((a - b))
		comp=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' \
		    "$TMP/warm-$s-$pass.txt")
		log "warm-up $s pass $pass: completed=$comp upstream_queries=$left"
		alive "$(pid_of "$s")"
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
	# (odd runs in $SERVERS order, even runs reversed)
	if ((run % 2)); then
		order=("${SRV[@]}")
	else
		order=()
		for ((i = ${#SRV[@]} - 1; i >= 0; i--)); do order+=("${SRV[i]}"); done
	fi
	for s in "${order[@]}"; do measure "$s" "$run"; done
done

# ---------------------------------------------------------------- report
# log lines that are not routine (parasold: stats lines; unbound: info;
# dnsmasq: its start-up banner; bare: its one "listening" line)
noise() {
	case $1 in
	parasold) grep -v 'stats: ' ;;
	unbound) grep -v ' info: ' ;;
	dnsmasq) grep -v -e ': started, version' -e ': compile time options' \
	    -e ': using nameserver' -e ': cleared cache' \
	    -e ': cache size greater than 10000' ;;
	bare) grep -v 'bench-bare: listening' ;;
	esac
}
declare -A ERRS=()
rss_mib() { awk '/^VmRSS:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
RSS="" LOGL="" WARM=""
for s in "${SRV[@]}"; do
	ERRS[$s]=$(noise "$s" <"$TMP/$s.log" | grep -c . || true)
	RSS+="${RSS:+ }$s=$(rss_mib "${PID[$s]}")"
	LOGL+="${LOGL:+ }$s=${ERRS[$s]}"
	WARM+="${WARM:+ }$s=${WARM_LEFT[$s]}"
done

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_FAM=$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU_MOD=$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
VERS=()
if want parasold; then
	VERS+=("parasold: $(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown) ($("$PARASOLD" --version 2>&1 | head -n 1))")
fi
if want unbound; then
	VERS+=("unbound: $(unbound -V 2>&1 | head -n 1) ($(dpkg-query -W -f='${Version}' unbound 2>/dev/null || echo '?'))")
fi
if want dnsmasq; then
	VERS+=("dnsmasq: $("$DNSMASQ" --version 2>&1 | head -n 1 | sed 's/  *Copyright.*//') ($(dpkg-query -W -f='${Version}' dnsmasq-base 2>/dev/null || echo '?'))")
fi
if want bare; then
	VERS+=("bare: tests/bench/bare.c (build/tests/bench-bare)")
fi
D_VER="dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version *//p' | head -n 1) ($(dpkg-query -W -f='${Version}' dnsperf 2>/dev/null || echo '?'))"

VSTR=""
for v in "${VERS[@]}"; do VSTR+="${VSTR:+; }$v"; done

CMD="cd $ROOT && tests/bench/run.sh"
nondefault=""
[[ $RUNS != 3 ]] && nondefault+="RUNS=$RUNS "
[[ $DURATION != 10 ]] && nondefault+="DURATION=$DURATION "
[[ $NAMES != 10000 ]] && nondefault+="NAMES=$NAMES "
[[ $CLIENTS != 4 ]] && nondefault+="CLIENTS=$CLIENTS "
[[ $OUTSTANDING != 200 ]] && nondefault+="OUTSTANDING=$OUTSTANDING "
[[ $WARM_PASSES != 3 ]] && nondefault+="WARM_PASSES=$WARM_PASSES "
[[ $WARM_OUTSTANDING != 100 ]] && nondefault+="WARM_OUTSTANDING=$WARM_OUTSTANDING "
[[ $SERVERS != "parasold unbound dnsmasq bare" ]] && nondefault+="SERVERS='$SERVERS' "
[[ -n $nondefault ]] && CMD="cd $ROOT && ${nondefault}tests/bench/run.sh"

"$PY" "$HERE/report.py" --results "$RES" \
    --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --machine "nproc=$(nproc), CPU: $CPU_MODEL (family $CPU_FAM model $CPU_MOD), kernel $(uname -r)" \
    --versions "$VSTR" \
    --dnsperf-version "$D_VER" --command "$CMD" --servers "${SRV[*]}" \
    --params "names=$NAMES (first of $(basename "$QUERIES")), dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING, runs=$RUNS per server (interleaved)" \
    --warm "$WARM" \
    --parasold-args "$(sed -e "s|$TMP|\$TMP|g" -e "s|:$PPORT|:PORT|" -e "s|:$UPORT|:UPORT|" <<<"${P_ARGS[*]}")" \
    --dnsmasq-args "$(sed -e "s|--port=$DPORT|--port=PORT|" -e "s|#$UPORT|#UPORT|" <<<"${DM_ARGS[*]}")" \
    --log-lines "$LOGL" --rss "$RSS" \
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
for s in "${SRV[@]}"; do
	if ((ERRS[$s] > 0)); then
		log "$s logged ${ERRS[$s]} non-routine lines (first 10):"
		noise "$s" <"$TMP/$s.log" | head -n 10 >&2
	fi
done
