#!/bin/sh
# Run the whole test suite: cmocka unit tests through meson, then the
# integration tests (real parasold, scripted upstreams, real clients).
# Ends with "N passed, N failed"; exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
docker/build.sh --test || { echo "0 passed, 1 failed"; exit 1; }

# Debian's interpreter: the python3 first on PATH may not see python3-*.
PY="$(command -p -v python3)"
rm -rf build/test-results
mkdir -p build/test-results

meson test -C build --suite unit --print-errorlogs
unit_rc=$?

"$PY" -m pytest -p no:cacheprovider -q tests/integration \
    --junitxml=build/test-results/integration.xml
it_rc=$?

"$PY" tests/summary.py build/meson-logs/testlog.json \
    build/test-results/integration.xml
sum_rc=$?
[ $unit_rc -eq 0 ] && [ $it_rc -eq 0 ] && [ $sum_rc -eq 0 ]
