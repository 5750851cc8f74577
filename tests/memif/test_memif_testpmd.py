#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""DPDK testpmd (net_memif, role=client) on a hugelinkd memif port.

usage: test_memif_testpmd.py BUILD_DIR

testpmd forwards in macswap mode: every frame it gets on its memif
interface goes back with the MACs swapped. A checked-frame sender on
another switch port (hltraffic on a vhost port, hlshm on an shm port)
addresses testpmd's MAC, so each frame crosses the switch into memif, out
of it again, and reaches the sender, which checks every byte: both
directions, counted and content-checked. Then: frames larger than one
memif buffer (chained descriptors both ways), testpmd killed with -9 and
restarted (the port reattaches), testpmd's zero-copy mode (its own
hugepages exported as regions), and the buffers the switch holds at the
end. Prints TAP.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memif_env import Run, Testpmd, endpoint, memif_vdev, result, settle, wait_state  # noqa: E402

A, B, C = "02:00:00:00:0a:01", "02:00:00:00:0b:01", "02:00:00:00:0c:01"


def hlshm(build, record, me, peer, size, secs):
    return subprocess.Popen([os.path.join(build, "tools/hlshm"), "--record", record, "--port", "s", "--mac", me,
                             "--peer", peer, "--seconds", str(secs), "--size", str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def shm_result(p):
    out, err = p.communicate(timeout=60)
    m = re.search(r'\{"shm-peer".*\}', out)
    return p.returncode, (json.loads(m[0]) if m else {}), err


def stats(d, name):
    return {p["name"]: p for p in d.json("stats")["ports"]}.get(name, {})


def main():
    run = Run(sys.argv, 18, "memif-testpmd.")
    build, t, work, d, vsock = run.build, run.t, run.work, run.d, run.vsock
    msock = os.path.join(work, "m.sock")
    pmd = None
    try:
        ok = run.start("m", "--socket", msock, "--id", "0")
        t.check(ok and wait_state(d, "m", "listening").get("state") == "listening",
                "a memif port listens on its socket", d.log_tail())

        pmd = Testpmd(work, "c1", [memif_vdev(0, msock, B)]).start()
        p = wait_state(d, "m", "up")
        t.check(p.get("state") == "up" and "DPDK" in p.get("peer", "") and p.get("version") == "2.0"
                and p.get("queues") == 1 and p.get("regions", 0) >= 1 and p.get("peer_zero_copy") is False,
                "testpmd connects: the port lists peer, version, queues, regions and who copies", f"{p} {pmd.tail()}")
        pmd.wait_for(r"Start automatic packet forwarding|Port 0: link state change|Press enter", 10)

        # 64 B both ways, through a vhost port
        e = endpoint(build, work, vsock, A, B, 2, 64)
        r = result(e)
        s = stats(d, "m")
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 1000 and r[1].get("rx_bad", 1) == 0,
                "64 B frames from a vhost endpoint come back through memif and testpmd, every byte checked",
                f"{r} {s}")
        t.check(s.get("rx_packets", 0) >= r[1].get("rx_packets", 1) and s.get("tx_packets", 0) >= s["rx_packets"] * 0.9,
                "the memif port counts what it sent testpmd and what came back", str(s))

        # 1518 B
        e = endpoint(build, work, vsock, A, B, 1.5, 1518)
        r = result(e)
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 100 and r[1].get("rx_bad", 1) == 0,
                "1518 B frames make the round trip intact", str(r))

        # frames larger than one memif buffer: chains both ways, through the shm port
        record = os.path.join(work, f"hld-test-{os.getpid()}.meta")
        before = stats(d, "m").get("memif", {})
        sp = hlshm(build, record, C, B, 5000, 2)
        r = shm_result(sp)
        after = stats(d, "m").get("memif", {})
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 100 and r[1].get("rx_bad", 1) == 0,
                "5000 B frames from an shm peer come back whole (chained descriptors both ways)", f"{r} {after}")
        t.check(after.get("tx_chained", 0) > before.get("tx_chained", 0)
                and after.get("rx_chained", 0) > before.get("rx_chained", 0),
                "the port counts chains it sent and chains it received", f"{before} {after}")

        # kill -9: the port goes back to listening; a new testpmd reattaches
        pmd.stop(signal.SIGKILL)
        p = wait_state(d, "m", "listening")
        t.check(p.get("state") == "listening" and d.alive(), "testpmd killed with -9: the port goes back to listening",
                str(p))
        settle(d, ["m", "v"])
        pmd = Testpmd(work, "c2", [memif_vdev(0, msock, B)]).start()
        p = wait_state(d, "m", "up")
        pmd.wait_for(r"Start automatic packet forwarding|Press enter", 10)
        e = endpoint(build, work, vsock, A, B, 1.5, 256)
        r = result(e)
        t.check(p.get("state") == "up" and p.get("connects") == 2 and r[0] == 0 and r[1].get("rx_packets", 0) > 100
                and r[1].get("rx_bad", 1) == 0, "a restarted testpmd reattaches and frames flow again", f"{p} {r}")
        pmd.stop()
        rx, tx = pmd.totals()
        t.check(rx > 0 and tx > 0 and rx >= r[1].get("rx_packets", 0), "testpmd counted what it forwarded",
                f"{rx} {tx} {pmd.tail()}")
        p = wait_state(d, "m", "listening")
        t.check(p.get("state") == "listening", "a clean testpmd exit also leaves the port listening", str(p))

        # zero-copy client: testpmd exports its own hugepages as regions; the switch maps and reads them
        pmd = Testpmd(work, "zc", [memif_vdev(0, msock, B, extra=",zero-copy=yes")],
                      extra_eal=["--single-file-segments"]).start()
        p = wait_state(d, "m", "up")
        pmd.wait_for(r"Start automatic packet forwarding|Press enter", 10)
        t.check(p.get("state") == "up" and p.get("regions", 0) > 1 and p.get("peer_zero_copy") is True,
                "a zero-copy testpmd exports its packet memory as regions of its own", f"{p} {pmd.tail()}")
        e = endpoint(build, work, vsock, A, B, 1.5, 64)
        r = result(e)
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 1000 and r[1].get("rx_bad", 1) == 0,
                "frames make the round trip through the zero-copy client's own buffers", str(r))
        e = endpoint(build, work, vsock, A, B, 1.0, 1518)
        r = result(e)
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 100 and r[1].get("rx_bad", 1) == 0,
                "and 1518 B ones", str(r))
        pmd.stop()
        pmd = None
        p = wait_state(d, "m", "listening")
        st = settle(d, ["m", "v", "s"])
        m = {x["name"]: x for x in st["ports"]}
        held = m.get("s", {}).get("peer_held", -1)
        t.check(st["buffers"]["in_use"] == held, "no buffer is lost: in use are exactly the shm port's own",
                f"{st['buffers']} held {held}")
        t.check(m["m"]["memif"]["bad_msgs"] == 0 and m["m"]["memif"]["faults"] == 0 and m["m"]["errors"] == 0,
                "testpmd never tripped a check", str(m["m"]))
        rc, _, err = d.hlctl("port", "del", "s")
        st = settle(d, ["m", "v"])
        t.check(rc == 0 and st["buffers"]["in_use"] == 0, "with the shm port gone, no buffer is in use",
                f"{err} {st['buffers']}")
        rc = d.stop()
        t.check(rc == 0 and not os.path.exists(msock), "hugelinkd exits cleanly and removes the memif socket",
                f"rc {rc}, socket left: {os.path.exists(msock)}")
    finally:
        code = run.finish(pmd)
    return code


if __name__ == "__main__":
    sys.exit(main())
