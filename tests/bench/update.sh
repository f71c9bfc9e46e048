#!/usr/bin/env bash
# Feed-update benchmark: parasol-update parsing and publishing the ~1.1M
# names of shared/data/scale.
#
#   cd /work/main && tests/bench/update.sh
#
# The eight scale lists are declared as eight local-file feeds (domains
# format, subtree) in a fresh lists.db, so no network is involved; then:
#   1. first run: every feed parsed, checked and published (one transaction);
#   2. second run: unchanged content, recognised by digest, nothing rewritten;
#   3. third run with --force: everything parsed and published again over
#      the existing entries (the shape of a real daily update).
# Each run is timed with /usr/bin/time (wall, user, sys, peak RSS), and the
# resulting lists.db size and entry count are reported. RUNS repeats the
# whole sequence (fresh DB each time). Prints a markdown section and
# appends it to BENCHMARKS.md (APPEND=0 to skip).
#
# Knobs: RUNS (3) APPEND (1) KEEP (0) SKIP_BUILD (0) SCALE (data dir)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SCALE=${SCALE:-$ROOT/../shared/data/scale}
UPDATE=$ROOT/build/feeds/parasol-update
CLI=$ROOT/build/tools/parasol

[ -d "$SCALE" ] || { echo "update.sh: no scale data at $SCALE" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "update.sh: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
if [ "$SKIP_BUILD" != 1 ]; then
	"$ROOT/docker/build.sh" >/dev/null
fi

TMP=$(mktemp -d /tmp/parasol-bench-update.XXXXXX)
cleanup() { [ "$KEEP" = 1 ] && echo "kept $TMP" >&2 || rm -rf "$TMP"; }
trap cleanup EXIT

mapfile -t LISTS < <(find "$SCALE" -type f ! -name '*.md' | sort)
total_bytes=$(cat "${LISTS[@]}" | wc -c)

# "label wall user sys maxrss_kib"
timed() {
	local label=$1; shift
	/usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >"$TMP/$label.out" 2>"$TMP/$label.err" || {
		rc=$?
		# 0 and 1 (some feeds failed) are both results worth recording.
		[ $rc -le 1 ] || { cat "$TMP/$label.err" >&2; exit 1; }
	}
	echo "$label $(tail -1 "$TMP/time")"
}

results=()
for run in $(seq 1 "$RUNS"); do
	db=$TMP/lists-$run.db
	rm -f "$db" "$db"-*
	# Declaring the feeds creates the DB; no bundled feeds (those would be
	# fetched from the internet).
	i=0
	for f in "${LISTS[@]}"; do
		i=$((i + 1))
		"$CLI" --lists-db="$db" feeds add "scale$i" "$f" --format=domains \
		    --category=scale >/dev/null
	done
	"$CLI" --lists-db="$db" feeds rm nocoin >/dev/null 2>&1 || true
	"$CLI" --lists-db="$db" feeds rm coinminer >/dev/null 2>&1 || true
	results+=("$run $(timed first "$UPDATE" --lists-db="$db" --no-reload --json)")
	entries=$("$CLI" --lists-db="$db" feeds ls --json | command -p python3 -c \
	    'import json,sys; print(sum(f["entries"] for f in json.load(sys.stdin)))')
	dbsize=$(du -k "$db" | cut -f1)
	results+=("$run $(timed unchanged "$UPDATE" --lists-db="$db" --no-reload --json)")
	results+=("$run $(timed forced "$UPDATE" --lists-db="$db" --no-reload --json --force)")
	results+=("$run db $entries $dbsize")
done

{
	echo
	echo "## Feed update at scale, $(date -u '+%Y-%m-%d %H:%M') UTC"
	echo
	echo "\`tests/bench/update.sh\` (commit $(git -C "$ROOT" describe --always --dirty)):"
	echo "the ${#LISTS[@]} lists of \`shared/data/scale\` ($((total_bytes / 1024)) KiB) as ${#LISTS[@]} local-file"
	echo "feeds (domains, subtree) in a fresh \`lists.db\`, \`parasol-update --no-reload\`,"
	echo "timed by \`/usr/bin/time\`. $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
	echo
	echo "| run | step | wall s | user s | sys s | peak RSS MiB |"
	echo "|---|---|---|---|---|---|"
	for r in "${results[@]}"; do
		set -- $r
		[ "$2" = db ] && continue
		printf '| %s | %s | %s | %s | %s | %.1f |\n' "$1" "$2" "$3" "$4" "$5" "$(awk -v k="$6" 'BEGIN { print k / 1024 }')"
	done
	echo
	for r in "${results[@]}"; do
		set -- $r
		[ "$2" = db ] || continue
		echo "Run $1: $3 entries in lists.db after the first update, file size $(( $4 / 1024 )) MiB."
	done
	echo
	echo "Steps: *first* parses and publishes every feed into an empty DB; *unchanged*"
	echo "is the next run (same content: digest match, nothing rewritten); *forced*"
	echo "(\`--force\`) re-parses and replaces every feed's entries in one transaction."
} | tee "$TMP/section.md"

if [ "$APPEND" = 1 ]; then
	cat "$TMP/section.md" >>"$ROOT/BENCHMARKS.md"
fi
