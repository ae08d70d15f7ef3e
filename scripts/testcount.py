# SPDX-License-Identifier: MIT
"""Counts the results of one test run for scripts/check.

    testcount.py meson BUILDDIR/meson-logs/testlog.json
    testcount.py junit FILE.xml

Prints "PASSED FAILED" on the first line, then one line per test that did
not pass: its name and what happened. Only a pass counts as a pass: a
skipped test (meson's SKIP, exit code 77; pytest's skip or xfail) counts as
failed, as does an error in a fixture. A file that is missing or cannot be
read is one failure, not zero tests.
"""

import json
import sys
import xml.etree.ElementTree as ET


def meson(path):
    """(passed, [(name, result)]) from meson's testlog.json (one JSON object a line)."""
    passed, bad = 0, []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            if t["result"] == "OK":
                passed += 1
            else:
                bad.append((t["name"], t["result"]))
    return passed, bad


def junit(path):
    """(passed, [(name, result)]) from pytest's JUnit XML.

    A test that fails and then errors in its teardown has two testcase
    elements of the same name: it is counted once, by its worst outcome."""
    order = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    outcome = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        got = "passed"
        for child in case:
            tag = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(child.tag)
            if tag and order[tag] > order[got]:
                got = tag
        if order[got] >= order[outcome.get(name, "passed")]:
            outcome[name] = got
    passed = sum(1 for v in outcome.values() if v == "passed")
    bad = [(k, v.upper()) for k, v in outcome.items() if v != "passed"]
    return passed, bad


def main():
    kind, path = sys.argv[1], sys.argv[2]
    try:
        passed, bad = {"meson": meson, "junit": junit}[kind](path)
    except (OSError, ValueError, KeyError, ET.ParseError) as e:
        passed, bad = 0, [(path, f"UNREADABLE ({e})")]
    print(passed, len(bad))
    for name, result in bad:
        print(f"{result} {name}")


if __name__ == "__main__":
    main()
