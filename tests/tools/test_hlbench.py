#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hlbench runs and prints the JSON lines others rely on (TAP output).

usage: test_hlbench.py HLBENCH

Checks shapes and agreement, never speed: timing belongs to the benchmark,
not to a test on a shared machine.
"""
import json
import subprocess
import sys


def lines(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p.returncode, out, p.stderr


def main():
    hlbench = sys.argv[1]
    print("1..2", flush=True)
    rc, out, err = lines([hlbench, "xlate", "--pool-mb", "64", "--reps", "5"], 120)
    impls = {o.get("impl"): o for o in out}
    need = {"bench", "impl", "ns_per_op", "ops", "pages", "segments"}
    ok = (rc == 0 and {"table", "segscan"} <= set(impls)
          and all(need <= set(o) and o["bench"] == "xlate" and o["ns_per_op"] > 0 for o in out)
          and ("pagemap" in impls or impls["table"].get("iova") == "offset"))
    print(f"{'ok' if ok else 'not ok'} 1 - hlbench xlate prints table/pagemap/segscan lines", flush=True)
    if not ok:
        print("# " + "\n# ".join((err + str(out)).splitlines()[-10:]))
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "64", "--seconds", "1"], 120)
    need = {"bench", "backend", "frontend", "dir", "size", "mode", "mpps", "gbps"}
    ok = (rc == 0 and len(out) == 1 and need <= set(out[0]) and out[0]["backend"] == "hugelink"
          and out[0]["dir"] == "g2h" and out[0]["size"] == 64 and out[0]["mpps"] > 0)
    print(f"{'ok' if ok else 'not ok'} 2 - hlbench vhost moves packets and prints its JSON line", flush=True)
    if not ok:
        print("# " + "\n# ".join((err + str(out)).splitlines()[-10:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
