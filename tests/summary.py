"""Count test cases across the cmocka programs, pytest and the fuzzers.

Arguments are NAME=PATH: a meson test log (.json; each cmocka program's
own "[  PASSED  ] N" and "[  FAILED  ] N" lines, a program that is not
cmocka, such as a corpus replay, counting as one case) or JUnit XML
(pytest's, tests/fuzz/run.sh's). A file that is missing or unreadable
counts as one failure, so a suite that never ran cannot pass. Prints
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
            if p + fl + sk == 0 and t.get("result") in ("OK", "SKIP"):
                # Not cmocka (a corpus replay): one case.
                if t.get("result") == "OK":
                    p = 1
                else:
                    sk = 1
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
    counts = [0, 0, 0]
    for arg in sys.argv[1:]:
        name, _, path = arg.rpartition("=")
        name = name or path
        fn = unit_counts if path.endswith(".json") else junit_counts
        try:
            c = fn(path)
        except (OSError, ValueError, ET.ParseError) as e:
            print(f"summary: no {name} results ({e})", file=sys.stderr)
            c = (0, 1, 0)
        if len(sys.argv) > 2:
            print(f"summary: {name}: {c[0]} passed, {c[1]} failed"
                  + (f", {c[2]} skipped" if c[2] else ""))
        counts = [a + b for a, b in zip(counts, c)]
    passed, failed, skipped = counts
    # The last line is exactly "N passed, N failed": CI reads it.
    if skipped:
        print(f"summary: {skipped} skipped (their output says why)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
