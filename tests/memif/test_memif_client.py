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
from memif_env import Run, Testpmd, endpoint, memif_vdev, result, settle, wait_state  # noqa: E402
from test_memif_testpmd import hlshm, shm_result, stats  # noqa: E402

A, B, C = "02:00:00:00:0a:02", "02:00:00:00:0b:02", "02:00:00:00:0c:02"


def main():
    run = Run(sys.argv, 14, "memif-client.")
    build, t, work, d, vsock = run.build, run.t, run.work, run.d, run.vsock
    msock = os.path.join(work, "srv.sock")
    pmd = None
    try:
        ok = run.start("mc", "--socket", msock, "--role", "client")
        time.sleep(1.0)
        p = wait_state(d, "mc", "connecting")
        t.check(ok and p.get("state") == "connecting" and p.get("role") == "client" and p.get("connect_fails", 0) >= 3
                and p.get("connect_fails", 0) < 20,
                "with no server yet the client port retries, backing off", str(p))

        pmd = Testpmd(work, "s1", [memif_vdev(0, msock, B, role="server")]).start()
        p = wait_state(d, "mc", "up")
        t.check(p.get("state") == "up" and "DPDK" in p.get("peer", "") and p.get("regions") == 2
                and p.get("copy") == "switch zero-copy",
                "it connects once testpmd listens: two regions (rings, and the switch's pool)", f"{p} {pmd.tail()}")
        pmd.wait_for(r"Start automatic packet forwarding|Press enter", 10)

        e = endpoint(build, work, vsock, A, B, 2, 64)
        r = result(e)
        s = stats(d, "mc")
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 1000 and r[1].get("rx_bad", 1) == 0,
                "64 B frames from a vhost endpoint come back through testpmd, every byte checked", f"{r} {s}")
        t.check(s.get("zcopy_packets", 0) >= s.get("rx_packets", 1) and s.get("copy_packets", 1) == 0
                and s.get("rx_packets", 0) > 0,
                "the switch copied none of them: the server wrote into and read from the switch's buffers", str(s))

        record = os.path.join(work, f"hld-test-{os.getpid()}.meta")
        r = shm_result(hlshm(build, record, C, B, 5000, 2))
        m = stats(d, "mc").get("memif", {})
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 100 and r[1].get("rx_bad", 1) == 0
                and m.get("tx_chained", 0) > 0 and m.get("rx_chained", 0) > 0,
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
        os.unlink(msock)
        pmd = Testpmd(work, "s2", [memif_vdev(0, msock, B, role="server")]).start()
        p = wait_state(d, "mc", "up")
        pmd.wait_for(r"Start automatic packet forwarding|Press enter", 10)
        e = endpoint(build, work, vsock, A, B, 1.5, 1518)
        r = result(e)
        t.check(p.get("state") == "up" and p.get("connects") == 2 and r[0] == 0 and r[1].get("rx_packets", 0) > 100
                and r[1].get("rx_bad", 1) == 0, "a restarted testpmd is reconnected to; 1518 B frames flow", f"{p} {r}")
        pmd.stop()
        rx, tx = pmd.totals()
        t.check(rx > 0 and tx > 0, "testpmd counted what it forwarded", f"{rx} {tx}")
        pmd = None
        t.check(wait_state(d, "mc", "connecting").get("state") == "connecting",
                "a clean testpmd exit leaves the port reconnecting", "")

        # two queue pairs
        rc, _, err = d.hlctl("port", "del", "mc")
        rc2, _, err2 = d.hlctl("port", "add", "memif", "mq", "--socket", msock, "--role", "client", "--rings", "2",
                               "--ring-size", "512")
        if os.path.exists(msock):
            os.unlink(msock)
        pmd = Testpmd(work, "mq", [memif_vdev(0, msock, B, role="server")], extra=["--rxq=2", "--txq=2"]).start()
        p = wait_state(d, "mq", "up")
        pmd.wait_for(r"Start automatic packet forwarding|Press enter", 10)
        t.check(rc == 0 and rc2 == 0 and p.get("queues") == 2, "two queue pairs are set up with a server that has two",
                f"{err} {err2} {p} {pmd.tail()}")
        e1 = endpoint(build, work, vsock, A, B, 1.5, 128)
        r = result(e1)
        t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 1000 and r[1].get("rx_bad", 1) == 0,
                "frames flow over two queue pairs", str(r))
        pmd.stop()
        pmd = None
        wait_state(d, "mq", "connecting")
        d.hlctl("port", "del", "s")
        st = settle(d, ["mq", "v"])
        t.check(st["buffers"]["in_use"] == 0, "no buffer is in use at the end", str(st["buffers"]))
        t.check(d.stop() == 0, "hugelinkd exits cleanly with a client port still reconnecting", d.log_tail())
    finally:
        code = run.finish(pmd)
    return code


if __name__ == "__main__":
    sys.exit(main())
