#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A guest on a hugelinkd vhost port is live-migrated to a second QEMU on another port while pinged.

usage: test_guest_migrate.py SOURCE_DIR BUILD_DIR

hugelinkd has three vhost-user server ports (zero-copy on): vm1 (the migrating guest's
source QEMU, RAM in a shared memfd), vm1b (its destination QEMU, the same
options and MAC, its own memfd, waiting with -incoming) and vm2 (a peer
guest). The peer pings the migrating guest every ~0.2 s (PING-OK / PING-FAIL
per attempt, each timestamped here as it appears on the console). Over QMP
the source is told to migrate with its bandwidth limited (so the guest and
the back-end dirty memory while it is copied: the back-end must log every
page it writes). The test checks: the migration completes, the guest's
console goes on on the destination, the pings resume from there with at most
one lost, the MAC is on vm1b in `hlctl mac --json` (moved), and hugelinkd
logged dirty logging on. It prints the pings lost, the longest gap between
replies as seen here (ms) and QEMU's own downtime.

Logs of the last run stay in BUILD_DIR/guest-migrate-test.
"""
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_guest import Guest  # noqa: E402
from guest_test import guest_prerequisites, hlctl, nothing_left, start, start_daemon, tail  # noqa: E402

GUEST_MEM_MB = 128
MAX_BANDWIDTH = 16 << 20  # bytes/s: a few seconds of copying, with the guest running
MIGRATE_TIMEOUT = 180
MAC1, MAC2 = "52:54:00:48:4c:21", "52:54:00:48:4c:22"

CASES = [
    "guest kernel and initramfs built",
    "hugelinkd started with three vhost-user server ports",
    "source and peer guests attached; the peer pings the migrating guest",
    "destination QEMU waiting (-incoming), attached to its own port",
    "migration with limited bandwidth completed",
    "hugelinkd logged dirty pages during the migration (dirty logging on)",
    "the guest runs on the destination (its console goes on there)",
    "pings resumed from the destination: five replies after the migration",
    "at most one ping lost",
    "the MAC moved to the destination's port (hlctl mac --json)",
    "hugelinkd stopped cleanly; no QEMU or hugelinkd left running",
]

# the migrating guest: answers pings, and says it is alive once a second
GUEST1_SH = """\
ip link set eth0 up
ip addr add 10.0.0.1/24 dev eth0
echo "guest1: eth0 is 10.0.0.1"
i=0
while true; do
	echo "TICK $i"
	i=$((i + 1))
	sleep 1
done
"""

GUEST2_SH = """\
ip link set eth0 up
ip addr add 10.0.0.2/24 dev eth0
echo "guest2: eth0 is 10.0.0.2"
i=0
while [ $i -lt 3000 ]; do
	if ping -c 1 -W 1 10.0.0.1 >/dev/null 2>&1; then
		echo "PING-OK $i"
	else
		echo "PING-FAIL $i"
	fi
	i=$((i + 1))
	usleep 200000 2>/dev/null || sleep 1
done
"""


class MigratingGuest(Guest):
    """A Guest with a QMP socket, and for the destination -incoming."""

    def __init__(self, *a, qmp=None, incoming=None, **kw):
        super().__init__(*a, **kw)
        self.qmp, self.incoming = qmp, incoming

    def command(self):
        cmd = super().command()
        i = cmd.index("-monitor")
        cmd[i:i + 2] = ["-monitor", "none", "-qmp", f"unix:{self.qmp},server=on,wait=off"]
        if self.incoming:
            cmd += ["-incoming", f"unix:{self.incoming}"]
        return cmd


class Qmp:
    """Just enough QMP: connect, capabilities, commands (events skipped)."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rwb")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error']}")
            return r["return"]

    def close(self):
        self.s.close()


class Console:
    """Lines of a guest's console with the time each was first seen here."""

    def __init__(self, guests):
        self.guests, self.lines, self.stop = guests, [], False
        self.seen = [0] * len(guests)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            now = time.monotonic()
            for i, g in enumerate(self.guests):
                out = g.output()
                end = out.rfind("\n") + 1
                if end > self.seen[i]:
                    for line in out[self.seen[i]:end].splitlines():
                        self.lines.append((now, i, line))
                    self.seen[i] = end
            time.sleep(0.02)


def ports_state(build, ctl):
    rc, out, _ = hlctl(build, ctl, "port", "list", "--json")
    return {p["name"]: p["state"] for p in json.loads(out)["ports"]} if rc == 0 else {}


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-migrate-test")
    run = tempfile.mkdtemp(prefix="hlmig.")  # short: socket paths max 107 bytes
    ctl = os.path.join(run, "hugelinkd.sock")
    dlog = os.path.join(logs, "hugelinkd.log")
    socks = {n: os.path.join(run, f"{n}.sock") for n in ("vm1", "vm1b", "vm2")}
    mig = os.path.join(run, "migrate.sock")
    daemon = None
    guests = []
    console = None
    qmp = None
    try:
        guest_dir = guest_prerequisites(src, build, tap, logs)
        if guest_dir is None:
            return 1

        daemon = start_daemon(build, run, ctl, dlog, f"hlmig-{os.getpid()}", "--buffers", "4096")
        ok = daemon is not None
        for name, s in socks.items():
            # zero-copy on: the guest's transmit buffers are held while it migrates
            ok = ok and hlctl(build, ctl, "port", "add", "vhost", name, "--server", s, "--zcopy", "on")[0] == 0
        tap.result(1, ok, "", tail(dlog))
        if not ok:
            tap.fail_rest("not run: hugelinkd did not start")
            return 1

        kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
        common = dict(mem_mb=GUEST_MEM_MB, memfd=True)
        g2 = Guest("guest2", logs, kernel, initramfs, GUEST2_SH,
                   vhost_sockets=[(socks["vm2"], MAC2, "client", 1)], **common)
        g1 = MigratingGuest("guest1", logs, kernel, initramfs, GUEST1_SH,
                            vhost_sockets=[(socks["vm1"], MAC1, "client", 1)],
                            qmp=os.path.join(run, "src.qmp"), **common)
        for g in (g1, g2):
            guests.append(g)
            g.start()
        console = Console([g2, g1])
        m = wait_for(lambda: len(re.findall(r"^PING-OK", g2.output(), re.M)) >= 3, 180)
        tap.result(2, m is not None and g1.running(), str(ports_state(build, ctl)), g2.output()[-1500:])
        if m is None:
            tap.fail_rest("not run: no pings before the migration")
            return 1

        # the destination: same machine, same MAC, its own memory and port
        g1d = MigratingGuest("guest1-dst", logs, kernel, initramfs, GUEST1_SH,
                             vhost_sockets=[(socks["vm1b"], MAC1, "client", 1)],
                             qmp=os.path.join(run, "dst.qmp"), incoming=mig, **common)
        guests.append(g1d)
        g1d.start()
        console.guests.append(g1d)
        console.seen.append(0)
        dq = Qmp(g1d.qmp)
        st = dq.cmd("query-status")
        dq.close()
        tap.result(3, st.get("status") == "inmigrate" and g1d.running(), f"{st} {ports_state(build, ctl)}",
                   g1d.output()[-1500:])

        qmp = Qmp(g1.qmp)
        qmp.cmd("migrate-set-parameters", **{"max-bandwidth": MAX_BANDWIDTH})
        t_start = time.monotonic()
        n_before = len(console.lines)
        qmp.cmd("migrate", uri=f"unix:{mig}")
        info = {}
        deadline = time.monotonic() + MIGRATE_TIMEOUT
        while time.monotonic() < deadline:
            info = qmp.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        t_done = time.monotonic()
        ram = info.get("ram", {})
        print(f"# migration: status {info.get('status')}, {t_done - t_start:.1f} s here, "
              f"QEMU total {info.get('total-time')} ms, downtime {info.get('downtime')} ms, "
              f"{ram.get('transferred', 0) >> 20} MiB sent, {ram.get('dirty-sync-count')} dirty syncs, "
              f"{ram.get('dirty-pages-rate')} dirty pages/s", flush=True)
        tap.result(4, info.get("status") == "completed", json.dumps(info)[:600], g1.output()[-1500:])
        if info.get("status") != "completed":
            tap.fail_rest("not run: the migration did not complete")
            return 1

        # the source QEMU is still there (paused): its port's counters are
        rc, out, _ = hlctl(build, ctl, "stats", "--json")
        st = {p["name"]: p for p in json.loads(out)["ports"]} if rc == 0 else {}
        vm1 = st.get("vm1", {})
        words, dropped = vm1.get("dirty_log_words", 0), vm1.get("dirty_log_dropped", -1)
        print(f"# source port vm1: {words} words of the dirty log set, {dropped} pages outside it, "
              f"{vm1.get('zcopy_packets')} packets zero-copied", flush=True)
        dl = open(dlog, errors="replace").read()
        tap.result(5, "dirty logging on" in dl and "dirty log of" in dl and words > 0 and dropped == 0,
                   f"{words} words set, {dropped} dropped", dl[-1500:])

        ran = wait_for(lambda: re.search(r"^TICK \d+", g1d.output(), re.M), 30)
        tap.result(6, ran is not None, "", g1d.output()[-1500:])

        # five replies after the migration finished, then count what went missing on the way
        def oks_after():
            return sum(1 for t, i, line in list(console.lines) if i == 0 and t > t_done and
                       line.startswith("PING-OK")) >= 5
        resumed = wait_for(oks_after, 60)
        lines = [(t, line) for t, i, line in console.lines[n_before:] if i == 0 and line.startswith("PING-")]
        # from the migration's start to the fifth reply after its end
        fails = [line for t, line in lines if line.startswith("PING-FAIL")]
        ok_times = [t for t, line in lines if line.startswith("PING-OK")]
        gap_ms = max((b - a for a, b in zip(ok_times, ok_times[1:])), default=0) * 1000
        print(f"# pings during the migration: {len(lines)}, lost {len(fails)}, longest gap between replies "
              f"{gap_ms:.0f} ms as seen here (one attempt every ~200 ms + the reply), "
              f"QEMU downtime {info.get('downtime')} ms", flush=True)
        tap.result(7, resumed is not None, f"{len(ok_times)} replies", g2.output()[-1500:])
        tap.result(8, resumed is not None and len(fails) <= 1, f"{len(fails)} lost: {fails[:5]}")

        rc, out, _ = hlctl(build, ctl, "mac", "--json")
        mac = json.loads(out) if rc == 0 else {}
        where = {e["mac"]: e["port"] for e in mac.get("entries", [])}
        print(f"# hlctl mac --json: moved {mac.get('moved')}, last_move {mac.get('last_move')}, "
              f"{MAC1} on {where.get(MAC1)}", flush=True)
        tap.result(9, where.get(MAC1) == "vm1b" and mac.get("moved", 0) >= 1 and
                   mac.get("last_move", {}).get("port") == "vm1b", json.dumps(mac)[:400])
    finally:
        if console is not None:
            console.stop = True
        if qmp is not None:
            qmp.close()
        for g in guests:
            g.kill()
        nothing_left(tap, 10, daemon, [f"hlmig-{os.getpid()}", run], run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
