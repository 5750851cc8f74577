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
logged dirty logging on, and a checked stream sent into the guest all along
(migrate_guest.py) adds up on both sides of the migration, and no guest's
virtio driver reported a used entry it did not have in flight. It prints the pings lost,
the longest gap between replies as seen here (ms) and QEMU's own downtime.

Logs of the last run stay in BUILD_DIR/guest-migrate-test.
"""
import json
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from migrate_guest import MAC1, Migration, wait_for  # noqa: E402
from guest_test import guest_prerequisites, hlctl, nothing_left, start, start_daemon, tail  # noqa: E402

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
    "a checked stream into the guest across the migration: every MD5 right",
    "no guest's virtio driver found its rings broken (an id not in flight, an index moved too far)",
    "hugelinkd stopped cleanly; no QEMU or hugelinkd left running",
]


RING_BROKEN = re.compile(r"is not a head|id \d+ out of range|moved used index|Guest says index|virtio.*broken")


def ports_state(build, ctl):
    rc, out, _ = hlctl(build, ctl, "port", "list", "--json")
    return {p["name"]: p["state"] for p in json.loads(out)["ports"]} if rc == 0 else {}


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-migrate-test")
    os.environ["HL_LOG"] = "info"  # a check reads the daemon's own lines on the dirty log (INFO)
    run = tempfile.mkdtemp(prefix="hlmig.")  # short: socket paths max 107 bytes
    ctl = os.path.join(run, "hugelinkd.sock")
    dlog = os.path.join(logs, "hugelinkd.log")
    ports = {"src": "vm1", "dst": "vm1b", "peer": "vm2"}
    socks = {k: os.path.join(run, f"{n}.sock") for k, n in ports.items()}
    daemon = None
    m = None
    try:
        guest_dir = guest_prerequisites(src, build, tap, logs)
        if guest_dir is None:
            return 1
        daemon = start_daemon(build, run, ctl, dlog, f"hlmig-{os.getpid()}", "--buffers", "4096")
        ok = daemon is not None
        for k, name in ports.items():
            # zero-copy on: the guest's transmit buffers are held while it migrates
            ok = ok and hlctl(build, ctl, "port", "add", "vhost", name, "--server", socks[k], "--zcopy", "on")[0] == 0
        tap.result(1, ok, "", tail(dlog))
        if not ok:
            tap.fail_rest("not run: hugelinkd did not start")
            return 1

        m = Migration("mig", logs, guest_dir, socks, "client")
        m.start_guests()
        ok = m.pinging()
        tap.result(2, ok and m.src.running(), str(ports_state(build, ctl)), m.peer.output()[-1500:])
        if not ok:
            tap.fail_rest("not run: no pings before the migration")
            return 1
        m.start_destination()
        st = m.destination_status()
        tap.result(3, st.get("status") == "inmigrate" and m.dst.running(), f"{st} {ports_state(build, ctl)}",
                   m.dst.output()[-1500:])

        info = m.migrate()
        ram = info.get("ram", {})
        print(f"# migration: status {info.get('status')}, {m.t_done - m.t_start:.1f} s here, "
              f"QEMU total {info.get('total-time')} ms, downtime {info.get('downtime')} ms, "
              f"{ram.get('transferred', 0) >> 20} MiB sent, {ram.get('dirty-sync-count')} dirty syncs", flush=True)
        tap.result(4, info.get("status") == "completed", json.dumps(info)[:600], m.src.output()[-1500:])
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
        tap.result(6, m.running_on_destination(), "", m.dst.output()[-1500:])

        o = m.outage()
        print(f"# pings during the migration: {o['pings']}, lost {o['lost']}, longest gap between replies "
              f"{o['gap_ms']} ms as seen here (one attempt every ~200 ms + the reply), "
              f"QEMU downtime {o['downtime_ms']} ms", flush=True)
        tap.result(7, o["resumed"], f"{o['pings']} pings", m.peer.output()[-1500:])
        tap.result(8, o["resumed"] and o["lost"] <= 1, f"{o['lost']} lost: {o['lost_lines']}")

        rc, out, _ = hlctl(build, ctl, "mac", "--json")
        mac = json.loads(out) if rc == 0 else {}
        where = {e["mac"]: e["port"] for e in mac.get("entries", [])}
        print(f"# hlctl mac --json: moved {mac.get('moved')}, last_move {mac.get('last_move')}, "
              f"{MAC1} on {where.get(MAC1)}", flush=True)
        tap.result(9, where.get(MAC1) == "vm1b" and mac.get("moved", 0) >= 1 and
                   mac.get("last_move", {}).get("port") == "vm1b", json.dumps(mac)[:400])

        # streams keep coming; wait for two summed on the destination
        def dst_streams():
            return len([x for x in m.streams()[1] if x[1] == 2]) >= 2
        done = bool(wait_for(dst_streams, 60))
        want, got = m.streams()
        bad = [(k, md5) for t, i, k, md5 in got if md5 != want]
        on_dst = [k for t, i, k, md5 in got if i == 2]
        # the destination's first stream began on the source: the one that spanned the migration
        spans = bool(on_dst) and any(i == 1 and k == on_dst[0] - 1 for t, i, k, md5 in got)
        print(f"# streams: {len([g for g in got if g[1] == 1])} summed on the source, {len(on_dst)} on the "
              f"destination (first k={on_dst[0] if on_dst else None}), {len(bad)} wrong", flush=True)
        tap.result(10, done and want is not None and not bad and spans,
                   f"expected {want}, wrong {bad[:3]}, spanning {spans}", m.dst.output()[-1500:])

        # what Linux's virtio_ring says when a device returns what it should not, on any console
        broken = [line for g in m.guests for line in g.output().splitlines() if RING_BROKEN.search(line)]
        tap.result(11, not broken, "; ".join(broken[:3]))
    finally:
        if m is not None:
            m.stop()
        nothing_left(tap, 12, daemon, [f"hlmig-{os.getpid()}", run], run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
