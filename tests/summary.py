"""Count test cases across the cmocka programs and pytest.

Reads meson's test log (each cmocka program's own "[  PASSED  ] N" and
"[  FAILED  ] N" lines) and pytest's JUnit XML, and prints
"N passed, N failed" (", N skipped" when there are skips). A unit
program that failed without saying how many cases failed (a crash, a
timeout) counts as one failure, so nothing drops out of the total.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

PASSED = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
FAILED = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)
SKIPPED = re.compile(r"^\[  SKIPPED \] (\d+) test", re.M)


def unit_counts(testlog):
    passed = failed = skipped = 0
    with open(testlog) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout", "") + t.get("stderr", "")
            p = sum(int(x) for x in PASSED.findall(out))
            fl = sum(int(x) for x in FAILED.findall(out))
            sk = sum(int(x) for x in SKIPPED.findall(out))
            if t.get("result") not in ("OK", "SKIP") and fl == 0:
                print(f"summary: unit program {t['name']} ended "
                      f"{t['result']} without a case count", file=sys.stderr)
                fl = 1
            passed, failed, skipped = passed + p, failed + fl, skipped + sk
    return passed, failed, skipped


def junit_counts(path):
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    testlog, junit = sys.argv[1], sys.argv[2]
    counts = [0, 0, 0]
    for name, fn, path in (("unit", unit_counts, testlog),
                           ("integration", junit_counts, junit)):
        try:
            c = fn(path)
        except (OSError, ValueError, ET.ParseError) as e:
            print(f"summary: no {name} results ({e})", file=sys.stderr)
            c = (0, 1, 0)
        counts = [a + b for a, b in zip(counts, c)]
    passed, failed, skipped = counts
    # The last line is exactly "N passed, N failed": CI reads it.
    if skipped:
        print(f"summary: {skipped} skipped (their output says why)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
