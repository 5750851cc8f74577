#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A live migration of a pinged guest between two QEMUs on one host, whatever switch carries them.

Imported by tests/guest/test_guest_migrate.py (hugelinkd) and
scripts/bench/migrate_guests.py (hugelinkd and Open vSwitch with DPDK);
nothing here runs on its own.

Three guests' worth of QEMU: the migrating guest's source (RAM in a shared
memfd, QMP on a socket), its destination (the same options and MAC, its own
memfd, waiting with -incoming) and a peer that pings the migrating guest
every ~0.2 s, printing PING-OK / PING-FAIL per attempt. Console lines are
timestamped here as they appear. The source migrates with its bandwidth
limited, so the guest and the switch dirty memory while it is copied.

A checked stream runs at the same time: the peer sends the migrating guest
the same 4 MiB of random bytes over and over, one TCP connection each,
throttled to a few MB/s (so the copy still converges); the migrating guest
prints the MD5 of each (STREAM k MD5) and the peer the one expected
(STREAM-EXPECT MD5). A page the switch wrote into the guest but did not
log would reach the destination stale: a stream across the migration would
then not add up.
"""
import json
import os
import re
import socket
import threading
import time

from qemu_guest import Guest

MAX_BANDWIDTH = 16 << 20  # bytes/s: a few seconds of copying, with the guest running
MIGRATE_TIMEOUT = 180
MAC1, MAC2 = "52:54:00:48:4c:21", "52:54:00:48:4c:22"

# the migrating guest: answers pings, sums streams, and says it is alive once a second
MIGRATING_SH = """\
ip link set eth0 up
ip addr add 10.0.0.1/24 dev eth0
echo "guest1: eth0 is 10.0.0.1"
# nc quits when its stdin ends: give it one that never does
mkfifo /tmp/hold
exec 3<>/tmp/hold
(k=0; while true; do s=$(nc -l -p 5000 <&3 | md5sum); echo "STREAM $k ${s%% *}"; k=$((k + 1)); done) &
i=0
while true; do
	echo "TICK $i"
	i=$((i + 1))
	sleep 1
done
"""

PEER_SH = """\
ip link set eth0 up
ip addr add 10.0.0.2/24 dev eth0
echo "guest2: eth0 is 10.0.0.2"
dd if=/dev/urandom of=/tmp/f bs=64k count=64 2>/dev/null
s=$(md5sum < /tmp/f)
echo "STREAM-EXPECT ${s%% *}"
(while true; do
	for i in $(seq 0 63); do dd if=/tmp/f bs=64k count=1 skip=$i 2>/dev/null; usleep 20000; done |
		nc 10.0.0.1 5000 || sleep 1
done) &
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
        # the file holds the socket open too, and QEMU serves one QMP client at a time
        self.f.close()
        self.s.close()


class Console:
    """Lines of guests' consoles with the time each was first seen here: (time, guest index, line)."""

    def __init__(self, guests):
        self.guests, self.lines, self.stop = list(guests), [], False
        self.seen = [0] * len(self.guests)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def add(self, g):
        self.seen.append(0)
        self.guests.append(g)

    def run(self):
        while not self.stop:
            now = time.monotonic()
            for i, g in enumerate(list(self.guests)):
                out = g.output()
                end = out.rfind("\n") + 1
                if end > self.seen[i]:
                    for line in out[self.seen[i]:end].splitlines():
                        self.lines.append((now, i, line))
                    self.seen[i] = end
            time.sleep(0.02)


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


class Migration:
    """One run of the scenario; the steps are separate so a test can check between them.

    socks: {"src", "dst", "peer"} vhost-user socket paths; mode "client" (the
    switch listens) or "server" (QEMU listens, the switch connects).
    """

    def __init__(self, tag, logs, guest_dir, socks, mode, mem_mb=128):
        kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
        run = os.path.dirname(socks["src"])
        self.mig = os.path.join(run, f"{tag}-migrate.sock")
        common = dict(mem_mb=mem_mb, memfd=True)
        reconnect = 1 if mode == "client" else 0
        self.tag, self.run, self.mode, self.reconnect = tag, run, mode, reconnect
        self.boot = (logs, kernel, initramfs)
        self.common = common
        self.peer = Guest(f"{tag}-guest2", logs, kernel, initramfs, PEER_SH,
                          vhost_sockets=[(socks["peer"], MAC2, mode, reconnect)], **common)
        self.src = MigratingGuest(f"{tag}-guest1", logs, kernel, initramfs, MIGRATING_SH,
                                  vhost_sockets=[(socks["src"], MAC1, mode, reconnect)],
                                  qmp=os.path.join(run, f"{tag}-src.qmp"), **common)
        self.dst = MigratingGuest(f"{tag}-guest1-dst", logs, kernel, initramfs, MIGRATING_SH,
                                  vhost_sockets=[(socks["dst"], MAC1, mode, reconnect)],
                                  qmp=os.path.join(run, f"{tag}-dst.qmp"), incoming=self.mig, **common)
        self.guests, self.console, self.qmp, self.info = [], None, None, {}

    def start_guests(self):
        for g in (self.src, self.peer):
            self.guests.append(g)
            g.start()
        self.console = Console([self.peer, self.src])

    def pinging(self, timeout=180):
        """At least three replies to the peer's pings."""
        return wait_for(lambda: len(re.findall(r"^PING-OK", self.peer.output(), re.M)) >= 3, timeout) is not None

    def start_destination(self):
        """Start the destination QEMU; with QEMU listening, connect the switch before asking its status."""
        self.guests.append(self.dst)
        self.dst.start()
        self.console.add(self.dst)

    def destination_status(self, g=None):
        """A QEMU's QMP status ("inmigrate" while it waits, "postmigrate" once it sent the guest away)."""
        q = Qmp((g or self.dst).qmp)
        try:
            return q.cmd("query-status")
        finally:
            q.close()

    def migrate(self, bandwidth=MAX_BANDWIDTH, timeout=MIGRATE_TIMEOUT):
        """Migrate, limited to bandwidth bytes/s; QEMU's last query-migrate answer."""
        self.t_start = time.monotonic()
        self.n_before = len(self.console.lines)
        self.qmp = self.start_migration(self.src, f"unix:{self.mig}", bandwidth)
        self.info = self.wait_migration(self.qmp, timeout)
        self.t_done = time.monotonic()
        return self.info

    def destination_again(self, sock):
        """A second destination on sock (the first source's port, once that QEMU is gone), waiting."""
        self.src.kill()
        logs, kernel, initramfs = self.boot
        self.back = MigratingGuest(f"{self.tag}-guest1-back", logs, kernel, initramfs, MIGRATING_SH,
                                   vhost_sockets=[(sock, MAC1, self.mode, self.reconnect)],
                                   qmp=os.path.join(self.run, f"{self.tag}-back.qmp"),
                                   incoming=self.mig + "2", **self.common)
        self.guests.append(self.back)
        self.back.start()
        self.console.add(self.back)
        return self.back

    def start_migration(self, frm, to_uri, bandwidth):
        """Start migrating guest frm to to_uri; the QMP connection to poll with wait_migration()."""
        q = Qmp(frm.qmp)
        q.cmd("migrate-set-parameters", **{"max-bandwidth": bandwidth})
        q.cmd("migrate", uri=to_uri)
        return q

    @staticmethod
    def wait_migration(q, timeout=MIGRATE_TIMEOUT):
        info = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = q.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        return info

    def running_on_destination(self, timeout=30):
        return wait_for(lambda: re.search(r"^TICK \d+", self.dst.output(), re.M), timeout) is not None

    def outage(self, replies=5, timeout=60):
        """Wait for `replies` pings answered after the migration; then what it cost.

        {"resumed", "pings", "lost", "gap_ms", "downtime_ms", "total_ms", "lost_lines"}: lost and
        the longest gap between two replies (as seen here) from the migration's start on.
        """
        def after():
            return sum(1 for t, i, line in list(self.console.lines)
                       if i == 0 and t > self.t_done and line.startswith("PING-OK")) >= replies
        resumed = wait_for(after, timeout) is not None
        lines = [(t, line) for t, i, line in self.console.lines[self.n_before:] if i == 0 and line.startswith("PING-")]
        fails = [line for t, line in lines if line.startswith("PING-FAIL")]
        oks = [t for t, line in lines if line.startswith("PING-OK")]
        gap = max((b - a for a, b in zip(oks, oks[1:])), default=0) * 1000
        return {"resumed": resumed, "pings": len(lines), "lost": len(fails), "gap_ms": round(gap),
                "downtime_ms": self.info.get("downtime"), "total_ms": self.info.get("total-time"),
                "lost_lines": fails[:5]}

    def streams(self):
        """(expected MD5, [(time, console index, k, MD5)] of the migrating guest's streams, wherever it ran)."""
        exp = re.search(r"^STREAM-EXPECT ([0-9a-f]{32})", self.peer.output(), re.M)
        got = []
        for t, i, line in list(self.console.lines):
            m = re.match(r"STREAM (\d+) ([0-9a-f]+)", line)
            if m and i != 0:
                got.append((t, i, int(m.group(1)), m.group(2)))
        return exp.group(1) if exp else None, got

    def stop(self):
        if self.console is not None:
            self.console.stop = True
        if self.qmp is not None:
            self.qmp.close()
        for g in self.guests:
            g.kill()
