#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""TCP through hugelinkd with iperf3: guest to guest, and guest to the host kernel over TAP.

usage: test_guests_iperf.py SOURCE_DIR BUILD_DIR

Two QEMU guests (TCG, one vCPU, 256 MiB shared memfd) sit on vhost-user
server ports vm1 and vm2 of one hugelinkd; a TAP port's interface is moved
into a network namespace this test creates, where it is 10.0.0.3/24 with
`iperf3 -s` listening. Guest 2 (10.0.0.2) serves iperf3; guest 1 (10.0.0.1)
runs `iperf3 -c -t 5 -J` to guest 2 both ways (-R for the reverse) and to
the namespace both ways. Every transfer has to complete with a non-zero
rate and report its retransmits, and no receiver may count a bad checksum
(InCsumErrors of /proc/net/snmp, in each guest and in the namespace): with
guest offloads a guest sends 64 KiB frames with partial checksums, and
whatever the switch does to them must leave every segment's checksum right.

Then vm2 is re-created with `--offload off` (the guest on it is offered no
offloads, so hugelinkd segments and checksums for it in software), both
guests boot again on it and the guest-to-guest transfers repeat. When `hlctl
stats --json` has per-port "offload" counters, vm2 must show software GSO
(gso_segments > 0). A hugelinkd without guest offloads refuses `--offload`:
the one case named OFFLOAD-OFF PORT fails then, and the rest run on a plain
port.

At the end the switch's buffers in use are back at their idle count, and
no QEMU, iperf3, hugelinkd or namespace is left. Logs of the last run stay
in BUILD_DIR/guest-iperf-test.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_guest as ig  # noqa: E402
import qemu_guest  # noqa: E402
from qemu_guest import Guest, MissingPrerequisite  # noqa: E402
from guest_test import build_guest, hlctl, our_processes, ports_up, start, start_daemon, stop_daemon, tail, wait_for  # noqa: E402

GUEST_MEM_MB = 256
SECONDS = 5
MAC1, MAC2 = "52:54:00:48:4c:31", "52:54:00:48:4c:32"
IP1, IP2, IP_NS = "10.0.0.1", "10.0.0.2", "10.0.0.3"
# a client retries a server that is not up yet about once every 1-4 s
CLIENT_TRIES = 20
PHASE1_TIMEOUT = 200
PHASE2_TIMEOUT = 150

CASES = [
    "guest kernel and initramfs built, with iperf3 in them",
    "hugelinkd started with vhost-user server ports vm1, vm2 and a TAP port",
    "the TAP interface is 10.0.0.3/24 in a namespace of this test, iperf3 -s listening there",
    "both guests attached (ports up) and run iperf3",
    "guest 1 -> guest 2: iperf3 completed, bits_per_second > 0",
    "guest 2 -> guest 1 (-R): iperf3 completed, bits_per_second > 0",
    "retransmits reported for both directions",
    "guest 1 -> host kernel over TAP: iperf3 completed, bits_per_second > 0",
    "host kernel -> guest 1 over TAP (-R): iperf3 completed, bits_per_second > 0",
    "both guests count 0 InCsumErrors after the transfers",
    "the namespace's kernel counts 0 InCsumErrors",
    "OFFLOAD-OFF PORT: hugelinkd accepts `hlctl port add vhost vm2 ... --offload off` (needs guest offloads)",
    "offload off: guest 1 -> guest 2 completed, bits_per_second > 0",
    "offload off: guest 2 -> guest 1 (-R) completed, bits_per_second > 0",
    "offload off: both guests count 0 InCsumErrors",
    "offload off: vm2 forwarded both ways; with offload counters, software GSO on vm2 and no TSO in guest 2",
    "every guest powered off cleanly (status 0)",
    "the switch's buffers in use are back at the idle count",
    "hugelinkd stopped cleanly; no QEMU, iperf3, hugelinkd or namespace left",
]


def sh(*cmd, timeout=20):
    """Run cmd: (exit status, stdout + stderr)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return r.returncode, (r.stdout + r.stderr).strip()


def stats(build, ctl):
    rc, out, _ = hlctl(build, ctl, "stats", "--json")
    try:
        return json.loads(out) if rc == 0 else {}
    except ValueError:
        return {}


def buffers_in_use(build, ctl):
    return stats(build, ctl).get("buffers", {}).get("in_use")


def port_stats(st, name):
    return next((p for p in st.get("ports", []) if p.get("name") == name), {})


def netns_snmp(ns):
    rc, out = sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
    return ig.parse_snmp_text(out) if rc == 0 else {}


def boot_pair(logs, guest_dir, socks, phase, runs, timeout):
    """Start server guest 2 and client guest 1 (running `runs`): (g1, g2)."""
    kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
    g2 = Guest(f"guest2-{phase}", logs, kernel, initramfs, ig.server_script(IP2, timeout - 10),
               vhost_sockets=[(socks[1], MAC2, "client", 1)], mem_mb=GUEST_MEM_MB, memfd=True)
    g1 = Guest(f"guest1-{phase}", logs, kernel, initramfs, ig.client_script(IP1, runs, [IP2], CLIENT_TRIES),
               vhost_sockets=[(socks[0], MAC1, "client", 1)], mem_mb=GUEST_MEM_MB, memfd=True)
    g2.start()
    g1.start()
    return g1, g2


def report_runs(runs):
    for r in runs.values():
        print(f"#   {r.summary()}", flush=True)


def run_ok(runs, label):
    r = runs.get(label)
    if r is None:
        return False, "no result on guest 1's console"
    return r.ok, r.summary()


def nonzero(d):
    return {k: v for k, v in (d or {}).items() if v}


def offload_counters(st):
    """port -> its "offload" counters, for the ports that have them."""
    return {p["name"]: p["offload"] for p in st.get("ports", []) if isinstance(p.get("offload"), dict)}


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-iperf-test")
    guest_dir = os.path.join(build, "guest")
    pid = os.getpid()
    run = tempfile.mkdtemp(prefix="hlgi.")  # short: socket paths max 107 bytes
    ctl = os.path.join(run, "hugelinkd.sock")
    dlog = os.path.join(logs, "hugelinkd.log")
    socks = [os.path.join(run, "vm1.sock"), os.path.join(run, "vm2.sock")]
    pool = f"hlgi-{pid}"
    ns, ifname = f"hlgi{pid}", f"hlgit{pid}"
    daemon = ns_server = None
    ns_made = False
    guests = []
    statuses = []
    t_start = time.monotonic()
    try:
        rc, blog = build_guest(src, guest_dir, logs)
        if rc != 0:
            tap.result(0, False, f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc})", tail(blog))
            tap.fail_rest("not run: MISSING PREREQUISITE: no guest kernel/initramfs")
            return 1
        if not ig.guest_has_iperf3(guest_dir):
            tap.result(0, False, "MISSING PREREQUISITE: the guest has no iperf3 (install iperf3 on the host: "
                                 "scripts/setup-host.sh, then the guest is rebuilt)", tail(blog))
            tap.fail_rest("not run: MISSING PREREQUISITE: no iperf3 in the guest")
            return 1
        tap.result(0, True)
        try:
            qemu_guest.qemu_binary()
            for tool in ("iperf3", "ip"):
                if not shutil.which(tool):
                    raise MissingPrerequisite(f"{tool} not found on the host (scripts/setup-host.sh)")
        except MissingPrerequisite as e:
            tap.fail_rest(f"not run: MISSING PREREQUISITE: {e}")
            return 1

        daemon = start_daemon(build, run, ctl, dlog, pool)
        ok = daemon is not None
        for name, s in zip(("vm1", "vm2"), socks):
            ok = ok and hlctl(build, ctl, "port", "add", "vhost", name, "--server", s)[0] == 0
        # idle: before any guest or TAP is there to send (an interface that is
        # up sends IPv6 probes of its own, so a buffer can be in flight later)
        idle = buffers_in_use(build, ctl) if ok else None
        print(f"# buffers in use at idle: {idle}", flush=True)
        ok = ok and hlctl(build, ctl, "port", "add", "tap", "tap0", "--ifname", ifname)[0] == 0
        tap.result(1, ok, "", tail(dlog))
        if not ok:
            tap.fail_rest("not run: hugelinkd did not start")
            return 1

        # The host end of the TAP lives in a namespace of its own, so its
        # address and the traffic to it stay off the host's own interfaces.
        steps = [("ip", "netns", "add", ns)]
        ns_made = True
        steps += [("ip", "link", "set", ifname, "netns", ns),
                  ("ip", "-n", ns, "link", "set", "lo", "up"),
                  ("ip", "-n", ns, "addr", "add", f"{IP_NS}/24", "dev", ifname),
                  ("ip", "-n", ns, "link", "set", ifname, "up")]
        why = ""
        for step in steps:
            rc, out = sh(*step)
            if rc != 0:
                why = f"MISSING PREREQUISITE: `{' '.join(step)}` failed: {out}"
                break
        if not why:
            ns_log = os.path.join(logs, "iperf3-server-ns.log")
            ns_server = qemu_guest.spawn(["ip", "netns", "exec", ns, "iperf3", "-s", "-B", IP_NS,
                                                   "--forceflush"], ns_log)
            if not wait_for(lambda: "Server listening" in tail(ns_log) or ns_server.poll() is not None, 10) \
                    or ns_server.poll() is not None:
                why = f"iperf3 -s in {ns} did not start: {tail(ns_log, 5)}"
        tap.result(2, not why, f"namespace {ns}, {ifname}" if not why else why)
        ns_ok = not why


        # --- phase 1: both ports offer what hugelinkd offers by default
        runs = [("g1-g2", IP2, ["-t", SECONDS]), ("g2-g1", IP2, ["-t", SECONDS, "-R"])]
        if ns_ok:
            runs += [("g1-ns", IP_NS, ["-t", SECONDS]), ("ns-g1", IP_NS, ["-t", SECONDS, "-R"])]
        t0 = time.monotonic()
        g1, g2 = boot_pair(logs, guest_dir, socks, "p1", runs, PHASE1_TIMEOUT)
        guests += [g1, g2]
        up, states = ports_up(build, ctl, ("vm1", "vm2"), 60)
        out1 = g1.wait(PHASE1_TIMEOUT)
        out2 = g2.wait(30)
        statuses += [("guest1-p1", g1.status), ("guest2-p1", g2.status)]
        print(f"# phase 1 took {time.monotonic() - t0:.0f} s; guest offloads: guest 1 {ig.parse_offloads(out1)}, "
              f"guest 2 {ig.parse_offloads(out2)}", flush=True)
        res = ig.parse_iperf(out1)
        report_runs(res)
        no_iperf = "NO-IPERF3" in out1 or "NO-IPERF3" in out2
        tap.result(3, up and not no_iperf and bool(res), f"{states}", out1[-2000:] + out2[-1000:])

        for idx, label in ((4, "g1-g2"), (5, "g2-g1")):
            good, detail = run_ok(res, label)
            tap.result(idx, good, detail, out1[-2000:])
        retr = {lab: res[lab].retransmits for lab in ("g1-g2", "g2-g1") if lab in res}
        tap.result(6, len(retr) == 2 and all(v is not None and v >= 0 for v in retr.values()), str(retr))
        if ns_ok:
            for idx, label in ((7, "g1-ns"), (8, "ns-g1")):
                good, detail = run_ok(res, label)
                tap.result(idx, good, detail, out1[-2000:])
        else:
            tap.result(7, False, "not run: no namespace")
            tap.result(8, False, "not run: no namespace")

        cs1, cs2 = ig.csum_errors(ig.parse_snmp(out1)), ig.csum_errors(ig.parse_snmp(out2))
        print(f"# InCsumErrors: guest 1 {cs1}, guest 2 {cs2}", flush=True)
        tap.result(9, bool(cs1) and bool(cs2) and not any(cs1.values()) and not any(cs2.values()),
                   f"guest 1 {cs1}, guest 2 {cs2}", out1[-1500:] + out2[-1500:])
        csn = ig.csum_errors(netns_snmp(ns)) if ns_ok else {}
        print(f"# InCsumErrors in namespace {ns}: {csn}", flush=True)
        tap.result(10, bool(csn) and not any(csn.values()), str(csn) if ns_ok else "not run: no namespace")
        st = stats(build, ctl)
        print(f"# after phase 1: offload counters {offload_counters(st) or 'absent'}; "
              f"rx, tx, drops: {[(p['name'], p['rx_packets'], p['tx_packets'], nonzero(p.get('drops'))) for p in st.get('ports', [])]}",
              flush=True)

        # --- phase 2: guest 2's port offers no offloads
        rc, out, err = hlctl(build, ctl, "port", "del", "vm2")
        if rc != 0:
            print(f"# port del vm2 failed: {out} {err}", flush=True)
        rc, out, err = hlctl(build, ctl, "port", "add", "vhost", "vm2", "--server", socks[1], "--offload", "off")
        offload_off = rc == 0
        tap.result(11, offload_off, "" if offload_off else f"refused (exit {rc}): {(err or out).strip().splitlines()[:1]}")
        if not offload_off:
            rc, out, err = hlctl(build, ctl, "port", "add", "vhost", "vm2", "--server", socks[1])
            print(f"# vm2 re-created without --offload: exit {rc} {(err or out).strip()}", flush=True)
        runs = [("off-g1-g2", IP2, ["-t", SECONDS]), ("off-g2-g1", IP2, ["-t", SECONDS, "-R"])]
        t0 = time.monotonic()
        g1, g2 = boot_pair(logs, guest_dir, socks, "p2", runs, PHASE2_TIMEOUT)
        guests += [g1, g2]
        out1 = g1.wait(PHASE2_TIMEOUT)
        out2 = g2.wait(30)
        statuses += [("guest1-p2", g1.status), ("guest2-p2", g2.status)]
        off2 = ig.parse_offloads(out2)
        print(f"# phase 2 took {time.monotonic() - t0:.0f} s; guest offloads: guest 1 {ig.parse_offloads(out1)}, "
              f"guest 2 {off2}", flush=True)
        res = ig.parse_iperf(out1)
        report_runs(res)
        for idx, label in ((12, "off-g1-g2"), (13, "off-g2-g1")):
            good, detail = run_ok(res, label)
            tap.result(idx, good, detail, out1[-2000:] + out2[-800:])
        cs1, cs2 = ig.csum_errors(ig.parse_snmp(out1)), ig.csum_errors(ig.parse_snmp(out2))
        print(f"# InCsumErrors: guest 1 {cs1}, guest 2 {cs2}", flush=True)
        tap.result(14, bool(cs1) and bool(cs2) and not any(cs1.values()) and not any(cs2.values()),
                   f"guest 1 {cs1}, guest 2 {cs2}", out1[-1500:] + out2[-1500:])
        st = stats(build, ctl)
        vm2 = port_stats(st, "vm2")
        counters = offload_counters(st)
        print(f"# after phase 2: offload counters {counters or 'absent'}", flush=True)
        fwd = vm2.get("rx_packets", 0) > 0 and vm2.get("tx_packets", 0) > 0
        detail = f"vm2 rx {vm2.get('rx_packets')} tx {vm2.get('tx_packets')}"
        good = fwd
        if "offload" in vm2:
            gso = (vm2["offload"] or {}).get("gso_segments", 0)
            tso = off2.get("tcp-segmentation-offload")
            good = good and isinstance(gso, int) and gso > 0 and tso == "off"
            detail += f", gso_segments {gso}, guest 2 tcp-segmentation-offload {tso}"
        else:
            detail += ", no offload counters in this hugelinkd"
        tap.result(15, good, detail)

        tap.result(16, all(s == 0 for _, s in statuses), str(statuses))
        for g in guests:
            g.kill()
        now = [None]

        def settled():
            now[0] = buffers_in_use(build, ctl)
            return now[0] is not None and now[0] == idle
        tap.result(17, idle is not None and wait_for(settled, 10), f"idle {idle}, now {now[0]}")
    finally:
        for g in guests:
            g.kill()
        qemu_guest.stop(ns_server)
        clean = stop_daemon(daemon)
        gone, in_ns = True, ""
        if ns_made:
            # whatever still runs in the namespace is ours and would keep it alive
            in_ns = sh("ip", "netns", "pids", ns)[1] if ns in sh("ip", "netns", "list")[1].split() else ""
            sh("ip", "netns", "del", ns)
            gone = ns not in sh("ip", "netns", "list")[1].split()
        left = our_processes([run, pool])
        good = clean and gone and not left and not in_ns.strip()
        tap.result(18, good, f"{time.monotonic() - t_start:.0f} s in all" if good else
                   f"hugelinkd clean: {clean}, namespace gone: {gone}, left: {left}, in the namespace: {in_ns}")
        tap.fail_rest("not run")
        shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
