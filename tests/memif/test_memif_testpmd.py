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
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memif_env import Run, flowed, settle, stats, wait_state  # noqa: E402


def test(run, t, d):
    ok = run.start("m", "--id", "0")
    t.check(ok and wait_state(d, "m", "listening").get("state") == "listening",
            "a memif port listens on its socket", d.log_tail())

    pmd, p = run.testpmd("c1", "m")
    t.check(p.get("state") == "up" and "DPDK" in p.get("peer", "") and p.get("version") == "2.0"
            and p.get("queues") == 1 and p.get("regions", 0) >= 1 and p.get("peer_zero_copy") is False,
            "testpmd connects: the port lists peer, version, queues, regions and who copies", f"{p} {pmd.tail()}")

    # 64 B both ways, through a vhost port
    r = run.frames(2, 64)
    s = stats(d, "m")
    t.check(flowed(r, 1000),
            "64 B frames from a vhost endpoint come back through memif and testpmd, every byte checked", f"{r} {s}")
    t.check(s.get("rx_packets", 0) >= r[1].get("rx_packets", 1) and s.get("tx_packets", 0) >= s["rx_packets"] * 0.9,
            "the memif port counts what it sent testpmd and what came back", str(s))

    r = run.frames(1.5, 1518)
    t.check(flowed(r, 100), "1518 B frames make the round trip intact", str(r))

    # frames larger than one memif buffer: chains both ways, through the shm port
    before = stats(d, "m").get("memif", {})
    r = run.shm_frames(2, 5000)
    after = stats(d, "m").get("memif", {})
    t.check(flowed(r, 100), "5000 B frames from an shm peer come back whole (chained descriptors both ways)",
            f"{r} {after}")
    t.check(after.get("tx_chained", 0) > before.get("tx_chained", 0)
            and after.get("rx_chained", 0) > before.get("rx_chained", 0),
            "the port counts chains it sent and chains it received", f"{before} {after}")

    # kill -9: the port goes back to listening; a new testpmd reattaches
    pmd.stop(signal.SIGKILL)
    p = wait_state(d, "m", "listening")
    t.check(p.get("state") == "listening" and d.alive(), "testpmd killed with -9: the port goes back to listening",
            str(p))
    settle(d, ["m", "v"])
    pmd, p = run.testpmd("c2", "m")
    r = run.frames(1.5, 256)
    t.check(p.get("state") == "up" and p.get("connects") == 2 and flowed(r, 100),
            "a restarted testpmd reattaches and frames flow again", f"{p} {r}")
    pmd.stop()
    rx, tx = pmd.totals()
    t.check(rx > 0 and tx > 0 and rx >= r[1].get("rx_packets", 0), "testpmd counted what it forwarded",
            f"{rx} {tx} {pmd.tail()}")
    p = wait_state(d, "m", "listening")
    t.check(p.get("state") == "listening", "a clean testpmd exit also leaves the port listening", str(p))

    # zero-copy client: testpmd exports its own hugepages as regions; the switch maps and reads them
    pmd, p = run.testpmd("zc", "m", vdev_extra=",zero-copy=yes", extra_eal=["--single-file-segments"])
    t.check(p.get("state") == "up" and p.get("regions", 0) > 1 and p.get("peer_zero_copy") is True,
            "a zero-copy testpmd exports its packet memory as regions of its own", f"{p} {pmd.tail()}")
    r = run.frames(1.5, 64)
    t.check(flowed(r, 1000), "frames make the round trip through the zero-copy client's own buffers", str(r))
    r = run.frames(1.0, 1518)
    t.check(flowed(r, 100), "and 1518 B ones", str(r))
    pmd.stop()
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
    t.check(rc == 0 and not os.path.exists(run.msock), "hugelinkd exits cleanly and removes the memif socket",
            f"rc {rc}, socket left: {os.path.exists(run.msock)}")


if __name__ == "__main__":
    sys.exit(Run.main(test, 18, "memif-testpmd.", "m.sock"))
