#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile memif server against a hugelinkd memif client port, and a well-behaved one.

usage: test_memif_hostile_server.py BUILD_DIR

hugelinkd's port c connects, as a memif client, to a server written here
(memif_peer.Server), which maps the regions c sends: its rings and the
switch's pool. The server breaks the protocol one way per connection (a
HELLO of another version or with no room for a second region, a message
of the wrong size, an fd where none belongs, CONNECTED out of turn, a
handshake left hanging) and then the rings (a tail past what c offered or
lent, a length larger than the buffer offered, a chain over every offered
slot). For each: c hangs up, counts it, and connects again. Then a good
server exchanges checked frames, chains included, with a memif client
on the daemon's server port m2, through the switch and in the switch's
own buffers; a DISCONNECT from the server is a clean end; no buffer is
in use at the end. Prints TAP.
"""
import os
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memif_peer as mp  # noqa: E402
from memif_env import Daemon, finish, settle, wait_state  # noqa: E402
from test_memif_hostile import BCAST, cpu_seconds, frame, frame_ok, memif_stats  # noqa: E402
from hltap import Tap  # noqa: E402

MACS, MAC2 = bytes.fromhex("020000000e01"), bytes.fromhex("020000000e02")


def main():
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="memif-hserver.")
    ssock, s2 = os.path.join(work, "srv.sock"), os.path.join(work, "m2.sock")
    srv = mp.Server(ssock)
    d = Daemon(build, work)
    peer = None

    def case(text, breaker, key="bad_msgs", faults=0, what="counted ({key}), hung up on"):
        before = memif_stats(d, "c")
        ok = srv.accept()
        try:
            breaker()
        except (OSError, IndexError, struct.error) as e:
            ok = f"{ok} {e!r}"
        hung = srv.recv(8.0)
        while hung is not None and hung[0] != mp.DISCONNECT:
            hung = srv.recv(8.0)
        eof = srv.recv(3.0) is None
        srv.close_conn()
        time.sleep(0.2)
        after = memif_stats(d, "c")
        bad = 1 if key == "bad_msgs" else 0
        t.check(ok is True and eof and after.get(key, 0) > before.get(key, 0)
                and after.get("bad_msgs", 0) == before.get("bad_msgs", 0) + bad
                and after.get("faults", 0) == before.get("faults", 0) + faults and d.alive(),
                f"{text}: {what.format(key=key)}, the port connects again",
                f"ok {ok} eof {eof} {before} -> {after}")

    cases = 11
    t = Tap(cases + 9)
    try:
        ok = d.start() and d.hlctl("port", "add", "memif", "c", "--socket", ssock, "--role", "client",
                                   "--ring-size", "256", "--buffer-size", "1024")[0] == 0 \
            and d.hlctl("port", "add", "memif", "m2", "--socket", s2)[0] == 0
        t.check(ok, "a client port and a server port", d.log_tail())

        case("a HELLO for memif 1.0 only", lambda: srv.send(mp.m_hello(min_v=0x0100, max_v=0x0100)))
        case("a HELLO with room for one region", lambda: srv.send(mp.m_hello(max_region=0)))
        case("a HELLO of 50 bytes", lambda: srv.send(mp.m_hello()[:50]))
        case("a HELLO carrying an fd", lambda: srv.send(mp.m_hello(), [os.open("/dev/null", os.O_RDONLY)]))

        def early_connected():
            srv.send(mp.m_hello())
            srv.recv()
            srv.send(mp.msg(mp.CONNECTED))
        case("CONNECTED answering INIT", early_connected)

        def silent():
            srv.send(mp.m_hello())
        case("a server that goes silent after HELLO", silent)

        # the rings: a good handshake, then one thing broken
        def m2s_tail_past():
            assert srv.handshake()
            time.sleep(0.3)
            srv.set_tail(False, 0, srv.head(False, 0) + 5)
        case("an M2S tail past the buffers offered", m2s_tail_past, "bad_ring", 1)

        def m2s_long():
            assert srv.handshake()
            time.sleep(0.3)
            srv.set_desc(False, 0, 0, 0, 1 << 20)
            srv.set_tail(False, 0, 1)
        case("an M2S length larger than the buffer offered", m2s_long, "bad_desc", 1)

        def m2s_endless():
            assert srv.handshake()
            time.sleep(0.3)
            head = srv.head(False, 0)
            for s in range(head):
                srv.set_desc(False, 0, s, mp.DESC_NEXT, 64)
            srv.set_tail(False, 0, head)
        case("an M2S chain over every buffer offered", m2s_endless, "bad_desc", 1)

        peer = mp.Peer(s2, log2=9)
        t.check(peer.handshake(), "a memif client on the daemon's server port m2", str(wait_state(d, "m2", "up")))

        def s2m_tail_past():
            assert srv.handshake()
            time.sleep(0.3)
            srv.set_tail(True, 0, 100)
            for i in range(4):
                peer.send_frame(frame(BCAST, MAC2, i, 64))
                time.sleep(0.05)
        case("an S2M tail past what was lent", s2m_tail_past, "bad_ring", 1)
        peer.recv_frames()

        def bye():
            assert srv.handshake()
            time.sleep(0.2)
            srv.send(mp.m_disconnect(b"going away"))
        case("a DISCONNECT from the server", bye, "connects", 0, "a clean end, not counted as bad")

        # a good server: frames both ways through the switch, in its own buffers
        before_bad = memif_stats(d, "c").get("bad_msgs", 0)
        ok = srv.accept() and srv.handshake()
        time.sleep(0.3)
        st = wait_state(d, "c", "up")
        offered = {srv.desc(False, 0, k)[2] for k in range(srv.head(False, 0))} if ok else set()
        t.check(ok and st.get("state") == "up" and st.get("regions") == 2 and st.get("peer") == "pyserver"
                and srv.head(False, 0) == 256 and offered == {1024},
                "a good server: the client port is up with two regions, 256 buffers of 1024 B offered",
                f"{st} head {srv.head(False, 0) if ok else -1} lengths {offered}")
        # the server's MAC, learned on c, so m2's frames go there as known unicast
        srv.send_frame(frame(BCAST, MACS, 0, 60))
        got_s, got_p, n = [], [], 120
        for i in range(n):
            size = 60 + (i * 131) % 3800
            while not srv.send_frame(frame(MAC2, MACS, i, size)):
                got_p += peer.recv_frames()
                time.sleep(0.001)
            while not peer.send_frame(frame(MACS, MAC2, i, size)):
                got_s += srv.recv_frames()
                time.sleep(0.001)
            time.sleep(0.001)
            got_p += peer.recv_frames()
            got_s += srv.recv_frames()
        for _ in range(60):
            got_p = [f for f in got_p + peer.recv_frames() if f[:6] == MAC2]
            got_s = [f for f in got_s + srv.recv_frames() if f[:6] == MACS]
            if len(got_p) >= n and len(got_s) >= n:
                break
            time.sleep(0.05)
        s = {x["name"]: x for x in d.json("stats")["ports"]}["c"]
        t.check(len(got_p) == n and all(frame_ok(f, MAC2) for f in got_p) and len(got_s) == n
                and all(frame_ok(f, MACS) for f in got_s),
                "frames of 60..3860 bytes both ways between the server and m2's client, each intact",
                f"{len(got_p)} {len(got_s)} {s}")
        t.check(s["memif"]["rx_chained"] > 0 and s["memif"]["tx_chained"] > 0,
                "frames larger than a buffer went as chains both ways", str(s["memif"]))
        t.check(s["zcopy_packets"] > 0 and s["copy_packets"] == 0 and s["memif"]["bad_msgs"] == before_bad,
                "the switch copied none of the client port's frames", str(s))
        # idle, connected both ways: the worker sleeps with c's M2S ring unmasked, woken by its eventfd
        time.sleep(0.5)
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(2.0)
        c1 = cpu_seconds(d.proc.pid)
        mm, off, _ = srv.ring(False, 0)
        unmasked = not (struct.unpack_from("<H", mm, off + 4)[0] & mp.MASK_INT)
        srv.send_frame(frame(MAC2, MACS, 777, 200))
        os.eventfd_write(srv.rings[(False, 0)][3], 1)
        late = []
        for _ in range(40):
            late += [f for f in peer.recv_frames() if f[:6] == MAC2]
            if late:
                break
            time.sleep(0.05)
        t.check(c1 - c0 < 0.2 and unmasked and len(late) == 1 and frame_ok(late[0], MAC2),
                "idle with a server connected: no CPU to speak of, M2S unmasked, a signalled frame delivered",
                f"{c1 - c0:.2f} s CPU, unmasked {unmasked}, {late}")
        srv.close_conn()
        st = wait_state(d, "c", "connecting")
        peer.close()
        peer = None
        st = settle(d, ["c", "m2"])
        t.check(st["buffers"]["in_use"] == 0, "the server gone, every buffer lent to it is back", str(st["buffers"]))
        t.check(d.stop() == 0, "hugelinkd exits cleanly", d.log_tail())
    finally:
        code = finish(d, work, t, [p for p in (peer, srv) if p is not None])
    return code


if __name__ == "__main__":
    sys.exit(main())
