#!/usr/bin/env python3
"""The layering checker's own test: run on fixtures/violations/, a tiny tree with a deliberate
violation on each line marked so, it must exit 1 and print exactly fixtures/violations.expected.

    tests/layering/self_test.py [CHECKER]     (CHECKER: default check_layering.py beside this)

Exit 0 pass, 1 fail (with what differs).
"""

import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
checker = (os.path.abspath(sys.argv[1]) if len(sys.argv) > 1
           else os.path.join(here, "check_layering.py"))
fixtures = os.path.join(here, "fixtures")

run = subprocess.run([sys.executable, checker, os.path.join(fixtures, "violations")],
                     capture_output=True, text=True,
                     env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
with open(os.path.join(fixtures, "violations.expected"), encoding="utf-8") as text:
    expected = text.read().splitlines()
printed = run.stdout.splitlines()

failures = []
if run.returncode != 1:
    failures.append(f"exit status {run.returncode}, expected 1\n{run.stderr}")
failures += [f"missing:    {line}" for line in expected if line not in printed]
failures += [f"unexpected: {line}" for line in printed if line not in expected]
if printed != expected and not failures:
    failures.append("the same violations in another order")
for failure in failures:
    print(failure)
if failures:
    sys.exit(1)
print(f"{len(expected)} fixture violations reported, exit 1: as expected")
