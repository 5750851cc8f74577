# SPDX-License-Identifier: BSD-3-Clause
"""TAP for the Python tests: the plan first, then one line per check.

The plan comes first so that a test that dies half-way is counted as the
checks it did not reach, not as one failure (tests/run_tests.py reads it).
A check beyond the plan is itself a failure, and so is ending short of it.
"""
import atexit
import sys


class Tap:
    def __init__(self, planned):
        self.planned = planned
        self.n = 0
        self.failed = 0
        print(f"1..{planned}", flush=True)
        atexit.register(self._end)

    def check(self, good, text, detail=""):
        self.n += 1
        good = bool(good)
        if self.n > self.planned:
            good = False
            detail = f"check {self.n} is beyond the plan of {self.planned}; {detail}"
        if not good:
            self.failed += 1
        line = f"{'ok' if good else 'not ok'} {self.n} - {text}"
        if detail and not good:
            line += f" -- {detail}"
        print(line, flush=True)
        return good

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def _end(self):
        if self.n < self.planned:
            print(f"# ended after {self.n} of {self.planned} checks", flush=True)

    def exit_code(self):
        return 1 if self.failed or self.n != self.planned else 0


def bail(text):
    print(f"Bail out! {text}", flush=True)
    sys.exit(1)
