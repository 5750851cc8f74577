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
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import endpoint, result, wait_state  # noqa: E402
from vhost_testpmd import A, B, FORWARDING, Run, clean_end, counted_round_trips, round_trip  # noqa: E402


def layout(run, tag, opts, ring):
    """testpmd with `opts` on port p: in order on `ring`, frames both ways, counted on both sides."""
    pmd = run.testpmd(tag, run.psock, opts)
    p = wait_state(run.d, "p", "up")
    pmd.wait_for(FORWARDING, 15)
    run.t.check(p.get("ring") == ring and p.get("in_order") is True,
                f"testpmd with {opts} comes up on {ring} rings with IN_ORDER negotiated", f"{p} {pmd.tail()}")
    counted_round_trips(run.t, run.d, run.build, run.work, run.vsock, pmd, f"{ring}, in order")


def body(run):
    t, d, build, work, psock, vsock = run.t, run.d, run.build, run.work, run.psock, run.vsock
    layout(run, "io1", "in_order=1", "split")
    layout(run, "io2", "packed_vq=1,in_order=1", "packed")

    # a front-end gone without a word while frames flow, a new one on the same in-order port
    for tag, opts in (("io4", "in_order=1"), ("io5", "packed_vq=1,in_order=1")):
        pmd = run.testpmd(tag, psock, opts)
        wait_state(d, "p", "up")
        pmd.wait_for(FORWARDING, 15)
        sender = endpoint(build, work, vsock, A, B, 1.0, 256)
        time.sleep(0.6)  # the sender connected and frames cross testpmd's rings
        pmd.stop(signal.SIGKILL)
        result(sender)
    p = wait_state(d, "p", "listening")
    pmd = run.testpmd("io6", psock, "packed_vq=1,in_order=1")
    p = wait_state(d, "p", "up")
    pmd.wait_for(FORWARDING, 15)
    t.check(p.get("in_order") is True and d.alive(), "testpmd killed with -9 twice mid-traffic: a new one comes "
            "up in order on the same port", f"{p} {pmd.tail()}")
    round_trip(t, build, work, vsock, 256, 1.5, "and frames flow again, every byte checked")
    pmd.stop()

    # zero-copy may pin: IN_ORDER is not offered, and the same front-end goes without it
    zsock = os.path.join(work, "z.sock")
    rc = d.hlctl("port", "add", "vhost", "z", "--server", zsock, "--zcopy", "on")[0]
    d.hlctl("port", "del", "p")
    pmd = run.testpmd("io3", zsock, "packed_vq=1,in_order=1")
    z = wait_state(d, "z", "up")
    pmd.wait_for(FORWARDING, 15)
    t.check(rc == 0 and z.get("in_order") is False and z.get("zcopy") == "on",
            "a port with --zcopy on gives testpmd no IN_ORDER", f"{z} {pmd.tail()}")
    round_trip(t, build, work, vsock, 1518, 1.0, "and frames flow through it as well")
    pmd.stop()

    clean_end(t, d, ["z", "v"])


if __name__ == "__main__":
    sys.exit(Run.main(body, 18, "inorder-testpmd.", "off"))
