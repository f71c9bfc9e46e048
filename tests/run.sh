#!/bin/sh
# Run the whole test suite:
#   1. build/: the cmocka unit tests (with the fuzz corpora replayed) and
#      the integration tests (real parasold, scripted upstreams, clients);
#   2. build-asan/ (-Db_sanitize=address,undefined): the same two suites
#      again, where any sanitizer report fails the test that provoked it;
#   3. build-fuzz/ (clang-14, -Dfuzzing=true): each libFuzzer harness for
#      FUZZ_SECONDS (default 25) from its committed corpus.
# Ends with "N passed, N failed" counting all of it; exits non-zero if
# anything failed.
set -u
cd "$(dirname "$0")/.."
docker/build.sh --test || { echo "0 passed, 1 failed"; exit 1; }

# Debian's interpreter: the python3 first on PATH may not see python3-*.
PY="$(command -p -v python3)"
res=build/test-results
rm -rf "$res"
mkdir -p "$res"
rc=0

# A sanitizer report stops the process with a non-zero status (abort, so a
# test cannot mistake it for an ordinary error exit), and says where.
# Leaks are reported at exit: parasold frees what it holds on SIGTERM.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1"

meson test -C build --suite unit --print-errorlogs || rc=1
"$PY" -m pytest -p no:cacheprovider -q tests/integration \
    --junitxml="$res/integration.xml" || rc=1

# The sanitizer build: gcc's ASan and UBSan, the normal build otherwise.
rm -f build-asan/meson-logs/testlog.json
if [ -f build-asan/build.ninja ]; then
	meson setup --reconfigure build-asan >/dev/null
else
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	    >/dev/null
fi && ninja -C build-asan >"$res/build-asan.log" 2>&1 ||
    { echo "tests: the sanitizer build failed:"; tail -30 "$res/build-asan.log"; }
if [ -f build-asan/build.ninja ]; then
	meson test -C build-asan --suite unit --print-errorlogs \
	    --timeout-multiplier=3 || rc=1
	PARASOL_BUILD_DIR=build-asan "$PY" -m pytest -p no:cacheprovider -q \
	    tests/integration --junitxml="$res/integration-asan.xml" || rc=1
fi

# The fuzzers: clang-14 with libFuzzer, ASan and UBSan.
if [ -f build-fuzz/build.ninja ]; then
	meson setup --reconfigure build-fuzz >/dev/null
else
	CC=clang-14 meson setup build-fuzz -Dfuzzing=true -Dtests=disabled \
	    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi && ninja -C build-fuzz >"$res/build-fuzz.log" 2>&1 ||
    { echo "tests: the fuzzer build failed:"; tail -30 "$res/build-fuzz.log"; }
tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-25}" "$res/fuzz.xml" || rc=1

"$PY" tests/summary.py \
    unit=build/meson-logs/testlog.json \
    integration="$res/integration.xml" \
    unit-asan=build-asan/meson-logs/testlog.json \
    integration-asan="$res/integration-asan.xml" \
    fuzz="$res/fuzz.xml"
sum_rc=$?
[ $rc -eq 0 ] && [ $sum_rc -eq 0 ]
