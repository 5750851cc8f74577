#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""DPDK testpmd's virtio-user with in_order=1 (split, then packed rings) on a hugelinkd vhost port.

usage: test_vhost_in_order_testpmd.py BUILD_DIR

testpmd forwards in macswap mode: a checked-frame sender (hltraffic, on a
second vhost port) addresses testpmd's MAC, so every frame crosses the
switch into the in-order port's receive queue and back out of its
transmit queue, whose bursts go back to testpmd as one used entry
(split) or one used descriptor (packed). Both directions are counted and
content-checked at 64 and 1518 B on each layout; `hlctl port list` says
"in_order": true. testpmd killed with -9 while frames flow, on each layout,
and a new one reconnects in order with frames flowing again. A port with --zcopy on does not offer IN_ORDER: the same
testpmd comes up without it and frames flow all the same. No buffer is
left in use. Prints TAP.
"""
import os
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import TESTPMD, Daemon, endpoint, finish, result, settle, wait_state  # noqa: E402
from vhost_testpmd import A, B, FORWARDING, clean_end, pmd_for, round_trip  # noqa: E402
from hltap import Tap, bail  # noqa: E402

def layout(t, d, build, work, psock, vsock, tag, opts, ring):
    """testpmd with `opts` on port p: in order on `ring`, frames both ways, counted on both sides."""
    pmd = pmd_for(work, tag, psock, opts)
    try:
        p = wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        t.check(p.get("ring") == ring and p.get("in_order") is True,
                f"testpmd with {opts} comes up on {ring} rings with IN_ORDER negotiated", f"{p} {pmd.tail()}")
        before = d.port("p")
        _, r64 = round_trip(t, build, work, vsock, 64, 2, f"{ring}, in order: 64 B frames through testpmd and back, "
                            "every byte checked")
        round_trip(t, build, work, vsock, 1518, 1.5, f"{ring}, in order: 1518 B frames make the same round trip intact")
        after = settle(d, ["p", "v"])
        pp = {x["name"]: x for x in after["ports"]}["p"]
        sent, back = pp["tx_packets"] - before["tx_packets"], pp["rx_packets"] - before["rx_packets"]
        t.check(sent >= r64[1].get("rx_packets", 1) and back >= r64[1].get("rx_packets", 1) and back <= sent,
                f"{ring}, in order: the port counts the frames it gave testpmd and the ones it got back",
                f"{before} {pp}")
        pmd.stop()
        rx, tx = pmd.totals()
        t.check(rx >= back and tx >= back and rx > 0, f"{ring}, in order: testpmd's counters cover what crossed",
                f"testpmd rx {rx} tx {tx}; port sent {sent} got {back}")
        pmd = None
    finally:
        if pmd is not None:
            pmd.stop(signal.SIGKILL)


def main():
    build = os.path.abspath(sys.argv[1])
    if not os.access(TESTPMD, os.X_OK):
        bail(f"{TESTPMD} is missing: scripts/setup-host.sh installs dpdk")
    t = Tap(18)
    work = tempfile.mkdtemp(prefix="inorder-testpmd.")
    psock, vsock, zsock = (os.path.join(work, n) for n in ("p.sock", "v.sock", "z.sock"))
    d = Daemon(build, work)
    pmd = None
    try:
        ok = d.start() and d.hlctl("port", "add", "vhost", "p", "--server", psock, "--zcopy", "off")[0] == 0 \
            and d.hlctl("port", "add", "vhost", "v", "--server", vsock, "--zcopy", "off")[0] == 0
        t.check(ok, "hugelinkd runs with a copy-mode vhost port for testpmd and one for the sender", d.log_tail())
        layout(t, d, build, work, psock, vsock, "io1", "in_order=1", "split")
        layout(t, d, build, work, psock, vsock, "io2", "packed_vq=1,in_order=1", "packed")

        # a front-end gone without a word while frames flow, a new one on the same in-order port
        for tag, opts in (("io4", "in_order=1"), ("io5", "packed_vq=1,in_order=1")):
            pmd = pmd_for(work, tag, psock, opts)
            wait_state(d, "p", "up")
            pmd.wait_for(FORWARDING, 15)
            sender = endpoint(build, work, vsock, A, B, 1.0, 256)
            time.sleep(0.6)  # the sender connected and frames cross testpmd's rings
            pmd.stop(signal.SIGKILL)
            result(sender)
            pmd = None
        p = wait_state(d, "p", "listening")
        pmd = pmd_for(work, "io6", psock, "packed_vq=1,in_order=1")
        p = wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        t.check(p.get("in_order") is True and d.alive(), "testpmd killed with -9 twice mid-traffic: a new one comes "
                "up in order on the same port", f"{p} {pmd.tail()}")
        round_trip(t, build, work, vsock, 256, 1.5, "and frames flow again, every byte checked")
        pmd.stop()
        pmd = None

        # zero-copy may pin: IN_ORDER is not offered, and the same front-end goes without it
        rc = d.hlctl("port", "add", "vhost", "z", "--server", zsock, "--zcopy", "on")[0]
        d.hlctl("port", "del", "p")
        pmd = pmd_for(work, "io3", zsock, "packed_vq=1,in_order=1")
        z = wait_state(d, "z", "up")
        pmd.wait_for(FORWARDING, 15)
        t.check(rc == 0 and z.get("in_order") is False and z.get("zcopy") == "on",
                "a port with --zcopy on gives testpmd no IN_ORDER", f"{z} {pmd.tail()}")
        round_trip(t, build, work, vsock, 1518, 1.0, "and frames flow through it as well")
        pmd.stop()
        pmd = None

        clean_end(t, d, ["z", "v"])
    finally:
        if pmd is not None:
            pmd.stop(signal.SIGKILL)
        code = finish(d, work, t)
    return code


if __name__ == "__main__":
    sys.exit(main())
