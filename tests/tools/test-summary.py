#!/usr/bin/env python3
"""test-summary.py JUNIT_XML [SECONDS] — the closing lines of scripts/test.sh.

Reads the JUnit file `ctest --output-junit` wrote and prints each skipped test
with the reason its output gave (the "[  SKIPPED ]" message of GoogleTest),
then the wall time and "tests: N passed, N failed, N skipped". Exits 1 when
the file is missing or empty, or when CI=true and any test was skipped: in CI
a missing prerequisite is a failure, never a quiet skip.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET


def main():
    path = sys.argv[1]
    secs = sys.argv[2] if len(sys.argv) > 2 else None
    try:
        cases = ET.parse(path).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        print("tests: no results (%s)" % e)
        return 1
    passed, failed, skipped = 0, 0, []
    for case in cases:
        status = case.get("status", "")
        if case.find("skipped") is not None or status in ("notrun", "disabled"):
            out = case.findtext("system-out") or ""
            reasons = [m.strip() for m in re.findall(r"Skipped\s*\n?(.*)", out) if m.strip()]
            skipped.append((case.get("name"), reasons[0] if reasons else "no reason given"))
        elif case.find("failure") is not None or status == "fail":
            failed += 1
        else:
            passed += 1
    for name, why in skipped:
        print("skipped: %s: %s" % (name, why))
    total = passed + failed + len(skipped)
    if secs:
        print("tests: %d run in %s s" % (total, secs))
    print("tests: %d passed, %d failed, %d skipped" % (passed, failed, len(skipped)))
    if total == 0:
        return 1
    if skipped and os.environ.get("CI") == "true":
        print("tests: CI=true and %d test(s) skipped: every prerequisite must be present in CI" % len(skipped))
        return 1
    return 0


sys.exit(main())
