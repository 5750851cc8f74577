#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run every test meson knows of, one at a time, and count each TAP case.

usage: run_tests.py BUILD_DIR[:SUITE] [BUILD_DIR[:SUITE] ...] [--list]

Each build directory's tests (or only those of SUITE) run in turn; one tally
covers them all.

A test binary that dies, times out, or reports fewer cases than it planned
has its missing cases counted as failed. The last line is
"N passed, N failed".
"""
import json
import os
import re
import subprocess
import sys
import time


def tests_of(build):
    out = subprocess.run(["meson", "introspect", "--tests", build], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def run_one(t):
    env = dict(os.environ)
    env.update(t.get("env") or {})
    env.setdefault("HL_LOG", "warn")
    cmd = t["cmd"]
    timeout = t.get("timeout") or 120
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=t.get("workdir") or t.get("builddir"), env=env, capture_output=True,
                           text=True, timeout=timeout, errors="replace")
        out, err, rc, why = p.stdout, p.stderr, p.returncode, None
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        rc, why = -1, f"timed out after {timeout}s"
    return out, err, rc, why, time.monotonic() - start


def pool_files():
    """Pool files on hugetlbfs mounts and in /dev/shm: a test must not leave any."""
    dirs = {"/dev/shm"}
    try:
        with open("/proc/mounts") as f:
            dirs |= {l.split()[1] for l in f if l.split()[2] == "hugetlbfs"}
    except OSError:
        pass
    found = set()
    for d in dirs:
        try:
            found |= {os.path.join(d, n) for n in os.listdir(d) if n.endswith(".pool")}
        except OSError:
            pass
    return found


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    tests = []
    for spec in [a for a in args if not a.startswith("--")]:
        build, _, suite = spec.partition(":")
        # meson prefixes suites with the project name ("hugelink:fuzz")
        for t in tests_of(build):
            if not suite or any(x == suite or x.endswith(":" + suite) for x in t.get("suite", [])):
                t["builddir"] = build
                tests.append(t)
    if "--list" in args:
        for t in tests:
            print(t["name"])
        return 0
    passed = failed = 0
    before = pool_files()
    for t in tests:
        out, err, rc, why, secs = run_one(t)
        plan = None
        ok = bad = 0
        for line in out.splitlines():
            m = re.match(r"^1\.\.(\d+)", line)
            if m:
                plan = int(m.group(1))
                continue
            m = re.match(r"^(not ok|ok)\s+\d+\s*-?\s*(.*)", line)
            if m:
                good = m.group(1) == "ok"
                ok += good
                bad += not good
                print(f"{'PASS' if good else 'FAIL'} {t['name']}/{m.group(2)}")
            elif line.startswith("#"):
                print(f"     {line}")
        missing = (plan - ok - bad) if plan is not None else 0
        if plan is None or missing > 0 or (rc != 0 and bad == 0):
            # the binary crashed or lied about its plan: count what it did not report
            lost = max(missing, 1)
            bad += lost
            reason = why or f"exit status {rc}"
            print(f"FAIL {t['name']}: {reason}, {lost} case(s) unreported")
        if bad:
            tail = "\n".join(err.strip().splitlines()[-30:])
            if tail:
                print(f"---- stderr of {t['name']} (last lines) ----\n{tail}\n----")
        print(f"     {t['name']}: {ok} passed, {bad} failed in {secs:.1f}s")
        passed += ok
        failed += bad
    left = sorted(pool_files() - before)
    if left:
        failed += 1
        print(f"FAIL runner/no_pool_files_left_behind: {', '.join(left)}")
    else:
        passed += 1
        print("PASS runner/no_pool_files_left_behind")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
