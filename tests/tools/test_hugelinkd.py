#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd end to end: control requests, forwarding, learning, aging, TAP, restarts.

usage: test_hugelinkd.py BUILD_DIR

Runs the real daemon (BUILD_DIR/tools/hugelinkd) on a private control socket
and run directory, drives it with hlctl, and puts traffic through it with
hltraffic endpoints (virtio-net devices in user space on its vhost ports).
Prints TAP.
"""
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Tap  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hldaemon import endpoint, result  # noqa: E402

MAC = ["02:00:00:00:00:%02x" % i for i in range(1, 5)]
AGING_S = 5
# checks each part makes, so the plan goes first: a daemon that does not start fails all of them
PLAN = {"bad_requests": 20, "forwarding": 10, "idle_and_aging": 3, "tap_port": 4, "main": 18}


class Daemon:
    def __init__(self, build, work, *extra):
        self.build, self.work = build, work
        self.ctl = os.path.join(work, "ctl", "hugelinkd.sock")
        self.log = os.path.join(work, "hugelinkd.log")
        self.extra = list(extra)
        self.proc = None

    def start(self, *more):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.build, "tools/hugelinkd"), "--foreground", "--ctl", self.ctl, "--run-dir",
                 self.work, "--pool-mb", "64", "--buffers", "4096", "--name", f"hld-test-{os.getpid()}",
                 *self.extra, *more], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.proc.poll() is not None:
                return False
            if self.hlctl("ping")[0] == 0:
                return True
            time.sleep(0.05)
        return False

    def hlctl(self, *args, timeout=20):
        r = subprocess.run([os.path.join(self.build, "tools/hlctl"), "--ctl", self.ctl, *args],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def json(self, *args):
        rc, out, err = self.hlctl(*args, "--json")
        if rc != 0:
            raise RuntimeError(f"hlctl {' '.join(args)}: {err}")
        return json.loads(out)

    def port(self, name):
        for p in self.json("stats")["ports"]:
            if p["name"] == name:
                return p
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.hlctl("ping")[0] == 0

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def log_tail(self, n=15):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def settle(d, names, secs=3.0):
    """Wait until the switch holds no buffers and its counters stop moving."""
    last = None
    t = time.time()
    while time.time() - t < secs:
        st = d.json("stats")
        now = [(p["rx_packets"], p["tx_packets"]) for p in st["ports"] if p["name"] in names]
        if now == last and st["buffers"]["in_use"] == 0:
            return st
        last = now
        time.sleep(0.2)
    return d.json("stats")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bad_requests(t, d, work):
    sock = os.path.join(work, "a.sock")
    cases = [
        (["raw", "{not json"], "bad JSON"),
        (["raw", "{\"nocmd\":1}"], "cmd"),
        (["raw", "{\"cmd\":\"frobnicate\"}"], "unknown command"),
        (["raw", "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"x\",\"path\":\"rel.sock\",\"mode\":\"server\"}"],
         "absolute"),
        (["raw", "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"x\",\"path\":\"/tmp/x.sock\",\"mode\":\"sideways\"}"],
         "mode"),
        (["raw", "{\"cmd\":\"port-add\",\"kind\":\"warp\",\"name\":\"x\"}"], "unknown port kind"),
        (["raw", "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"bad/name\",\"path\":\"/tmp/y.sock\",\"mode\":\"server\"}"],
         "port name"),
        (["raw", "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":7}"], "name"),
        (["port", "del", "nosuchport"], "no port"),
        (["qemu-args", "nosuchport"], "no port"),
        (["port", "reset", "nosuchport"], "no port"),
    ]
    for args, want in cases:
        rc, out, err = d.hlctl(*args)
        t.check(rc == 1 and want.lower() in (err + out).lower(), f"bad request {args[-1][:60]!r} refused ({want})",
                f"rc {rc}, {err.strip()} {out.strip()}")
    rc, _, err = d.hlctl("port", "add", "vhost", "a", "--server", sock)
    t.check(rc == 0, "port a added", err)
    rc, _, err = d.hlctl("port", "reset", "a")
    t.check(rc == 1 and "cannot be reset" in err, "a vhost port cannot be reset", err)
    rc, _, err = d.hlctl("port", "add", "vhost", "a", "--server", os.path.join(work, "other.sock"))
    t.check(rc == 1 and "exists" in err, "a duplicate port name is refused", err)
    rc, _, err = d.hlctl("port", "add", "vhost", "b", "--server", sock)
    t.check(rc == 1 and "used" in err, "a socket path already in use is refused", err)
    rc, _, err = d.hlctl("port", "add", "vhost", "c", "--server", sock + "x", "--zcopy", "on")
    t.check(rc == 0, "port with --zcopy on added", err)
    big = "{\"cmd\":\"ping\",\"pad\":\"" + "x" * 70000 + "\"}"
    rc, out, err = d.hlctl("raw", big)
    t.check(rc != 0, "an oversized request is refused", f"rc {rc}")
    for n in ("a", "c"):
        d.hlctl("port", "del", n)
    t.check(d.alive(), "the daemon still answers after every bad request", d.log_tail())
    ctl = d.json("stats").get("control", {})
    # 11 refused by the daemon, 2 by hlctl's own checks never sent, the duplicate, the path in use, the oversized one
    t.check(ctl.get("refused", 0) >= len(cases) + 3 and ctl.get("too_large", 0) == 1
            and ctl.get("bad_requests", 0) >= 2 and ctl.get("requests", 0) > ctl.get("refused", 0),
            "stats count the refused control requests", str(ctl))
    t.check(not os.path.exists(sock), "deleting a server port removes its socket file")


def forwarding(t, d, build, work):
    s = [os.path.join(work, f"vm{i}.sock") for i in (1, 2, 3)]
    for i in range(3):
        d.hlctl("port", "add", "vhost", f"vm{i + 1}", "--server", s[i])
    ports = {p["name"]: p for p in d.json("port", "list")["ports"]}
    t.check(sorted(ports) == ["vm1", "vm2", "vm3"] and all(p["mode"] == "server" for p in ports.values()),
            "port list shows the three vhost ports in server mode", str(ports))

    # 1: vm2 never speaks, so frames for it are flooded: vm3 sees them too
    e2 = endpoint(build, work, s[1], MAC[1], None, 2.5)
    e3 = endpoint(build, work, s[2], MAC[2], None, 2.5)
    time.sleep(0.3)
    e1 = endpoint(build, work, s[0], MAC[0], MAC[1], 1.5)
    r1, r2, r3 = result(e1), result(e2), result(e3)
    ok = r1[0] == 0 and r2[0] == 0 and r3[0] == 0
    t.check(ok and r1[1]["tx_packets"] > 1000, "endpoints ran (vm1 sending to an unknown MAC)",
            f"{r1} {r2} {r3}")
    st = settle(d, ["vm1", "vm2", "vm3"])
    t.check(r2[1].get("rx_packets", 0) > 0 and r2[1].get("rx_bad", 1) == 0,
            "unknown unicast reached its owner with every payload intact", str(r2[1]))
    t.check(r3[1].get("rx_other", 0) > 0, "unknown unicast was flooded to the third port", str(r3[1]))

    # 2: vm2 speaks first; from then on frames for it are not flooded
    e2 = endpoint(build, work, s[1], MAC[1], MAC[0], 0.3)
    result(e2)
    settle(d, ["vm1", "vm2", "vm3"])
    base = {p["name"]: p for p in d.json("stats")["ports"]}
    e3 = endpoint(build, work, s[2], MAC[2], None, 3.5)
    time.sleep(0.3)
    e1 = endpoint(build, work, s[0], MAC[0], MAC[1], 3)
    e2 = endpoint(build, work, s[1], MAC[1], MAC[0], 3)
    r1, r2, r3 = result(e1), result(e2), result(e3)
    st = settle(d, ["vm1", "vm2", "vm3"])
    now = {p["name"]: p for p in st["ports"]}
    t.check(r1[0] == 0 and r2[0] == 0 and r1[1]["rx_packets"] > 1000 and r2[1]["rx_packets"] > 1000,
            "traffic both ways between vm1 and vm2, every payload checked",
            f"{r1} {r2}")
    t.check(r3[1].get("rx_other", -1) == 0 and now["vm3"]["tx_packets"] == base["vm3"]["tx_packets"],
            "after learning, nothing reached the third port", f"{r3[1]} vm3 tx {now['vm3']['tx_packets']}")
    d1 = now["vm1"]["rx_packets"] - base["vm1"]["rx_packets"]
    d2 = now["vm2"]["tx_packets"] - base["vm2"]["tx_packets"]
    drop2 = sum(now["vm2"]["drops"].values()) - sum(base["vm2"]["drops"].values())
    t.check(d1 == r1[1]["tx_packets"], "the switch received every frame vm1 sent",
            f"switch rx {d1}, vm1 sent {r1[1]['tx_packets']}")
    t.check(d2 == r2[1]["rx_packets"] and d1 == d2 + drop2,
            "vm1 -> vm2: received = forwarded + dropped, and vm2 got all that was forwarded",
            f"switch vm1 rx {d1}, vm2 tx {d2}, vm2 drops {drop2}, vm2 got {r2[1]['rx_packets']}")
    t.check(st["buffers"]["in_use"] == 0, "no switch buffer in use after the traffic", str(st["buffers"]))
    macs = {e["mac"]: e["port"] for e in d.json("mac")["entries"]}
    t.check(macs.get(MAC[0]) == "vm1" and macs.get(MAC[1]) == "vm2", "the MAC table has vm1's and vm2's MACs",
            str(macs))
    return s


def idle_and_aging(t, d):
    time.sleep(1.0)
    w = d.json("stats")["workers"][0]
    c0 = cpu_seconds(d.proc.pid)
    time.sleep(2.0)
    used = cpu_seconds(d.proc.pid) - c0
    w2 = d.json("stats")["workers"][0]
    t.check(w2["sleeps"] > w["sleeps"] or w2["state"] == "sleeping", "an idle worker sleeps", f"{w} {w2}")
    t.check(used < 0.5, "an idle switch uses little CPU", f"{used:.2f} CPU seconds in 2 s")
    time.sleep(AGING_S + 1.5)
    macs = d.json("mac")["entries"]
    t.check(len(macs) == 0, f"MAC entries aged out after {AGING_S} s", str(macs))


def tap_port(t, d, build, work, s1):
    ifname = f"hlt{os.getpid() % 100000}"
    rc, _, err = d.hlctl("port", "add", "tap", "tap0", "--ifname", ifname)
    if not t.check(rc == 0, "a TAP port is added", err):
        return
    ip = "10.213.%d.1" % (os.getpid() % 250)
    r = subprocess.run(["ip", "addr", "add", ip + "/24", "dev", ifname], capture_output=True, text=True)
    t.check(r.returncode == 0, f"the host gave {ifname} {ip}", r.stderr)
    e = subprocess.run([os.path.join(build, "tools/hltraffic"), "--path", s1, "--mac", MAC[3], "--run-dir", work,
                        "--pool-mb", "32", "--ip", ip.rsplit(".", 1)[0] + ".2", "--ping", ip, "--count", "3"],
                       capture_output=True, text=True, timeout=60)
    t.check(e.returncode == 0 and '"replies":3' in e.stdout,
            "an endpoint on a vhost port pings the host kernel through the TAP port", e.stdout + e.stderr)
    rc, _, err = d.hlctl("port", "del", "tap0")
    t.check(rc == 0 and not os.path.exists(f"/sys/class/net/{ifname}"), "deleting the TAP port removes the interface",
            err)


def main():
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="hld-test.")
    t = Tap(sum(PLAN.values()))
    d = Daemon(build, work, "--aging", str(AGING_S))
    try:
        if not t.check(d.start(), "hugelinkd starts and answers ping", d.log_tail()):
            return t.exit_code()
        za = d.json("stats").get("zcopy_auto", {})
        t.check(za.get("measured") is True and za.get("min_len", 0) % 64 == 0 and 128 <= za.get("min_len", 0),
                "stats say where zcopy auto starts and that it was measured", str(za))
        bad_requests(t, d, work)
        socks = forwarding(t, d, build, work)
        idle_and_aging(t, d)
        tap_port(t, d, build, work, socks[0])

        # kill -9: the port list survives and a new daemon brings the ports back
        rc = d.stop(signal.SIGKILL)
        t.check(os.path.exists(os.path.join(work, "hugelinkd.ports")), "after SIGKILL the port list is still on disk")
        time.sleep(0.5)
        t.check(d.start(), "a new hugelinkd starts over the killed one's files", d.log_tail())
        names = sorted(p["name"] for p in d.json("port", "list")["ports"])
        t.check(names == ["vm1", "vm2", "vm3"], "it re-created the ports", str(names))
        st = d.json("stats")
        t.check(st["last_outage_s"] >= 0.4, "stats report how long the switch was gone", str(st["last_outage_s"]))
        e2 = endpoint(build, work, socks[1], MAC[1], MAC[0], 1)
        e1 = endpoint(build, work, socks[0], MAC[0], MAC[1], 1)
        r1, r2 = result(e1), result(e2)
        t.check(r1[0] == 0 and r2[0] == 0 and r1[1]["rx_packets"] > 0 and r2[1]["rx_packets"] > 0,
                "traffic flows through the restarted switch", f"{r1} {r2}")

        # a second daemon on the same control socket is refused
        second = subprocess.run([os.path.join(build, "tools/hugelinkd"), "--foreground", "--ctl", d.ctl,
                                 "--run-dir", os.path.join(work, "second"), "--pool-mb", "16"],
                                capture_output=True, text=True, timeout=30)
        t.check(second.returncode != 0 and "already answering" in second.stderr + second.stdout and d.alive(),
                "a second hugelinkd on a live control socket refuses to start; the first carries on",
                f"rc {second.returncode}: {second.stderr.strip()}")
        shutil.rmtree(os.path.join(work, "second"), ignore_errors=True)

        rc = d.stop(signal.SIGTERM)
        left = sorted(os.listdir(work))
        junk = [f for f in left if not f.endswith(".log") and f != "ctl"]
        t.check(rc == 0 and junk == [] and os.listdir(os.path.join(work, "ctl")) == [],
                "SIGTERM: exit 0, sockets, port list, heartbeat and pool record removed", f"rc {rc}, left {left}")

        # ports from a config file
        cfg = os.path.join(work, "ports.json")
        with open(cfg, "w") as f:
            json.dump({"ports": [{"kind": "vhost", "name": "c1", "path": os.path.join(work, "c1.sock"),
                                  "mode": "server"},
                                 {"kind": "vhost", "name": "c2", "path": os.path.join(work, "c2.sock"),
                                  "mode": "client"}]}, f)
        ok = d.start("--config", cfg)
        ports = {p["name"]: p["mode"] for p in d.json("port", "list")["ports"]} if ok else {}
        t.check(ports == {"c1": "server", "c2": "client"}, "ports given in a config file are created", str(ports))
        d.stop()

        # a vhost port and an shm port: one copy at most between them (into the guest, or out of it)
        d = Daemon(build, work)
        ok = d.start() and d.hlctl("port", "add", "vhost", "v", "--server", os.path.join(work, "v.sock"),
                                   "--zcopy", "off")[0] == 0 \
            and d.hlctl("port", "add", "shm", "s")[0] == 0
        record = os.path.join(work, f"hld-test-{os.getpid()}.meta")
        sp = subprocess.Popen([os.path.join(build, "tools/hlshm"), "--record", record, "--port", "s", "--mac", MAC[1],
                               "--peer", MAC[0], "--seconds", "2.5", "--size", "512"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) if ok else None
        e = endpoint(build, work, os.path.join(work, "v.sock"), MAC[0], MAC[1], 2, 512) if ok else None
        rv, rs = (result(e), result(sp)) if ok else ((1, {}, ""), (1, {}, ""))
        st = settle(d, ["v", "s"]) if ok else {"ports": []}
        ports = {p["name"]: p for p in st["ports"]}
        t.check(rv[0] == 0 and rs[0] == 0 and rv[1].get("rx_packets", 0) > 0 and rs[1].get("rx_packets", 0) > 0,
                "a vhost endpoint and an shm peer exchange checked frames both ways", f"{rv} {rs}")
        t.check(ports.get("s", {}).get("zcopy_packets", 0) > 0 and ports.get("s", {}).get("copy_packets", 1) == 0,
                "frames copied out of the vhost guest (zcopy off) reach the shm peer with no second copy", str(ports.get("s")))
        t.check(ok and st["buffers"]["in_use"] == ports["s"]["peer_held"],
                "buffers in use are exactly those the shm peer holds", str(st.get("buffers")))

        # an isolated shm port: its own small pool, one copy at the boundary
        rc, _, err = d.hlctl("port", "add", "shm", "iso", "--isolated")
        listed = {p["name"]: p for p in d.json("port", "list")["ports"]} if rc == 0 else {}
        iso = listed.get("iso", {})
        irec = iso.get("record", "")
        qa = d.hlctl("qemu-args", "iso")[1]
        ifile = (re.search(r"mem-path=([^,]+)", qa) or [None, ""])[1]
        t.check(rc == 0 and iso.get("isolated") is True and iso.get("shared") is False and os.path.exists(irec)
                and irec != record and os.path.exists(ifile) and os.path.getsize(ifile) < 32 << 20,
                "an isolated shm port has its own small pool, which qemu-args names", f"{err} {iso} {qa}")
        echo = subprocess.Popen([os.path.join(build, "tools/hlshm"), "--record", record, "--port", "s", "--mac",
                                 MAC[1], "--echo", "--seconds", "3"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        ip = subprocess.run([os.path.join(build, "tools/hlshm"), "--record", irec, "--port", "iso", "--mac", MAC[2],
                             "--peer", MAC[1], "--seconds", "1.5", "--size", "256"], capture_output=True, text=True)
        echo.communicate(timeout=30)
        r = (re.search(r'\{"shm-peer".*\}', ip.stdout) or [None, "{}"])
        r = json.loads(r[0]) if r[0] else {}
        st = settle(d, ["s", "iso"])
        pi = {p["name"]: p for p in st["ports"]}.get("iso", {})
        t.check(ip.returncode == 0 and r.get("rx_packets", 0) > 0 and pi.get("copy_packets", 0) > 0
                and pi.get("zcopy_packets", 1) == 0,
                "the isolated peer's frames are echoed back through the switch, copied at the boundary",
                f"{ip.stderr} {r} {pi}")
        rc, _, err = d.hlctl("port", "reset", "s")
        ps = {p["name"]: p for p in d.json("stats")["ports"]}.get("s", {})
        t.check(rc == 0 and ps.get("resets", 0) >= 1 and d.json("stats")["buffers"]["in_use"] == ps.get("peer_held"),
                "an shm port is reset on request, its buffers back and the port kept", f"{err} {ps}")
        rc, _, err = d.hlctl("port", "del", "iso")
        t.check(rc == 0 and not os.path.exists(irec) and not os.path.exists(ifile),
                "deleting the isolated port removes its pool", err)
        d.stop()

        # two workers: each polls one port and transmits to the other's (under its lock)
        d = Daemon(build, work, "--workers", "2")
        ok = d.start()
        for n in ("w1", "w2"):
            ok = ok and d.hlctl("port", "add", "vhost", n, "--server", os.path.join(work, n + ".sock"))[0] == 0
        e = subprocess.Popen([os.path.join(build, "tools/hltraffic"), "--seconds", "2", "--run-dir", work,
                              "--pool-mb", "32", "--endpoint", f"{os.path.join(work, 'w1.sock')},{MAC[0]},{MAC[1]}",
                              "--endpoint", f"{os.path.join(work, 'w2.sock')},{MAC[1]},{MAC[0]}"],
                             stdout=subprocess.PIPE, text=True) if ok else None
        out = e.communicate(timeout=60)[0] if e else ""
        res = [json.loads(l) for l in out.splitlines() if '"endpoint"' in l]
        st = settle(d, ["w1", "w2"]) if ok else {"ports": [], "buffers": {"in_use": -1}}
        sp = {p["name"]: p for p in st["ports"]}
        good = len(res) == 2 and all(r["rx_packets"] > 0 and r["rx_bad"] == 0 for r in res) and \
            sp["w1"]["rx_packets"] == sp["w2"]["tx_packets"] + sum(sp["w2"]["drops"].values()) and \
            len(d.json("stats")["workers"]) == 2 and st["buffers"]["in_use"] == 0
        t.check(good, "with two workers every frame is forwarded or counted as dropped", f"{res} {sp}")
        d.stop()
    finally:
        if d.proc is not None:
            d.proc.kill()
        t.diag(f"daemon log: {d.log_tail(5)}")
        shutil.rmtree(work, ignore_errors=True)
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
