#!/bin/sh
# Run every libFuzzer harness of a -Dfuzzing=true build for a bounded time
# and write one JUnit test case per harness (tests/summary.py counts them).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS JUNIT.xml
#
# Each harness starts from its committed corpus (tests/fuzz/corpus/NAME);
# what it finds new goes to BUILD_DIR/fuzz-work/NAME, never into the
# repository. A crash, a sanitizer report or a broken invariant fails the
# harness; the input that did it is kept as BUILD_DIR/fuzz-work/NAME-crash-*
# and named in the report, to be added to the corpus with the fix.
set -u
cd "$(dirname "$0")/../.."
build=$1 secs=$2 out=$3
harnesses="query reply feedparse minisign config control"
work="$build/fuzz-work"
mkdir -p "$work"
: "${ASAN_OPTIONS:=halt_on_error=1:abort_on_error=1:detect_leaks=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:abort_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

esc() {
	sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' \
	    -e 's/[^[:print:][:space:]]/?/g'
}

failed=0
cases=""
for h in $harnesses; do
	exe="$build/tests/fuzz_$h"
	log="$work/$h.log"
	mkdir -p "$work/$h"
	start=$(date +%s)
	if [ ! -x "$exe" ]; then
		echo "fuzz: $exe missing" >"$log"
		rc=127
	else
		# -timeout: one input taking 10 s is a hang, and a finding.
		"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		    -print_final_stats=1 -artifact_prefix="$work/$h-" \
		    "$work/$h" "tests/fuzz/corpus/$h" >"$log" 2>&1
		rc=$?
	fi
	t=$(( $(date +%s) - start ))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "fuzz $h: ok, ${runs:-?} inputs in ${t}s"
		cases="$cases<testcase classname=\"fuzz\" name=\"$h\" time=\"$t\"/>"
	else
		failed=$((failed + 1))
		echo "fuzz $h: FAILED (exit $rc), see $log:"
		tail -40 "$log" | sed 's/^/    /'
		cases="$cases<testcase classname=\"fuzz\" name=\"$h\" time=\"$t\"><failure message=\"exit $rc\">$(tail -60 "$log" | esc)</failure></testcase>"
	fi
done
n=$(echo $harnesses | wc -w)
printf '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="fuzz" tests="%s" failures="%s">%s</testsuite></testsuites>\n' \
    "$n" "$failed" "$cases" >"$out"
[ $failed -eq 0 ]
