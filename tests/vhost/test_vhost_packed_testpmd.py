#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""DPDK testpmd's virtio-user on packed rings (packed_vq=1) on a hugelinkd vhost port.

usage: test_vhost_packed_testpmd.py BUILD_DIR

testpmd forwards in macswap mode: each frame it receives on its
virtio-user device goes back with the MACs swapped. A checked-frame
sender (hltraffic, on a second vhost port with split rings) addresses
testpmd's MAC, so every frame crosses the switch into the packed port's
receive queue (mergeable buffers, event suppression) and out of its
transmit queue again (zero-copy on): both directions, counted and content-checked, at
64 and 1518 B. Then testpmd is killed with -9 and a new one reconnects
(the rings start again from their base with the wrap counters), a port
created with packed off makes the same testpmd fall back to split
rings, and hugelink's own front-end (hltraffic --packed) gets packed rings
from hugelinkd and sends through the split testpmd; no buffer is left in
use. Prints TAP.
"""
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import endpoint, result, wait_state  # noqa: E402
from vhost_testpmd import A, B, FORWARDING, Run, clean_end, counted_round_trips, round_trip  # noqa: E402


def body(run):
    t, d, build, work, psock, vsock = run.t, run.d, run.build, run.work, run.psock, run.vsock
    pmd = run.testpmd("pk1", psock, "packed_vq=1")
    p = wait_state(d, "p", "up")
    pmd.wait_for(FORWARDING, 15)
    t.check(p.get("state") == "up" and p.get("ring") == "packed" and p.get("packed") == "on",
            "testpmd with packed_vq=1 comes up on packed rings", f"{p} {pmd.tail()}")

    before, pp = counted_round_trips(t, d, build, work, vsock, pmd, "packed rings")
    t.check(pp["zcopy_packets"] - before["zcopy_packets"] > 100 and pp["copy_packets"] - before["copy_packets"] > 100,
            "with --zcopy on, 1518 B frames stay in testpmd's buffers on packed rings; 64 B ones are copied",
            f"{before} {pp}")

    # a front-end gone without a word, a new one on the same port
    pmd = run.testpmd("pk2", psock, "packed_vq=1")
    p = wait_state(d, "p", "up")
    pmd.wait_for(FORWARDING, 15)
    pmd.stop(signal.SIGKILL)
    p = wait_state(d, "p", "listening")
    t.check(p.get("state") == "listening" and d.alive(), "testpmd killed with -9: the port listens again", str(p))
    pmd = run.testpmd("pk3", psock, "packed_vq=1")
    p = wait_state(d, "p", "up")
    pmd.wait_for(FORWARDING, 15)
    round_trip(t, build, work, vsock, 256, 1.5, "a new testpmd reconnects on packed rings and frames flow again")
    pmd.stop()

    # packed off: the same front-end gets split rings
    rc = d.hlctl("port", "add", "vhost", "q", "--server", os.path.join(work, "q.sock"), "--packed", "off")[0]
    d.hlctl("port", "del", "p")
    pmd = run.testpmd("pk4", os.path.join(work, "q.sock"), "packed_vq=1")
    q = wait_state(d, "q", "up")
    pmd.wait_for(FORWARDING, 15)
    t.check(rc == 0 and q.get("ring") == "split" and q.get("packed") == "off",
            "a port with --packed off gives testpmd split rings", f"{q} {pmd.tail()}")
    round_trip(t, build, work, vsock, 512, 1.0, "and frames flow through it as well")
    # hugelink's own front-end on packed rings: the sender on v, through the split testpmd on q
    sender = endpoint(build, work, vsock, A, B, 2.0, 128, extra=("--packed",))
    v = wait_state(d, "v", "up")
    r = result(sender)
    t.check(v.get("ring") == "packed" and r[0] == 0 and r[1].get("rx_packets", 0) > 100
            and r[1].get("rx_bad", 1) == 0,
            "hltraffic --packed runs on packed rings of its own, every frame back and checked", f"{v} {r}")
    pmd.stop()

    clean_end(t, d, ["q", "v"])


if __name__ == "__main__":
    sys.exit(Run.main(body, 15, "packed-testpmd.", "on"))
