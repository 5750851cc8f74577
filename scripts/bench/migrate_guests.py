#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What a live migration of a pinged guest costs through hugelinkd and through Open vSwitch with DPDK.

usage: migrate_guests.py BUILD_DIR [--rounds N] [--no-ovs]

The scenario of tests/guest/migrate_guest.py on each switch in turn: a
guest (TCG, one vCPU, 128 MiB shared memfd) migrates between two QEMUs on
this host, each on its own port of the switch, with the same MAC, while a
third guest pings it every ~0.2 s; the migration's bandwidth is limited so
memory is copied while the guest and the switch write it. Every QEMU
listens on its vhost-user socket and the switch connects (hugelinkd client
ports; OVS dpdkvhostuserclient ports on the default NORMAL bridge, which
learns like hugelinkd does), so the guests' command lines are the same on
both. The switches take turns, each round starting one later.

One JSON line per switch on stdout: median (min, max) over the rounds of
the pings lost, the longest gap between two replies as seen from the host
(an attempt every ~200 ms, so ~200-250 ms is no outage at all), QEMU's
downtime and total time, and the rounds whose migration completed. A
switch that could not be measured says why in "error" (exit status 1).
Progress goes to stderr; logs stay in BUILD_DIR/bench-migrate-guests.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "guest"))
from iperf_guests import Hugelinkd, Ovs, SwitchError, print_result, spread  # noqa: E402
from migrate_guest import Migration, wait_for  # noqa: E402
from guest_test import bench_start, hlctl  # noqa: E402


def say(*a):
    print("migrate_guests:", *a, file=sys.stderr, flush=True)


class MigHugelinkd(Hugelinkd):
    """hugelinkd with a client port for each QEMU, added as each QEMU listens."""

    def connect(self, socks):
        for s in socks:
            name = os.path.basename(s).split(".")[0]
            rc, out, err = hlctl(self.build, self.ctl, "port", "add", "vhost", name, "--client", s)
            if rc != 0:
                raise SwitchError(f"hlctl port add vhost {name} --client {s}: exit {rc}: {(err or out).strip()}")


class MigOvs(Ovs):
    """OVS with its ports numbered on, whichever call adds them."""

    def connect(self, socks):
        for s in socks:
            self.nports = getattr(self, "nports", 0) + 1
            i = self.nports
            self._vsctl("add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}",
                        "type=dpdkvhostuserclient", f"options:vhost-server-path={s}", f"ofport_request={i}")

    def start(self, tag):
        self.nports = 0
        super().start(tag)


def one_round(sw, tag, guest_dir, logs):
    """One migration on sw: the outage figures, or raise SwitchError."""
    run = tempfile.mkdtemp(prefix="hlbm.")  # short: socket paths max 107 bytes
    socks = {k: os.path.join(run, f"{k}.sock") for k in ("src", "dst", "peer")}
    m = Migration(tag, logs, guest_dir, socks, "server")
    try:
        sw.start(tag)
        m.start_guests()
        if not wait_for(lambda: os.path.exists(socks["src"]) and os.path.exists(socks["peer"]), 30, 0.1):
            raise SwitchError(f"QEMU did not listen: {m.src.output()[-300:]}")
        sw.connect([socks["src"], socks["peer"]])
        if not m.pinging():
            raise SwitchError(f"no pings before the migration: {m.peer.output()[-300:]}")
        m.start_destination()
        if not wait_for(lambda: os.path.exists(socks["dst"]), 30, 0.1):
            raise SwitchError(f"the destination QEMU did not listen: {m.dst.output()[-300:]}")
        sw.connect([socks["dst"]])
        st = m.destination_status()
        if st.get("status") != "inmigrate":
            raise SwitchError(f"destination not waiting: {st}")
        info = m.migrate()
        if info.get("status") != "completed":
            raise SwitchError(f"migration {info.get('status')}: {json.dumps(info)[:300]}")
        if not m.running_on_destination():
            raise SwitchError("the guest does not run on the destination")
        o = m.outage()
        if not o["resumed"]:
            raise SwitchError(f"pings did not resume: {o}")
        return o
    finally:
        m.stop()
        sw.stop()
        shutil.rmtree(run, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="A guest live-migrated while pinged: hugelinkd against OVS (DPDK).")
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ovs", action="store_true", help="measure hugelinkd only")
    a = ap.parse_args()
    started = bench_start(a.build, "bench-migrate-guests", say)
    if started is None:
        return 1
    build, logs, guest_dir = started

    switches = [MigHugelinkd(build, logs, False)]
    errors = {}
    if not a.no_ovs:
        hp, why = Ovs.hugepages()
        if why is None:
            switches.append(MigOvs(logs, hp))
        else:
            errors[Ovs.name] = why
            say(f"Open vSwitch cannot run: {why}")
    results = {s.name: [] for s in switches}
    t0 = time.monotonic()
    for rnd in range(a.rounds):
        order = switches[rnd % len(switches):] + switches[:rnd % len(switches)]
        for sw in order:
            tag = f"r{rnd}-{sw.name}"
            try:
                o = one_round(sw, tag, guest_dir, logs)
            except SwitchError as e:
                errors.setdefault(sw.name, str(e))
                say(f"{tag}: {e}")
                continue
            results[sw.name].append(o)
            say(f"{tag}: {o['lost']} lost of {o['pings']}, longest gap {o['gap_ms']} ms, QEMU downtime "
                f"{o['downtime_ms']} ms, total {o['total_ms']} ms ({time.monotonic() - t0:.0f} s)")
    bad = 0
    for name in [s.name for s in switches] + ([Ovs.name] if Ovs.name in errors and Ovs.name not in results else []):
        rs = results.get(name, [])
        line = {"bench": "migrate_guests", "switch": name, "rounds": len(rs), "of": a.rounds}
        for k in ("lost", "gap_ms", "downtime_ms", "total_ms"):
            med, lo, hi = spread([r[k] for r in rs if r[k] is not None])
            line.update({k: med, f"{k}_min": lo, f"{k}_max": hi})
        bad += print_result(line, errors.get(name, "not every round completed") if len(rs) < a.rounds else None)
    say(f"done in {time.monotonic() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
