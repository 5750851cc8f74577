# SPDX-License-Identifier: BSD-3-Clause
"""TAP for the Python tests: the plan first, then one line per check.

The plan comes first so that a test that dies half-way is counted as the
checks it did not reach, not as one failure (tests/run_tests.py reads it).
A check beyond the plan is itself a failure, and so is ending short of it.

Two ways to use it: Tap(n), whose checks are numbered in the order they
are made, and Cases([...]), whose checks are named up front and decided by
index in any order; every case not decided by the end fails.
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

    def _emit(self, num, good, text, detail):
        if not good:
            self.failed += 1
        line = f"{'ok' if good else 'not ok'} {num} - {text}"
        if detail and not good:
            line += f" -- {detail}"
        print(line, flush=True)
        return good

    def check(self, good, text, detail=""):
        self.n += 1
        good = bool(good)
        if self.n > self.planned:
            good = False
            detail = f"check {self.n} is beyond the plan of {self.planned}; {detail}"
        return self._emit(self.n, good, text, detail)

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def _end(self):
        if self.n < self.planned:
            print(f"# ended after {self.n} of {self.planned} checks", flush=True)

    def exit_code(self):
        return 1 if self.failed or self.n != self.planned else 0


class Cases(Tap):
    """Checks named in advance (cases[i] is check i + 1), decided once each, in any order."""

    def __init__(self, cases):
        self.cases = list(cases)
        self.done = {}
        super().__init__(len(self.cases))

    def result(self, idx, good, detail="", log=None):
        if idx in self.done or not 0 <= idx < self.planned:
            return
        good = bool(good)
        self.done[idx] = good
        self.n = len(self.done)
        text = self.cases[idx]
        if detail and good:
            text += f": {detail}"
        self._emit(idx + 1, good, text, "" if good else detail)
        if not good and log:
            self.diag("\n".join(log.rstrip().splitlines()[-25:]))

    def fail_rest(self, why, keep_last=True):
        """Fail every undecided case (but the last, a clean-up check that always runs, unless keep_last is False)."""
        for i in range(self.planned - (1 if keep_last else 0)):
            if i not in self.done:
                self.result(i, False, why)

    def passed(self):
        return all(self.done.get(i) for i in range(self.planned))

    def _end(self):
        self.fail_rest("not reached", keep_last=False)


def bail(text):
    print(f"Bail out! {text}", flush=True)
    sys.exit(1)
