#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""DPDK testpmd's virtio-user with four queue pairs on a hugelinkd vhost port with --queues 4.

usage: test_mq_testpmd.py BUILD_DIR

hugelinkd runs two workers with a multiqueue vhost port (--queues 4,
zero-copy on) and a TAP port. testpmd (net_virtio_user, queues=4,
--rxq=4 --txq=4) forwards in macswap mode: what it receives on queue k it
sends back on queue k. This test writes UDP frames of 64 flows into the
TAP interface (AF_PACKET), addressed to testpmd: the switch spreads them
over testpmd's receive queues by flow, testpmd sends each back on the
same queue pair, and the frames come out of the TAP again, where their
content is checked. Then: frames were seen on more than one queue pair
both ways, the per-pair counters add up to the port's totals and equal
testpmd's own per-queue counters, one flow stays on one queue, and when
testpmd stops every buffer is back. While the frames flow, `hlctl port
set --worker-map` moves pairs to other workers (stats and the log say so,
nothing is lost, bad maps are refused), and after a kill -9 the restarted
daemon has the same map, and frames make the round trip on it again.
Prints TAP.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
for d in ("harness", "tools", "memif"):
    sys.path.insert(0, os.path.join(HERE, "..", d))
from hltap import Tap, bail  # noqa: E402
from memif_env import TESTPMD, Testpmd, finish  # noqa: E402
from test_hugelinkd import Daemon, settle  # noqa: E402

A, B = "02:00:00:00:6d:01", "02:00:00:00:6d:02"  # our end behind the TAP, testpmd
PAIRS, FLOWS, SIZE = 4, 64, 200
ETH_P_ALL, PACKET_OUTGOING = 0x0003, 4


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def frame(flow, seq):
    """IPv4/UDP from A to B; the source port is the flow, the payload says (flow, seq)."""
    payload = struct.pack("!4sHI", b"mqtp", flow, seq)
    payload += bytes((seq + i) & 0xff for i in range(SIZE - 14 - 20 - 8 - len(payload)))
    udp = struct.pack("!HHHH", 1000 + flow, 5000, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload), 0, 0, 64, 17, 0,
                     bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2]))
    return mac(B) + mac(A) + b"\x08\x00" + ip + udp + payload


def parse(data):
    """(flow, seq) of one of our frames back from testpmd (MACs swapped, the rest intact), else None."""
    if len(data) < SIZE or data[0:6] != mac(A) or data[6:12] != mac(B) or data[42:46] != b"mqtp":
        return None
    flow, seq = struct.unpack("!HI", data[46:52])
    if data[:SIZE] != mac(A) + mac(B) + frame(flow, seq)[12:]:
        return None
    return flow, seq


class Wire:
    """Our end of the TAP interface: frames in, frames out, ours told apart."""

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: every frame back waits for us
        self.s.bind((ifname, 0))
        self.s.settimeout(0.05)
        self.ifname = ifname
        self.got, self.bad = {}, 0

    def send(self, flows, rounds, seq0=0):
        seq = seq0
        for _ in range(rounds):
            for f in flows:
                self.s.send(frame(f, seq))
                seq += 1
            self.drain(0.004)  # and the TAP queue is a thousand frames: no burst the switch could miss
        return seq - seq0

    def drain(self, quiet=1.0):
        """Read until nothing came for `quiet` seconds."""
        last = time.time()
        while time.time() - last < quiet:
            try:
                data, addr = self.s.recvfrom(65536)
            except socket.timeout:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            if data[0:6] != mac(A):
                continue  # not for us (the kernel's own, flooded)
            last = time.time()
            r = parse(data)
            if r is None:
                self.bad += 1
            else:
                self.got[r] = self.got.get(r, 0) + 1

    def close(self):
        self.s.close()


def stats(d, name):
    return {p["name"]: p for p in d.json("stats")["ports"]}.get(name, {})


def queues(d):
    return queues_of(d, "mq")


def wait_enabled(d, n, secs=20.0):
    t = time.time()
    while time.time() - t < secs:
        q = queues(d)
        if sum(1 for x in q if x.get("enabled")) == n:
            return q
        time.sleep(0.2)
    return queues(d)


def streams(text):
    """testpmd's closing per-stream counters: {queue: (rx, tx)} for its RX Port 0/Queue q streams."""
    out = {}
    for m in re.finditer(r"Forward Stats for RX Port=\s*0/Queue=\s*(\d+) -> TX Port=\s*0/Queue=\s*\d+\s*-+\s*"
                         r"RX-packets:\s*(\d+)\s+TX-packets:\s*(\d+)", text):
        out[int(m[1])] = (int(m[2]), int(m[3]))
    return out


def config(t, build, work):
    """--config with "queues": taken, and refused out of range."""
    for n, good in ((3, True), (17, False)):
        cfg = os.path.join(work, f"cfg{n}.json")
        with open(cfg, "w") as f:
            json.dump({"ports": [{"kind": "vhost", "name": "c", "path": os.path.join(work, f"c{n}.sock"),
                                  "mode": "server", "queues": n}]}, f)
        d = Daemon(build, os.path.join(work, f"d{n}"), "--config", cfg, "--name", f"mq-cfg-{os.getpid()}")
        os.makedirs(d.work, exist_ok=True)
        ok = d.start()
        if good:
            q = queues_of(d, "c")
            t.check(ok and len(q) == 3 and not any(x["enabled"] for x in q),
                    "a --config port with \"queues\": 3 has three pairs, none enabled yet", f"{q} {d.log_tail(3)}")
            d.stop()
        else:
            t.check(not ok and "queues" in d.log_tail(5), "and \"queues\": 17 is refused, saying why",
                    d.log_tail(5))
            if d.proc is not None and d.proc.poll() is None:
                d.stop()


def worker_map(t, d, wire):
    """Pairs moved to other workers while frames flow through them; bad maps refused."""
    done = []
    mover = threading.Thread(target=lambda: (time.sleep(0.05),
                                             done.append(d.hlctl("port", "set", "mq", "--worker-map", "1,1,0,0"))))
    q0 = queues(d)
    mover.start()
    sent = wire.send(range(FLOWS), 25, seq0=200000)
    mover.join()
    wire.drain()
    back = sum(c for (f, s), c in wire.got.items() if s >= 200000)
    q = queues(d)
    t.check(done and done[0][0] == 0 and [x["worker"] for x in q] == [1, 1, 0, 0],
            "hlctl port set --worker-map 1,1,0,0 moves the pairs while frames flow, and stats show it",
            f"{done} {q}")
    t.check(back >= sent * 0.95 and wire.bad == 0
            and all(x["rx_drops"] == y["rx_drops"] and x["tx_drops"] == y["tx_drops"] for x, y in zip(q, q0)),
            f"the {sent} frames sent meanwhile make the round trip, no pair dropped one", f"back {back} {q}")
    with open(d.log) as f:
        log = f.read()
    # where each pair started depends on when the guest enabled it: the lines follow from that
    want = [1, 1, 0, 0]
    moved = [f"port mq: receive queue {i} moved from worker {x['worker']} to worker {want[i]}"
             for i, x in enumerate(q0) if x["worker"] != want[i]]
    stayed = [f"port mq: receive queue {i} moved" for i, x in enumerate(q0) if x["worker"] == want[i]]
    t.check(moved and all(m in log for m in moved) and not any(m in log for m in stayed),
            "each pair that moved has its log line, and only those",
            f"from {[x['worker'] for x in q0]}: " + d.log_tail(6))
    bad = [d.hlctl("port", "set", "mq", "--worker-map", "2"), d.hlctl("port", "set", "mq", "--worker-map", "0,0,0,0,0"),
           d.hlctl("port", "set", "nope", "--worker-map", "0"), d.hlctl("port", "set", "t", "--worker-map", "0"),
           d.hlctl("port", "set", "mq", "--worker-map", "x")]
    t.check([b[0] for b in bad] == [1, 1, 1, 1, 2] and "worker 2" in bad[0][2] and "5 entries" in bad[1][2]
            and "no port nope" in bad[2][2] and "no queue pairs" in bad[3][2]
            and [x["worker"] for x in queues(d)] == [1, 1, 0, 0],
            "a worker it does not run, more entries than pairs, no such port, a TAP port are refused; nothing moved",
            str(bad))
    rc, text, _ = d.hlctl("stats")
    t.check(rc == 0 and "queues mq: pair 0 enabled worker 1 " in text and "queues mq: pair 3 enabled worker 0 " in text,
            "hlctl stats prints the new workers", text[-600:])


def map_after_kill(t, d, work, sock, ifname):
    """kill -9 and a new daemon: the pairs are where the map put them, and frames flow on them again."""
    d.stop(signal.SIGKILL)
    time.sleep(0.5)
    ok = d.start()
    q = queues(d)
    lst = {p["name"]: p for p in d.json("port", "list")["ports"]} if ok else {}
    t.check(ok and [x["worker"] for x in q] == [1, 1, 0, 0] and lst.get("mq", {}).get("worker_map") == [1, 1, 0, 0],
            "after kill -9 the restarted daemon has the worker map back", f"{q} {lst.get('mq')} {d.log_tail()}")
    with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
        f.write("1")
    subprocess.run(["ip", "link", "set", "dev", ifname, "up"], check=True)
    wire = Wire(ifname)
    vdev = f"net_virtio_user0,path={sock},queues={PAIRS},mac={B}"
    pmd = Testpmd(work, "mq2", [vdev], fwd="macswap", extra_eal=["--no-huge", "-m", "512"],
                  extra=[f"--rxq={PAIRS}", f"--txq={PAIRS}"]).start()
    try:
        wait_enabled(d, PAIRS)
        pmd.wait_for(r"Press enter|Start automatic packet forwarding", 10)
        sent = wire.send(range(FLOWS), 10, seq0=300000)
        wire.drain()
        back = sum(c for (f, s), c in wire.got.items() if s >= 300000)
        q = queues(d)
        t.check(back >= sent * 0.95 and wire.bad == 0 and sum(1 for x in q if x["rx_packets"] > 0) >= 2
                and [x["worker"] for x in q] == [1, 1, 0, 0],
                "and frames make the round trip through testpmd again on those workers", f"back {back}/{sent} {q}")
    finally:
        pmd.stop()
    rc, _, err = d.hlctl("port", "set", "mq", "--worker-map", "auto")
    q = queues(d)
    lst = {p["name"]: p for p in d.json("port", "list")["ports"]}
    # the TAP port polled by worker 0: the least loaded is worker 1, and the pairs alternate from there
    t.check(rc == 0 and [x["worker"] for x in q] == [1, 0, 1, 0] and lst["mq"].get("worker_map") == "auto",
            "--worker-map auto gives the pairs back to the least loaded workers in turn", f"{err} {q} {lst['mq']}")
    st = settle(d, ["mq", "t"])
    t.check(st["buffers"]["in_use"] == 0, "every buffer is back after the moves and the restart", str(st["buffers"]))
    return wire


def queues_of(d, name):
    return {p["name"]: p for p in d.json("stats")["ports"]}.get(name, {}).get("queues", [])


def main():
    build = os.path.abspath(sys.argv[1])
    # the move log lines are checked: the daemons log at info whatever the runner's $HL_LOG
    os.environ["HL_LOG"] = "info"
    if os.geteuid() != 0:
        bail("needs root (a TAP interface)")
    if not os.access(TESTPMD, os.X_OK):
        bail(f"{TESTPMD} is missing: scripts/setup-host.sh installs dpdk")
    t = Tap(34)
    work = tempfile.mkdtemp(prefix="mq-testpmd.")
    sock = os.path.join(work, "mq.sock")
    ifname = f"mq{os.getpid() % 100000}"
    d = Daemon(build, work, "--workers", "2", "--name", f"mq-test-{os.getpid()}")
    pmd, wire = None, None
    try:
        ok = d.start()
        rc, _, err = d.hlctl("port", "add", "vhost", "mq", "--server", sock, "--queues", str(PAIRS), "--zcopy", "on")
        rc2, _, err2 = d.hlctl("port", "add", "tap", "t", "--ifname", ifname)
        t.check(ok and rc == 0 and rc2 == 0, "hugelinkd with two workers, a vhost port with --queues 4 and a TAP port",
                f"{err} {err2} {d.log_tail()}")
        bad = d.hlctl("port", "add", "vhost", "mq2", "--server", sock + "2", "--queues", "17")
        t.check(bad[0] == 2, "--queues 17 is refused (1..16)", str(bad))
        lst = {p["name"]: p for p in d.json("port", "list")["ports"]}
        t.check(lst.get("mq", {}).get("queues") == PAIRS and lst.get("t", {}).get("kind") == "tap",
                "port list shows the port's queue pairs", str(lst.get("mq")))
        with open(os.path.join(work, "hugelinkd.ports")) as f:
            saved = {p["name"]: p for p in json.load(f)["ports"]}
        t.check(saved.get("mq", {}).get("queues") == PAIRS, "the saved port list keeps \"queues\"", str(saved))
        rc, qa, err = d.hlctl("qemu-args", "mq")
        t.check(rc == 0 and f"queues={PAIRS}" in qa and f"mq=on,vectors={2 * PAIRS + 2}" in qa,
                "qemu-args asks QEMU for 4 queue pairs, mq=on and 2N+2 vectors", qa + err)

        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("1")  # no router solicitations of its own among our frames
        subprocess.run(["ip", "link", "set", "dev", ifname, "up"], check=True)
        wire = Wire(ifname)

        vdev = f"net_virtio_user0,path={sock},queues={PAIRS},mac={B}"
        pmd = Testpmd(work, "mq", [vdev], fwd="macswap", extra_eal=["--no-huge", "-m", "512"],
                      extra=[f"--rxq={PAIRS}", f"--txq={PAIRS}"]).start()
        q = wait_enabled(d, PAIRS)
        st = stats(d, "mq")
        t.check(len(q) == PAIRS and all(x.get("enabled") for x in q) and st.get("state") == "up",
                "testpmd connects and enables all four queue pairs", f"{q} {st.get('state')} {pmd.tail()}")
        pmd.wait_for(r"Press enter|Start automatic packet forwarding", 10)
        t.check([x.get("worker") for x in q] == [0, 1, 0, 1],
                "the four pairs are polled by the two workers in turn", str(q))

        # 64 flows through the TAP into testpmd and back
        q0 = queues(d)  # (what the kernel sent when the TAP came up, before testpmd was there, is not ours)
        sent = wire.send(range(FLOWS), 25)
        wire.drain()
        back = sum(wire.got.values())
        t.check(back >= sent * 0.95 and wire.bad == 0,
                f"{sent} frames of {FLOWS} flows make the round trip through testpmd's queues, every byte checked",
                f"back {back} bad {wire.bad}")
        t.check(all(c == 1 for c in wire.got.values()), "no frame came back twice",
                str([k for k, c in wire.got.items() if c != 1][:5]))
        q = queues(d)
        rxq = [x["rx_packets"] for x in q]
        txq = [x["tx_packets"] for x in q]
        t.check(sum(1 for n in txq if n > 0) >= 2, "the switch sent into more than one of testpmd's receive queues",
                str(txq))
        t.check(sum(1 for n in rxq if n > 0) >= 2, "and received from more than one of its transmit queues",
                str(rxq))
        rc, text, _ = d.hlctl("stats")
        t.check(rc == 0 and all(f"queues mq: pair {k} enabled worker {k % 2} rx={rxq[k]} " in text
                                for k in range(PAIRS)),
                "hlctl stats has a line per queue pair", text)
        rc, prom, _ = d.hlctl("stats", "--prometheus")
        t.check(rc == 0 and all(f'hugelink_queue_pair_packets_total{{port="mq",pair="{k}",direction="to_guest"}} '
                                f'{txq[k]}\n' in prom for k in range(PAIRS)),
                "the metrics count each pair too", prom[-800:])
        t.check(all(x["rx_drops"] == y["rx_drops"] and x["tx_drops"] == y["tx_drops"] for x, y in zip(q, q0)),
                "no queue pair dropped a frame", f"{q0} {q}")
        st = settle(d, ["mq", "t"])
        p = {x["name"]: x for x in st["ports"]}["mq"]
        t.check(sum(x["rx_packets"] for x in p["queues"]) == p["rx_packets"] - p["rarps"]
                and sum(x["tx_packets"] for x in p["queues"]) == p["tx_packets"]
                and sum(x["rx_bytes"] for x in p["queues"]) == p["rx_bytes"],
                "the pairs' counters add up to the port's totals", json.dumps(p)[:600])
        t.check(p["zcopy_packets"] > 0 and p["errors"] == 0,
                "testpmd's frames were taken zero-copy, and it tripped no check", f"{p['zcopy_packets']} {p['errors']}")

        # one flow, one queue
        before = [x["tx_packets"] for x in queues(d)]
        wire.send([7], 100, seq0=100000)
        wire.drain(0.5)
        after = [x["tx_packets"] for x in queues(d)]
        moved = [a - b for a, b in zip(after, before)]
        t.check(sum(1 for m in moved if m > 0) == 1 and sum(moved) >= 95,
                "the 100 frames of one flow all went to one receive queue, in order", str(moved))
        seqs = [s for (f, s) in wire.got if f == 7 and s >= 100000]
        t.check(len(seqs) >= 95, "and came back", str(len(seqs)))
        worker_map(t, d, wire)

        # testpmd's counters against the switch's, per queue
        pmd.stop()
        text = pmd.text()
        pmd = None
        st = settle(d, ["mq", "t"])
        p = {x["name"]: x for x in st["ports"]}["mq"]
        m = re.search(r"Accumulated forward statistics.*?RX-packets:\s*(\d+).*?TX-packets:\s*(\d+)", text, re.S)
        rx, tx = (int(m[1]), int(m[2])) if m else (-1, -1)
        t.check(rx == p["tx_packets"] and tx == p["rx_packets"] - p["rarps"],
                "testpmd received what the switch sent it, and sent what the switch took",
                f"testpmd rx {rx} tx {tx}, switch tx {p['tx_packets']} rx {p['rx_packets']}")
        s = streams(text)
        per = [(x["tx_packets"], x["rx_packets"]) for x in p["queues"]]
        t.check(len(s) == PAIRS and all(s.get(k) == per[k] for k in range(PAIRS)),
                "and each of its four queues agrees with the switch's pair", f"testpmd {s} switch {per}")
        q = wait_enabled(d, 0)
        t.check(all(not x["enabled"] for x in q), "testpmd gone: no pair is enabled", str(q))
        t.check(st["buffers"]["in_use"] == 0, "every buffer is back (pinned chains returned when testpmd stopped)",
                str(st["buffers"]))
        wire.close()
        wire = None
        wire = map_after_kill(t, d, work, sock, ifname)
        wire.close()
        wire = None
        rc = d.stop()
        t.check(rc == 0 and not os.path.exists(sock), "hugelinkd stops cleanly", f"rc {rc}")
        config(t, build, work)
    finally:
        if wire is not None:
            wire.close()
        if pmd is not None:
            pmd.stop(9)
    return finish(d, work, t)


if __name__ == "__main__":
    sys.exit(main())
