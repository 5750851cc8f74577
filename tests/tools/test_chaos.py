#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd killed with SIGKILL at random moments under traffic, 20 times.

usage: test_chaos.py BUILD_DIR [KILLS]

Two shm peers (hlshm, one process each, sending checked frames to each
other for the whole run) and two vhost endpoints (hltraffic, one process
with both, started anew in every round: a vhost-user front-end does not
outlive its back-end's socket) run through hugelinkd while it is killed
with SIGKILL at a random moment (0.05-1.2 s after it answered), and in
about a third of the rounds once more 0.01-0.5 s into its next start-up
(pool take-over, shm recovery, ports re-created). After each restart
the daemon must take its pool over, re-create its ports and pass traffic
again: both shm ports and both vhost ports move frames, and no receiver
ever counts a corrupted frame. At the end, with the peers still attached
and again after they stopped, the switch's buffers in use must equal the
buffers its shm peers hold, exactly: 20 kills lose none.
Prints TAP, plan first. The random moments come from a seed printed first.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Tap  # noqa: E402

KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
MAC = {"s1": "02:00:00:00:0c:01", "s2": "02:00:00:00:0c:02", "v1": "02:00:00:00:0c:11", "v2": "02:00:00:00:0c:12"}


class Chaos:
    def __init__(self, build, work):
        self.build, self.work = build, work
        self.name = f"sturdy-chaos-{os.getpid()}"
        self.ctl = os.path.join(work, "ctl.sock")
        self.log = os.path.join(work, "hugelinkd.log")
        self.record = os.path.join(work, f"{self.name}.meta")
        self.proc = None

    def tool(self, name):
        return os.path.join(self.build, "tools", name)

    def hlctl(self, *args, timeout=20):
        r = subprocess.run([self.tool("hlctl"), "--ctl", self.ctl, *args], capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def stats(self):
        rc, out, err = self.hlctl("stats", "--json")
        return json.loads(out) if rc == 0 else None

    def start(self, wait=True):
        """Start hugelinkd; True once it answers (it re-creates its ports and takes its pool over itself)."""
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.tool("hugelinkd"), "--foreground", "--ctl", self.ctl, "--run-dir", self.work, "--pool-mb", "64",
                 "--buffers", "4096", "--name", self.name], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(400 if wait else 0):
            if self.proc.poll() is not None:
                return False
            if self.hlctl("ping", timeout=5)[0] == 0:
                return True
            time.sleep(0.025)
        return not wait

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)
        self.proc = None

    def log_tail(self, n=8):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def stop(p, sig=signal.SIGTERM, timeout=15):
    """Stop a tool and return its last JSON line (or {})."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    lines = [l for l in (out or "").splitlines() if l.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def vhost_endpoints(c):
    return subprocess.Popen([c.tool("hltraffic"), "--seconds", "60", "--run-dir", c.work, "--pool-mb", "32",
                             "--size", "256",
                             "--endpoint", f"{os.path.join(c.work, 'v1.sock')},{MAC['v1']},{MAC['v2']}",
                             "--endpoint", f"{os.path.join(c.work, 'v2.sock')},{MAC['v2']},{MAC['v1']}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def moving(c, names, secs=5.0):
    """Wait until every named port has received frames since the daemon started; the stats then, or None."""
    t = time.time()
    while time.time() - t < secs:
        st = c.stats()
        if st is not None:
            ports = {p["name"]: p for p in st["ports"]}
            if all(ports.get(n, {}).get("rx_packets", 0) > 0 for n in names):
                return st
        time.sleep(0.1)
    return None


def books(c, secs=5.0):
    """Buffers in use against what the shm peers hold, once they agree (or the last pair seen)."""
    t = time.time()
    pair = (-1, -2)
    while time.time() - t < secs:
        st = c.stats()
        if st is not None:
            held = sum(p.get("peer_held", 0) for p in st["ports"] if p["kind"] == "shm")
            pair = (st["buffers"]["in_use"], held)
            if pair[0] == pair[1]:
                break
        time.sleep(0.1)
    return pair


def main():
    build = os.path.abspath(sys.argv[1])
    seed = int(os.environ.get("HL_CHAOS_SEED", int(time.time())))
    rnd = random.Random(seed)
    t = Tap(1 + KILLS + 4)
    t.diag(f"seed {seed} (HL_CHAOS_SEED repeats a run)")
    work = tempfile.mkdtemp(prefix="hl-chaos.")
    c = Chaos(build, work)
    peers, ep = [], None
    try:
        ok = c.start()
        for n in ("v1", "v2"):
            ok = ok and c.hlctl("port", "add", "vhost", n, "--server", os.path.join(work, n + ".sock"))[0] == 0
        for n in ("s1", "s2"):
            ok = ok and c.hlctl("port", "add", "shm", n)[0] == 0
        if ok:
            for me, other in (("s1", "s2"), ("s2", "s1")):
                peers.append(subprocess.Popen([c.tool("hlshm"), "--record", c.record, "--port", me, "--mac", MAC[me],
                                               "--peer", MAC[other], "--seconds", "600", "--size", "512"],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            ep = vhost_endpoints(c)
        ok = ok and moving(c, ["s1", "s2", "v1", "v2"]) is not None
        if not t.check(ok, "hugelinkd with two vhost endpoints and two shm peers passes traffic", c.log_tail()):
            return t.exit_code()

        started = time.time()
        bad = early = 0
        for k in range(KILLS):
            time.sleep(rnd.uniform(0.05, 1.2))
            c.kill()
            r = stop(ep)
            bad += r.get("rx_bad", 0)
            if rnd.random() < 0.3:
                # and once more in the middle of its start-up: pool take-over, recovery, port re-creation
                c.start(wait=False)
                time.sleep(rnd.uniform(0.01, 0.5))
                c.kill()
                early += 1
            up = c.start()
            ep = vhost_endpoints(c) if up else None
            st = moving(c, ["s1", "s2", "v1", "v2"]) if up else None
            alive = all(p.poll() is None for p in peers)
            t.check(up and st is not None and alive and bad == 0,
                    f"kill {k + 1}: hugelinkd back, traffic on both shm and both vhost ports again",
                    f"up {up}, moving {st is not None}, peers alive {alive}, bad frames {bad}; {c.log_tail()}")
        t.diag(f"{KILLS} kills under traffic and {early} more during start-up in {time.time() - started:.1f} s")

        r = stop(ep)
        ep = None
        bad += r.get("rx_bad", 0)
        in_use, held = books(c)
        t.check(in_use == held and held > 0, "peers attached: buffers in use equal the buffers the shm peers hold",
                f"in use {in_use}, held {held}")
        res = [stop(p) for p in peers]
        peers = []
        t.check(all(r.get("rx_packets", 0) > 0 and r.get("rx_bad", 1) == 0 for r in res) and bad == 0,
                "the shm peers and vhost endpoints received frames through every restart, none corrupted",
                f"{res}, vhost bad {bad}")
        in_use, held = books(c)
        t.check(in_use == held, "peers gone: buffers in use equal what the owner tables give the ports",
                f"in use {in_use}, held {held}")
        c.proc.send_signal(signal.SIGTERM)
        rc = c.proc.wait(20)
        c.proc = None
        t.check(rc == 0, "hugelinkd stops cleanly after it all", c.log_tail())
    finally:
        for p in peers + ([ep] if ep else []):
            if p.poll() is None:
                p.kill()
        if c.proc is not None:
            c.proc.kill()
            c.proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
