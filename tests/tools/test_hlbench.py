#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hlbench runs and prints the JSON lines others rely on (TAP output).

usage: test_hlbench.py HLBENCH

Checks shapes and agreement, never speed: timing belongs to the benchmark,
not to a test on a shared machine.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Tap  # noqa: E402


def lines(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p.returncode, out, p.stderr


def main():
    hlbench = sys.argv[1]
    t = Tap(11)
    rc, out, err = lines([hlbench, "xlate", "--pool-mb", "64", "--reps", "5"], 120)
    impls = {o.get("impl"): o for o in out}
    need = {"bench", "impl", "ns_per_op", "ops", "pages", "segments"}
    ok = (rc == 0 and {"table", "segscan"} <= set(impls)
          and all(need <= set(o) and o["bench"] == "xlate" and o["ns_per_op"] > 0 for o in out)
          and ("pagemap" in impls or impls["table"].get("iova") == "offset"))
    if not t.check(ok, "hlbench xlate prints table/pagemap/segscan lines"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "64", "--seconds", "1", "--rounds", "1"], 120)
    need = {"bench", "backend", "frontend", "dir", "size", "mode", "mpps", "gbps", "ns_pkt"}
    # busy time a packet: more than nothing, and no more than the time a packet took in all
    ok = (rc == 0 and len(out) == 1 and need <= set(out[0]) and out[0]["backend"] == "hugelink"
          and out[0]["dir"] == "g2h" and out[0]["size"] == 64 and out[0]["mpps"] > 0
          and 0 < out[0]["ns_pkt"] <= 1.5 * 1000 / out[0]["mpps"])
    if not t.check(ok, "hlbench vhost moves packets and prints its JSON line"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    # the same front-end on packed rings, zero-copy included; a layout it does not know is refused
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "1518", "--seconds", "1", "--rounds", "1",
                          "--ring", "packed", "--mode", "copy,zcopy"], 120)
    rc2, _, err2 = lines([hlbench, "vhost", "--ring", "ring"], 20)
    ok = (rc == 0 and len(out) == 2 and all(o.get("ring") == "packed" and o["mpps"] > 0 for o in out)
          and {o["mode"] for o in out} == {"copy", "zcopy"} and rc2 == 2 and "split, packed or best" in err2)
    if not t.check(ok, "hlbench vhost --ring packed runs copy and zero-copy on packed rings and says so"):
        t.diag("\n".join((err + err2 + str(out)).splitlines()[-10:]))
    # two queue pairs, one core a side: both back-ends poll both pairs; a pair count out of range is refused
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "64", "--seconds", "1", "--rounds", "1",
                          "--queues", "2", "--vs-dpdk"], 120)
    rc2, _, err2 = lines([hlbench, "vhost", "--queues", "17"], 20)
    ok = (rc == 0 and len(out) == 2 and {o["backend"] for o in out} == {"hugelink", "dpdk"}
          and all(o.get("queues") == 2 and o["mpps"] > 0 for o in out) and rc2 == 2 and "1..16" in err2)
    if not t.check(ok, "hlbench vhost --queues 2 runs both back-ends on two queue pairs and says so"):
        t.diag("\n".join((err + err2 + str(out)).splitlines()[-10:]))
    # hugelinkd next to hlbench switches A -> B; no OVS here (that is the benchmark's job)
    rc, out, err = lines([hlbench, "switch", "--size", "64", "--seconds", "2", "--idle-us", "300"], 120)
    need = {"bench", "switch", "size", "mpps", "gbps", "tx_mpps", "samples"}
    ok = (rc == 0 and len(out) == 1 and need <= set(out[0]) and out[0]["bench"] == "switch"
          and out[0]["switch"] == "hugelink" and out[0]["size"] == 64 and out[0]["samples"] == 2
          and out[0].get("idle_us") == 300 and len(out[0].get("probe_ms_rounds", [])) == 2
          and out[0]["mpps"] > 0 and "error" not in out[0] and "ratio" not in out[0]
          and abs(out[0]["gbps"] - out[0]["mpps"] * 64 * 8 / 1000) < 0.01)
    if not t.check(ok, "hlbench switch forwards through hugelinkd and prints its JSON line"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    # two shm peers through an in-process switch; a frame larger than a buffer goes as a chain of them,
    # one that no chain holds is refused, loudly
    # (two sizes taking turns twice: each has two samples, the second its ratio to the first)
    rc, out, err = lines([hlbench, "shm", "--size", "64,128", "--seconds", "1", "--rounds", "2", "--vs-ring"], 120)
    need = {"bench", "size", "mpps", "gbps", "tx_mpps", "samples", "room", "rounds"}
    ok = (rc == 0 and len(out) == 2 and all(need <= set(o) for o in out) and out[0]["bench"] == "shm"
          and [o["size"] for o in out] == [64, 128] and all(o["samples"] == 2 and o["rounds"] == 2 for o in out)
          and all(o["mpps"] > 0 for o in out) and "error" not in out[0]
          and abs(out[0]["gbps"] - out[0]["mpps"] * 64 * 8 / 1000) < 0.01
          and "vs_first" not in out[0] and out[1].get("vs_first", 0) > 0
          and out[1]["vs_first_min"] <= out[1]["vs_first"] <= out[1]["vs_first_max"]
          and len(out[1]["vs_first_rounds"]) == 2
          and all(len(o["probe_ms_rounds"]) == 2 and min(o["probe_ms_rounds"]) > 0 for o in out)
          and all(len(o["vs_ring_rounds"]) == 2 and o["ring_mpps_max"] > 0 and o["vs_ring"] > 0
                  for o in out))
    rc3, out3, err3 = lines([hlbench, "shm", "--size", "9000", "--seconds", "1", "--rounds", "1"], 60)
    ok = ok and (rc3 == 0 and len(out3) == 1 and out3[0].get("segs") == 5 and out3[0].get("mpps", 0) > 0
                 and out[0].get("segs") == 1)
    rc2, out2, err2 = lines([hlbench, "shm", "--size", "20000", "--room", "256", "--seconds", "1", "--rounds", "1"], 60)
    ok = ok and (rc2 != 0 and len(out2) == 1 and out2[0].get("size") == 20000 and "error" in out2[0]
                 and "mpps" not in out2[0] and "do not fit" in err2)
    if not t.check(ok, "hlbench shm forwards between two shm peers and prints its JSON line"):
        t.diag("\n".join((err + err2 + err3 + str(out) + str(out2) + str(out3)).splitlines()[-10:]))
    shm_out = out + out2
    # zero-copy modes on a chained (4096 B) frame, and the plot
    svg = os.path.join(tempfile.mkdtemp(prefix="hlbench-plot."), "g2h.svg")
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "4096", "--mode", "copy,zcopy",
                          "--seconds", "1", "--rounds", "1", "--plot", svg], 180)
    modes = {o.get("mode"): o for o in out}
    ok = (rc == 0 and set(modes) == {"copy", "zcopy"} and all(o["mpps"] > 0 and o["size"] == 4096 for o in out)
          and os.path.exists(svg) and "<polyline" in open(svg).read())
    if not t.check(ok, "hlbench vhost runs copy and zcopy on chained frames and plots them"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    # one chart from the lines of separate runs; broken and error lines skipped
    results = os.path.join(os.path.dirname(svg), "results.jsonl")
    with open(results, "w") as f:
        for o in out + shm_out:
            f.write(json.dumps(o) + "\n")
        f.write('{"bench":"shm","size":\n')
        f.write("not json at all\n")
    both = os.path.join(os.path.dirname(svg), "both.svg")
    rc, pout, err = lines([hlbench, "plot", "--out", both, results], 30)
    text = open(both).read() if os.path.exists(both) else ""
    ok = (rc == 0 and len(pout) == 1 and pout[0].get("series") == 3 and pout[0].get("points") == 4
          and pout[0].get("skipped") == 2 and "shm ports" in text and "vhost g2h zcopy" in text
          and text.count("<polyline") == 3)
    rc2, _, err2 = lines([hlbench, "plot", "--out", both, os.path.join(os.path.dirname(svg), "missing")], 30)
    ok = ok and rc2 != 0 and "cannot open" in err2
    if not t.check(ok, "hlbench plot draws the lines of several runs in one chart"):
        t.diag("\n".join((err + err2 + str(pout)).splitlines()[-10:]))
    shutil.rmtree(os.path.dirname(svg), ignore_errors=True)
    # rounds against DPDK: the ratio is the median of the per-round ratios, shown with its spread,
    # and the host-speed probe taken before each round
    rc, out, err = lines([hlbench, "vhost", "--dir", "g2h", "--size", "64", "--seconds", "1", "--rounds", "2",
                          "--vs-dpdk"], 240)
    ours = [o for o in out if o.get("backend") == "hugelink"]
    o = ours[0] if ours else {}
    rr = o.get("ratio_rounds", [])
    # a round where either side measured nothing (1-second rounds on a busy host) has no ratio
    ok = (rc == 0 and len(ours) == 1 and o.get("rounds") == 2 and 1 <= len(rr) <= 2 and min(rr) > 0
          and o["ratio_min"] == min(rr) and o["ratio_max"] == max(rr)
          and abs(o["ratio"] - sum(rr) / len(rr)) < 0.002
          and len(o.get("probe_ms_rounds", [])) == 2 and min(o["probe_ms_rounds"]) > 0
          and o["probe_ms_min"] <= o["probe_ms"] <= o["probe_ms_max"])
    if not t.check(ok, "hlbench vhost --vs-dpdk reports per-round ratios, their spread and the host probe"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    # dirty logging's cost: both ways measured, bits set, none outside the log
    rc, out, err = lines([hlbench, "dirtylog", "--size", "512", "--rounds", "2", "--bursts", "200"], 120)
    need = {"bench", "size", "ns_pkt", "ns_pkt_logged", "log_cost", "log_cost_min", "log_cost_max", "log_words"}
    ok = (rc == 0 and len(out) == 1 and need <= set(out[0]) and out[0]["bench"] == "dirtylog"
          and out[0]["size"] == 512 and out[0]["ns_pkt"] > 0 and out[0]["ns_pkt_logged"] > 0
          and out[0]["log_cost_min"] <= out[0]["log_cost"] <= out[0]["log_cost_max"]
          and out[0]["log_words"] > 0 and out[0]["log_dropped"] == 0)
    if not t.check(ok, "hlbench dirtylog measures the enqueue with and without dirty logging"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    # testpmd circling frames through hugelinkd's memif ports, then through a testpmd of its own
    rc, out, err = lines([hlbench, "memif", "--size", "64", "--seconds", "1", "--rounds", "1", "--no-shm"], 120)
    need = {"bench", "size", "mpps", "dpdk_mpps", "vs_dpdk", "vs_dpdk_min", "vs_dpdk_max", "rounds", "zero_copy"}
    ok = (rc == 0 and len(out) == 1 and need <= set(out[0]) and out[0]["bench"] == "memif"
          and out[0]["size"] == 64 and out[0]["rounds"] == 1 and out[0]["mpps"] > 0 and out[0]["dpdk_mpps"] > 0
          and abs(out[0]["vs_dpdk"] - out[0]["mpps"] / out[0]["dpdk_mpps"]) <= 0.02 * out[0]["vs_dpdk"] + 0.01
          and "shm_mpps" not in out[0])
    if not t.check(ok, "hlbench memif runs hugelinkd's and DPDK's memif and prints its JSON line"):
        t.diag("\n".join((err + str(out)).splitlines()[-10:]))
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
