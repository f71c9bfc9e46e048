"""Count test cases across cmocka and pytest JUnit files.

Prints "N passed, N failed" (skips counted separately). A unit test
program that failed without writing its XML (a crash) counts as one
failure, so nothing is lost from the total.
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET


def junit_counts(path):
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    testlog, results = sys.argv[1], sys.argv[2]
    passed = failed = skipped = 0
    unit_failed = {}
    for path in sorted(glob.glob(os.path.join(results, "*.xml"))):
        try:
            p, f, s = junit_counts(path)
        except ET.ParseError:
            print(f"summary: unreadable results {path}", file=sys.stderr)
            failed += 1
            continue
        passed, failed, skipped = passed + p, failed + f, skipped + s
        name = os.path.basename(path)
        if name.startswith("cmocka-"):
            unit_failed[name[len("cmocka-"):-len(".xml")]] = f
    if os.path.exists(testlog):
        with open(testlog) as f:
            for line in f:
                t = json.loads(line)
                if (t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL")
                        and not unit_failed.get(t["name"])):
                    # A program that failed with no failed case in its
                    # XML crashed or never wrote it: count it once.
                    print(f"summary: unit program {t['name']} "
                          f"ended {t['result']}", file=sys.stderr)
                    failed += 1
    else:
        print("summary: no meson test log", file=sys.stderr)
        failed += 1
    if not os.path.exists(os.path.join(results, "integration.xml")):
        print("summary: integration tests wrote no results", file=sys.stderr)
        failed += 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
