#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile memif client against a hugelinkd memif port, and a well-behaved one.

usage: test_memif_hostile.py BUILD_DIR

Two memif ports, m1 and m2. A Python client (memif_peer.py) breaks the
protocol on m1 one way at a time: messages of the wrong size, out of
order, with wrong fields or fds, regions whose file is too small, rings
past their region or without a cookie, then (once connected) heads past
the ring, descriptors outside the region, a chain that never ends, on
both the ring it sends on and the ring the switch sends on. For each:
the daemon hangs up, counts it, the port is back to listening, and the
daemon lives. Then two good clients on m1 and m2 exchange checked frames
through the switch, chained ones included, with interrupts (eventfds)
both ways, and the idle daemon's CPU is measured with both connected.
The port list survives a config file and a daemon killed with -9. At the
end no buffer is in use. Prints TAP.
"""
import json
import os
import signal
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memif_peer as mp  # noqa: E402
from memif_env import Daemon, finish, settle, wait_state  # noqa: E402
from hltap import Tap  # noqa: E402

MAC1, MAC2 = bytes.fromhex("020000000d01"), bytes.fromhex("020000000d02")
BCAST = b"\xff" * 6


def frame(dst, src, seq, size):
    hdr = dst + src + b"\x88\xb5" + struct.pack("<Q", seq)
    return hdr + bytes((seq + i) & 0xff for i in range(len(hdr), size))


def frame_ok(f, dst):
    if len(f) < 22 or f[:6] != dst:
        return False
    seq = struct.unpack_from("<Q", f, 14)[0]
    return all(f[i] == (seq + i) & 0xff for i in range(22, len(f)))


def memif_stats(d, name):
    p = {x["name"]: x for x in d.json("stats")["ports"]}.get(name, {})
    return p.get("memif", {})


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


# ---- the protocol broken, one way per case: each returns the client after its last move

def wrong_size(p):
    p.connect()
    p.send(mp.m_init()[:64])


def region_before_init(p):
    p.connect()
    p.make_region()
    p.send(mp.m_add_region(0, p.region_size), [p.mfd])


def wrong_id(p):
    p.connect()
    p.send(mp.m_init(id_=7))


def wrong_version(p):
    p.connect()
    p.send(mp.m_init(version=0x0100))


def wrong_secret(p):
    # m2 wants a secret (m1 takes any client)
    p.path = p.path.replace("m1.sock", "m2.sock")
    p.connect()
    p.send(mp.m_init(id_=3, secret=b"nope"))


def after_init(p):
    """Connected and past INIT: what a case sends next is the first thing wrong."""
    p.connect()
    p.send(mp.m_init())
    p.expect(mp.ACK)
    p.make_region()


def after_region(p):
    after_init(p)
    p.send(mp.m_add_region(0, p.region_size), [p.mfd])
    p.expect(mp.ACK)
    e = os.eventfd(0)
    p.efds.append(e)
    return e


def region_index_skips(p):
    after_init(p)
    p.send(mp.m_add_region(1, p.region_size), [p.mfd])


def region_without_fd(p):
    after_init(p)
    p.send(mp.m_add_region(0, 1 << 20))


def two_fds(p):
    after_init(p)
    e = os.eventfd(0)
    p.efds.append(e)
    p.send(mp.m_add_region(0, p.region_size), [p.mfd, e])


def ring_bad_region(p):
    p.send(mp.m_add_ring(True, 0, 3, 0, p.log2), [after_region(p)])


def ring_bad_index(p):
    p.send(mp.m_add_ring(True, 5, 0, 0, p.log2), [after_region(p)])


def ring_too_big(p):
    p.send(mp.m_add_ring(True, 0, 0, 0, 15), [after_region(p)])


def handshake_with(p, region_size=None, file_size=None, ring_offset=None, cookie=True, rings=True, extra=None,
                   seal=True, region_fd=None):
    """A handshake with one thing wrong in it."""
    p.connect()
    p.send(mp.m_init())
    p.expect(mp.ACK)
    p.make_region(size=region_size, file_size=file_size, seal=seal)
    if region_fd is not None:
        os.close(p.mfd)
        p.mfd = region_fd
    if not cookie:
        struct.pack_into("<I", p.mm, p.ring_off(False, 0), 0)
    p.send(mp.m_add_region(0, region_size or p.region_size), [p.mfd])
    if not p.expect(mp.ACK):
        return
    if rings:
        for s2m in (True, False):
            e = os.eventfd(0)
            p.efds.append(e)
            off = ring_offset if (ring_offset is not None and not s2m) else p.ring_off(s2m, 0)
            p.send(mp.m_add_ring(s2m, 0, 0, off, p.log2), [e])
            if not p.expect(mp.ACK):
                return
    if extra is not None:
        p.send(extra)
        return
    p.send(mp.m_connect())


def region_file_too_small(p):
    handshake_with(p, region_size=1 << 20, file_size=4096)


def region_eventfd(p):
    handshake_with(p, region_fd=os.eventfd(0))


def ring_past_region(p):
    handshake_with(p, ring_offset=p.region_size - 64)


def ring_without_cookie(p):
    handshake_with(p, cookie=False)


def connect_without_rings(p):
    handshake_with(p, rings=False)


def unknown_type(p):
    handshake_with(p, extra=mp.msg(42))


def connected_then_init(p):
    if p.handshake():
        p.send(mp.m_init())


def stall(p):
    p.connect()
    p.send(mp.m_init())
    p.expect(mp.ACK)
    time.sleep(0)  # then nothing: the handshake bound ends it


PROTOCOL_CASES = [
    ("a message of 64 bytes", wrong_size, 3),
    ("ADD_REGION before INIT", region_before_init, 3),
    ("INIT for an interface id the port does not have", wrong_id, 3),
    ("INIT of memif version 1.0", wrong_version, 3),
    ("INIT with a wrong secret", wrong_secret, 3),
    ("a region index that skips one", region_index_skips, 3),
    ("ADD_REGION without its fd", region_without_fd, 3),
    ("two fds on one message", two_fds, 3),
    ("a ring in a region that was never added", ring_bad_region, 3),
    ("a ring index beyond what HELLO offered", ring_bad_index, 3),
    ("a ring of 2^15 slots", ring_too_big, 3),
    ("a region announced larger than its file", region_file_too_small, 3),
    ("a region whose fd is an eventfd", region_eventfd, 3),
    ("a ring that ends past its region", ring_past_region, 3),
    ("a ring without the memif cookie", ring_without_cookie, 3),
    ("CONNECT with no rings", connect_without_rings, 3),
    ("an unknown message type", unknown_type, 3),
    ("INIT again on a connected interface", connected_then_init, 3),
    ("a handshake that stalls after INIT", stall, 8),
]


def main():
    build = os.path.abspath(sys.argv[1])
    t = Tap(len(PROTOCOL_CASES) + 24)
    work = tempfile.mkdtemp(prefix="memif-hostile.")
    s1, s2 = os.path.join(work, "m1.sock"), os.path.join(work, "m2.sock")
    cfg = os.path.join(work, "ports.json")
    with open(cfg, "w") as f:
        json.dump({"ports": [{"kind": "memif", "name": "m1", "socket": s1, "id": 0, "rings": 2, "ring_size": 256},
                             {"kind": "memif", "name": "m2", "socket": s2, "role": "server", "id": 3,
                              "secret": "s3cret", "ring_size": 512}]}, f)
    d = Daemon(build, work)
    peers = []
    try:
        ok = d.start("--config", cfg)
        ports = {p["name"]: p for p in d.json("port", "list")["ports"]} if ok else {}
        t.check(ok and ports.get("m1", {}).get("rings") == 2 and ports.get("m2", {}).get("id") == 3
                and ports["m2"].get("ring_size") == 512 and ports["m1"]["state"] == "listening",
                "memif ports from a config file, with their id, rings and ring size", f"{ports} {d.log_tail()}")

        # bad requests are refused with a reason
        bad = [d.hlctl("port", "add", "memif", "x", "--socket", "rel.sock"),
               d.hlctl("port", "add", "memif", "x", "--socket", s1),
               d.hlctl("port", "add", "memif", "x", "--socket", os.path.join(work, "x.sock"), "--ring-size", "1000"),
               d.hlctl("port", "add", "memif", "x", "--socket", os.path.join(work, "x.sock"), "--rings", "9"),
               d.hlctl("port", "add", "memif", "x", "--socket", os.path.join(work, "x.sock"), "--secret", "x" * 25)]
        t.check(all(r[0] != 0 and r[2].strip() for r in bad) and "x" not in
                [p["name"] for p in d.json("port", "list")["ports"]],
                "a relative path, a socket in use, a ring size not a power of two, too many rings, a long secret: "
                "refused with a reason", str([r[2].strip() for r in bad]))

        for text, fn, secs in PROTOCOL_CASES:
            port = "m2" if fn is wrong_secret else "m1"
            before = memif_stats(d, port).get("bad_msgs", 0)
            p = mp.Peer(s1, queues=2)
            peers.append(p)
            try:
                fn(p)
                hung = p.closed(secs)
            except OSError as e:
                hung = True if e.errno in (32, 104) else e
            p.close()
            st = wait_state(d, port, "listening")
            after = memif_stats(d, port).get("bad_msgs", 0)
            t.check(hung is True and after == before + 1 and st.get("state") == "listening" and d.alive(),
                    f"{text}: counted, hung up, the port listens again",
                    f"hung {hung} bad_msgs {before}->{after} {st.get('state')} {st.get('last_reason')}")

        # a second client while one is connected is told and closed
        good = mp.Peer(s1, queues=2)
        peers.append(good)
        ok = good.handshake()
        other = mp.Peer(s1)
        peers.append(other)
        other.connect()
        r = other.hello
        lst = wait_state(d, "m1", "up")
        t.check(ok and r is not None and r[0] == mp.DISCONNECT and other.closed() and lst.get("rejected") == 1,
                "a second client while one is connected gets DISCONNECT and is counted", f"{r} {lst}")
        t.check(lst.get("queues") == 2 and lst.get("regions") == 1 and lst.get("peer") == "pytest"
                and lst.get("peer_if") == "py0", "port list shows the client's name, queue pairs and regions",
                str(lst))
        other.close()
        good.close()
        wait_state(d, "m1", "listening")

        # ---- the data path broken: the ring the peer sends on
        def broken(breaker, **peer):
            """A client of m1 that connects, then breaker(client), and is hung up on.
            (handshake done, hung up, m1's stats before and after, m1's state once it listens again)."""
            before = memif_stats(d, "m1")
            p = mp.Peer(s1, queues=2, **peer)
            peers.append(p)
            okh = p.handshake()
            breaker(p)
            hung = p.closed(5)
            p.close()
            st = wait_state(d, "m1", "listening")
            return okh, hung, before, memif_stats(d, "m1"), st

        def data_case(text, breaker, key):
            okh, hung, before, after, st = broken(breaker)
            t.check(okh and hung and after.get(key, 0) > before.get(key, 0) and after["faults"] == before["faults"] + 1
                    and st.get("state") == "listening" and d.alive(),
                    f"{text}: counted ({key}), hung up, the port listens again", f"{okh} {hung} {before} {after}")

        def head_past(p):
            p.set_head(True, 0, p.size + 7)

        def desc_past_region(p):
            p.set_desc(True, 1, 0, 0, 0, 512, p.region_size - 100)
            p.set_head(True, 1, 1)

        def desc_bad_region(p):
            p.set_desc(True, 0, 0, 0, 9, 64, 0)
            p.set_head(True, 0, 1)

        def endless_chain(p):
            for s in range(p.size):
                p.set_desc(True, 0, s, mp.DESC_NEXT, 0, 64, p.buf_off(True, 0, s))
            p.set_head(True, 0, p.size)

        def huge_length(p):
            p.set_desc(True, 0, 0, 0, 0, 0xffffffff, 0)
            p.set_head(True, 0, 1)

        data_case("an S2M head more than a ring ahead", head_past, "bad_ring")
        data_case("an S2M descriptor ending past its region", desc_past_region, "bad_desc")
        data_case("an S2M descriptor in a region that does not exist", desc_bad_region, "bad_desc")
        data_case("an S2M chain of NEXT flags as long as the ring", endless_chain, "bad_desc")
        data_case("an S2M descriptor of 4 GiB", huge_length, "bad_desc")

        # the peer shrinks its region's file under the switch's mapping: SIGBUS on the next poll, caught
        okh, hung, before, after, st = broken(lambda p: os.ftruncate(p.mfd, 0), seal=False)
        t.check(okh and hung and d.alive() and after["faults"] == before["faults"] + 1 and st.get("state") == "listening"
                and "shrank" in st.get("last_reason", ""),
                "a region truncated under the switch's mapping: the SIGBUS is caught, the port listens again",
                f"{okh} {hung} {before} {after} {st.get('last_reason')}")

        # ---- the ring the switch sends on: a good client on m2 floods broadcasts at m1
        sender = mp.Peer(s2, id_=3, secret=b"s3cret", log2=9)
        peers.append(sender)
        t.check(sender.handshake(), "a client with the right id and secret connects to m2",
                str(wait_state(d, "m2", "up")))

        def m2s_case(text, breaker, key):
            def break_and_flood(p):
                breaker(p)
                for i in range(8):
                    sender.send_frame(frame(BCAST, MAC2, i, 64))
                    time.sleep(0.02)

            okh, hung, before, after, st = broken(break_and_flood)
            sender.recv_frames()
            t.check(okh and hung and after.get(key, 0) > before.get(key, 0) and st.get("state") == "listening",
                    f"{text}: counted ({key}), hung up, the port listens again", f"{okh} {hung} {before} {after}")

        # frames go to the M2S queue their MACs hash to: both are broken
        def m2s_head_past(p):
            for q in range(p.queues):
                p.set_head(False, q, 3 * p.size)

        def m2s_desc_past(p):
            for q in range(p.queues):
                for s in range(p.size):
                    p.set_desc(False, q, s, 0, 0, 2048, p.region_size - 16)

        m2s_case("an M2S head more than a ring ahead", m2s_head_past, "bad_ring")
        m2s_case("M2S buffers offered past the region", m2s_desc_past, "bad_desc")

        # a peer that vanishes mid-burst: frames half published, then gone
        p = mp.Peer(s1, queues=2)
        peers.append(p)
        p.handshake()
        for i in range(40):
            p.send_frame(frame(MAC2, MAC1, i, 3000), q=i % 2)
        p.close()
        st = wait_state(d, "m1", "listening")
        t.check(st.get("state") == "listening" and d.alive(), "a client that vanishes mid-burst: the port listens again",
                str(st))

        # ---- well-behaved clients: checked frames both ways, chains, interrupts
        good = mp.Peer(s1, queues=2)
        peers.append(good)
        ok = good.handshake()
        sender.recv_frames()
        wait_state(d, "m1", "up")
        time.sleep(0.3)  # the worker is asleep now, with the S2M rings unmasked
        armed = not (good.flags(True, 0) & mp.MASK_INT)
        got1, got2, n = [], [], 200
        for i in range(n):
            size = 60 + (i * 97) % 4000
            while not good.send_frame(frame(MAC2, MAC1, i, size), q=i % 2, seg=1024):
                got2 += sender.recv_frames()
            while not sender.send_frame(frame(MAC1, MAC2, i, size)):
                got1 += good.recv_frames(0) + good.recv_frames(1)
            # the switch drops what a full M2S ring cannot take: keep both drained
            time.sleep(0.001)
            got1 += good.recv_frames(0) + good.recv_frames(1)
            got2 += sender.recv_frames()
        for _ in range(50):
            got1 += good.recv_frames(0) + good.recv_frames(1)
            got2 += sender.recv_frames()
            if len(got1) >= n and len(got2) >= n:
                break
            time.sleep(0.05)
        st = memif_stats(d, "m1")
        t.check(ok and len(got1) == n and all(frame_ok(f, MAC1) for f in got1) and len(got2) == n
                and all(frame_ok(f, MAC2) for f in got2),
                "frames of 60..4060 bytes both ways between two memif clients, each one intact",
                f"{len(got1)} {len(got2)} {st}")
        t.check(st.get("rx_chained", 0) > 0 and st.get("tx_chained", 0) > 0,
                "frames larger than a buffer went as chains both ways", str(st))
        kicked = 0
        for q in range(good.queues):
            try:
                kicked += os.eventfd_read(good.eventfd(False, q))
            except BlockingIOError:
                pass
        t.check(armed and kicked > 0 and st.get("tx_kicks", 0) > 0,
                "interrupt mode: an idle worker unmasks S2M rings; a client that leaves M2S unmasked is signalled",
                f"armed {armed} kicked {kicked} {st}")

        # idle with both clients connected: the worker sleeps on the eventfds
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(2.0)
        c1 = cpu_seconds(d.proc.pid)
        t.check(c1 - c0 < 0.2, "an idle daemon with two memif clients connected uses no CPU to speak of",
                f"{c1 - c0:.2f} s of CPU in 2 s")
        # a frame sent after the idle spell still arrives: the eventfd woke the worker
        good.send_frame(frame(MAC2, MAC1, 999, 100))
        late = []
        for _ in range(40):
            late += sender.recv_frames()
            if late:
                break
            time.sleep(0.05)
        t.check(len(late) == 1 and frame_ok(late[0], MAC2), "a frame after the idle spell is delivered", str(late))

        # the daemon killed with -9 comes back with the same memif ports from its saved list
        good.close()
        sender.close()
        d.stop(signal.SIGKILL)
        time.sleep(0.3)
        ok = d.start()
        ports = {p["name"]: p for p in d.json("port", "list")["ports"]} if ok else {}
        t.check(ports.get("m2", {}).get("id") == 3 and ports.get("m1", {}).get("rings") == 2
                and ports["m1"]["state"] == "listening", "after kill -9 the saved list brings the memif ports back",
                str(ports))
        again = mp.Peer(s2, id_=3, secret=b"s3cret")
        peers.append(again)
        t.check(again.handshake(), "and a client connects to the restarted daemon", d.log_tail())
        again.close()
        st = settle(d, ["m1", "m2"])
        t.check(st["buffers"]["in_use"] == 0, "no buffer is in use at the end", str(st["buffers"]))
        rc, _, err = d.hlctl("port", "del", "m1")
        t.check(rc == 0 and not os.path.exists(s1), "deleting a memif port removes its socket", err)
        t.check(d.stop() == 0, "hugelinkd exits cleanly", d.log_tail())
    finally:
        code = finish(d, work, t, peers)
    return code


if __name__ == "__main__":
    sys.exit(main())
