#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd as a memif client of DPDK testpmd (net_memif, role=server).

usage: test_memif_client.py BUILD_DIR

The port is added before any server listens: it retries with back-off.
testpmd forwards in macswap mode; checked frames from a vhost endpoint
and an shm peer go through the switch into memif and back, in the
switch's own buffers (the pool is the client's region 1, so the switch
copies nothing and the server copies into and out of those buffers).
Frames larger than one buffer go as chains both ways; testpmd killed
with -9 and restarted is reconnected to; two queue pairs; every buffer
lent to the server is back once it is gone. Prints TAP.
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memif_env import Run, flowed, settle, stats, wait_state  # noqa: E402


def test(run, t, d):
    ok = run.start("mc", "--role", "client")
    time.sleep(1.0)
    p = wait_state(d, "mc", "connecting")
    t.check(ok and p.get("state") == "connecting" and p.get("role") == "client" and p.get("connect_fails", 0) >= 3
            and p.get("connect_fails", 0) < 20,
            "with no server yet the client port retries, backing off", str(p))

    pmd, p = run.testpmd("s1", "mc", role="server")
    t.check(p.get("state") == "up" and "DPDK" in p.get("peer", "") and p.get("regions") == 2
            and p.get("copy") == "switch zero-copy",
            "it connects once testpmd listens: two regions (rings, and the switch's pool)", f"{p} {pmd.tail()}")

    r = run.frames(2, 64)
    s = stats(d, "mc")
    t.check(flowed(r, 1000), "64 B frames from a vhost endpoint come back through testpmd, every byte checked",
            f"{r} {s}")
    t.check(s.get("zcopy_packets", 0) >= s.get("rx_packets", 1) and s.get("copy_packets", 1) == 0
            and s.get("rx_packets", 0) > 0,
            "the switch copied none of them: the server wrote into and read from the switch's buffers", str(s))

    r = run.shm_frames(2, 5000)
    m = stats(d, "mc").get("memif", {})
    t.check(flowed(r, 100) and m.get("tx_chained", 0) > 0 and m.get("rx_chained", 0) > 0,
            "5000 B frames from an shm peer come back whole, chained both ways", f"{r} {m}")
    st = d.json("stats")
    held = {x["name"]: x for x in st["ports"]}["s"]["peer_held"]
    t.check(st["buffers"]["in_use"] > held, "while connected the server holds switch buffers it was offered",
            f"{st['buffers']} shm {held}")

    pmd.stop(signal.SIGKILL)
    p = wait_state(d, "mc", "connecting")
    st = settle(d, ["mc", "v"])
    held = {x["name"]: x for x in st["ports"]}["s"]["peer_held"]
    t.check(p.get("state") == "connecting" and st["buffers"]["in_use"] == held,
            "testpmd killed with -9: the port reconnects, and every buffer it lent is back",
            f"{p.get('state')} {st['buffers']} shm {held}")
    # a killed server leaves its socket file, which a new DPDK server will not replace
    os.unlink(run.msock)
    pmd, p = run.testpmd("s2", "mc", role="server")
    r = run.frames(1.5, 1518)
    t.check(p.get("state") == "up" and p.get("connects") == 2 and flowed(r, 100),
            "a restarted testpmd is reconnected to; 1518 B frames flow", f"{p} {r}")
    pmd.stop()
    rx, tx = pmd.totals()
    t.check(rx > 0 and tx > 0, "testpmd counted what it forwarded", f"{rx} {tx}")
    t.check(wait_state(d, "mc", "connecting").get("state") == "connecting",
            "a clean testpmd exit leaves the port reconnecting", "")

    # two queue pairs
    rc, _, err = d.hlctl("port", "del", "mc")
    rc2, _, err2 = d.hlctl("port", "add", "memif", "mq", "--socket", run.msock, "--role", "client", "--rings", "2",
                           "--ring-size", "512")
    if os.path.exists(run.msock):
        os.unlink(run.msock)
    pmd, p = run.testpmd("mq", "mq", role="server", extra=["--rxq=2", "--txq=2"])
    t.check(rc == 0 and rc2 == 0 and p.get("queues") == 2, "two queue pairs are set up with a server that has two",
            f"{err} {err2} {p} {pmd.tail()}")
    r = run.frames(1.5, 128)
    t.check(flowed(r, 1000), "frames flow over two queue pairs", str(r))
    pmd.stop()
    wait_state(d, "mq", "connecting")
    d.hlctl("port", "del", "s")
    st = settle(d, ["mq", "v"])
    t.check(st["buffers"]["in_use"] == 0, "no buffer is in use at the end", str(st["buffers"]))
    t.check(d.stop() == 0, "hugelinkd exits cleanly with a client port still reconnecting", d.log_tail())


if __name__ == "__main__":
    sys.exit(Run.main(test, 14, "memif-client.", "srv.sock"))
