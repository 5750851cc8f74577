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
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import TESTPMD, Daemon, endpoint, finish, result, settle, wait_state  # noqa: E402
from vhost_testpmd import A, B, FORWARDING, clean_end, pmd_for, round_trip  # noqa: E402
from hltap import Tap, bail  # noqa: E402

def main():
    build = os.path.abspath(sys.argv[1])
    if not os.access(TESTPMD, os.X_OK):
        bail(f"{TESTPMD} is missing: scripts/setup-host.sh installs dpdk")
    t = Tap(15)
    work = tempfile.mkdtemp(prefix="packed-testpmd.")
    psock, vsock = os.path.join(work, "p.sock"), os.path.join(work, "v.sock")
    d = Daemon(build, work)
    pmd = None
    try:
        ok = d.start() and d.hlctl("port", "add", "vhost", "p", "--server", psock, "--zcopy", "on")[0] == 0 \
            and d.hlctl("port", "add", "vhost", "v", "--server", vsock, "--zcopy", "off")[0] == 0
        t.check(ok, "hugelinkd runs with a vhost port for testpmd and one for the sender", d.log_tail())

        pmd = pmd_for(work, "pk1", psock, "packed_vq=1")
        p = wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        t.check(p.get("state") == "up" and p.get("ring") == "packed" and p.get("packed") == "on",
                "testpmd with packed_vq=1 comes up on packed rings", f"{p} {pmd.tail()}")

        before = d.port("p")
        _, r64 = round_trip(t, build, work, vsock, 64, 2, "64 B frames go through testpmd on packed rings and back, "
                            "every byte checked")
        round_trip(t, build, work, vsock, 1518, 1.5, "1518 B frames make the same round trip intact")
        after = settle(d, ["p", "v"])
        pp = {x["name"]: x for x in after["ports"]}["p"]
        sent, back = pp["tx_packets"] - before["tx_packets"], pp["rx_packets"] - before["rx_packets"]
        t.check(sent >= r64[1].get("rx_packets", 1) and back >= r64[1].get("rx_packets", 1) and back <= sent,
                "the packed port counts the frames it gave testpmd and the ones it got back", f"{before} {pp}")
        t.check(pp["zcopy_packets"] - before["zcopy_packets"] > 100 and pp["copy_packets"] - before["copy_packets"] > 100,
                "with --zcopy on, 1518 B frames stay in testpmd's buffers on packed rings; 64 B ones are copied",
                f"{before} {pp}")
        pmd.stop()
        rx, tx = pmd.totals()
        t.check(rx >= back and tx >= back and rx > 0, "testpmd's own counters cover what crossed the port",
                f"testpmd rx {rx} tx {tx}; port sent {sent} got {back}")
        pmd = None

        # a front-end gone without a word, a new one on the same port
        pmd = pmd_for(work, "pk2", psock, "packed_vq=1")
        p = wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        pmd.stop(signal.SIGKILL)
        p = wait_state(d, "p", "listening")
        t.check(p.get("state") == "listening" and d.alive(), "testpmd killed with -9: the port listens again", str(p))
        pmd = pmd_for(work, "pk3", psock, "packed_vq=1")
        p = wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        round_trip(t, build, work, vsock, 256, 1.5, "a new testpmd reconnects on packed rings and frames flow again")
        pmd.stop()
        pmd = None

        # packed off: the same front-end gets split rings
        rc = d.hlctl("port", "add", "vhost", "q", "--server", os.path.join(work, "q.sock"), "--packed", "off")[0]
        d.hlctl("port", "del", "p")
        pmd = pmd_for(work, "pk4", os.path.join(work, "q.sock"), "packed_vq=1")
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
        pmd = None

        clean_end(t, d, ["q", "v"])
    finally:
        if pmd is not None:
            pmd.stop(signal.SIGKILL)
        code = finish(d, work, t)
    return code


if __name__ == "__main__":
    sys.exit(main())
