#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""TCP throughput between two QEMU guests through hugelinkd and through Open vSwitch with DPDK.

usage: iperf_guests.py BUILD_DIR [--rounds N] [--seconds S] [--no-ovs] [--keep-logs] [--hugelinkd-arg ARG]

The same two guests (TCG, one vCPU, 256 MiB shared memfd each, the kernel
and initramfs of scripts/guest/build-guest.sh) run `iperf3 -J` between them,
guest 1 to guest 2 and back (-R), one TCP stream, through each of:

  hugelinkd       two vhost-user client ports, guest offloads as hugelinkd offers them
  hugelinkd-off   the same with `--offload off` on both ports (TCP in MTU-sized frames)
  ovs-dpdk        Open vSwitch 3.1 with DPDK, userspace-tso-enable=true, ports
                  dpdkvhostuserclient on the default NORMAL bridge

Every QEMU listens on its vhost-user socket (server=on,wait=off) and each
switch connects as the client, so the guests' command lines are identical
whichever switch carries them. Guests boot anew for every switch and round,
since a virtio-net driver keeps the features it negotiated at boot. The
switches take turns: each round starts one later in their order and swaps
which direction runs first, so a slow spell of the host does not fall on
one switch alone. The switch's forwarding thread (hugelinkd's worker, OVS's
PMD) is on CPU 1; the guests float.

One JSON line per (hugelinkd variant, OVS, direction) on stdout: the median
Mbit/s (receiver side) of each over the rounds with min and max, the median
of the per-round ratios hugelinkd/OVS with min and max, the median sender
retransmits, the guests' checksum errors, and the rounds counted. A line
whose switch could not be measured says why in "error", and the exit status
is then 1 (a hugelinkd without guest offloads refuses `--offload off`).
Progress goes to stderr; logs stay in BUILD_DIR/bench-iperf-guests.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "guest"))
import iperf_guest as ig  # noqa: E402
import qemu_guest  # noqa: E402
from qemu_guest import Guest, MissingPrerequisite  # noqa: E402
from guest_test import build_guest, hlctl, hugepage_dir, start_daemon, stop_daemon, tail, wait_for  # noqa: E402

GUEST_MEM_MB = 256
MAC1, MAC2 = "52:54:00:48:4c:41", "52:54:00:48:4c:42"
IP1, IP2 = "10.0.0.1", "10.0.0.2"
SWITCH_CPU, MAIN_CPU = 1, 0
DIRS = ("g1-g2", "g2-g1")
OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def say(*a):
    print("iperf_guests:", *a, file=sys.stderr, flush=True)


class SwitchError(Exception):
    pass


class Hugelinkd:
    def __init__(self, build, top, offload_off, extra=()):
        self.build, self.top, self.offload_off, self.extra = build, top, offload_off, list(extra)
        self.name = "hugelinkd-off" if offload_off else "hugelinkd"
        self.proc = None

    def start(self, tag):
        self.run = tempfile.mkdtemp(prefix="hlbi.")  # short: socket paths max 107 bytes
        self.ctl = os.path.join(self.run, "hugelinkd.sock")
        self.log = os.path.join(self.top, f"{tag}-hugelinkd.log")
        self.proc = start_daemon(self.build, self.run, self.ctl, self.log, f"hlbi-{os.getpid()}",
                                 "--cpu", str(SWITCH_CPU), *self.extra)
        if self.proc is None:
            raise SwitchError(f"hugelinkd did not start: {tail(self.log, 5)}")

    def connect(self, socks):
        for name, s in zip(("vm1", "vm2"), socks):
            extra = ["--offload", "off"] if self.offload_off else []
            rc, out, err = hlctl(self.build, self.ctl, "port", "add", "vhost", name, "--client", s, *extra)
            if rc != 0:
                raise SwitchError(f"hlctl port add vhost {name} --client {s} {' '.join(extra)}: exit {rc}: "
                                  f"{(err or out).strip().splitlines()[:1]}")

    def counters(self):
        rc, out, _ = hlctl(self.build, self.ctl, "stats", "--json")
        try:
            ports = json.loads(out)["ports"] if rc == 0 else []
        except (ValueError, KeyError):
            return {}
        return {p["name"]: p["offload"] for p in ports if isinstance(p.get("offload"), dict)}

    def stop(self):
        ok = stop_daemon(self.proc)
        self.proc = None
        shutil.rmtree(getattr(self, "run", ""), ignore_errors=True)
        return ok


class Ovs:
    """ovsdb-server and ovs-vswitchd-dpdk from a private directory, children of this process."""

    name = "ovs-dpdk"

    def __init__(self, top, hugedir):
        self.top, self.hugedir = top, hugedir
        self.db_proc = self.sw_proc = None
        self.tso = None

    @staticmethod
    def missing():
        for path in (OVS_VSWITCHD, OVS_SCHEMA):
            if not os.path.exists(path):
                return f"no {path} (apt-get install openvswitch-switch-dpdk, or scripts/setup-host.sh --bench)"
        for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-appctl"):
            if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
                return f"{tool} not found (openvswitch-switch)"
        return None

    @staticmethod
    def hugepages():
        """(the hugetlbfs mount OVS-DPDK gets, None), or (None, why Open vSwitch cannot run here)."""
        hp = hugepage_dir(128 + 32)
        return hp, Ovs.missing() or (None if hp else "no hugetlbfs with 160 free 2 MiB pages (DPDK needs 128)")

    def _vsctl(self, *args, check=True):
        r = subprocess.run(["ovs-vsctl", "--timeout=60", f"--db=unix:{self.dir}/run/db.sock", *args],
                           env=self.env, capture_output=True, text=True, timeout=90)
        if check and r.returncode != 0:
            raise SwitchError(f"ovs-vsctl {' '.join(args)}: {(r.stderr or r.stdout).strip()}")
        return r.stdout.strip()

    def start(self, tag):
        self.dir = tempfile.mkdtemp(prefix="hlbovs.")
        for sub in ("run", "db", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        self.prefix = f"hlbi{os.getpid()}"
        self.log = os.path.join(self.dir, "log", "ovs-vswitchd.log")
        self.keep_log = os.path.join(self.top, f"{tag}-ovs-vswitchd.log")
        # every OVS tool finds its files here, not in /etc or /var
        self.env = dict(os.environ, OVS_RUNDIR=f"{self.dir}/run", OVS_DBDIR=f"{self.dir}/db",
                        OVS_SYSCONFDIR=f"{self.dir}/db", OVS_LOGDIR=f"{self.dir}/log",
                        PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        db = f"{self.dir}/db/conf.db"
        r = subprocess.run(["ovsdb-tool", "create", db, OVS_SCHEMA], env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SwitchError(f"ovsdb-tool create: {r.stderr.strip()}")
        self.db_proc = qemu_guest.spawn(
            ["ovsdb-server", db, f"--remote=punix:{self.dir}/run/db.sock",
             f"--pidfile={self.dir}/run/ovsdb-server.pid", f"--log-file={self.dir}/log/ovsdb-server.log"],
            os.path.join(self.dir, "log", "ovsdb-console.log"), env=self.env)
        if not wait_for(lambda: os.path.exists(f"{self.dir}/run/db.sock") or self.db_proc.poll() is not None, 10) \
                or self.db_proc.poll() is not None:
            raise SwitchError("ovsdb-server did not start")
        self._vsctl("--no-wait", "init")
        # userspace-tso-enable is read once at start: it goes in before ovs-vswitchd runs
        self._vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                    "other_config:dpdk-socket-mem=256", "other_config:dpdk-socket-limit=256",
                    f"other_config:dpdk-lcore-mask={1 << MAIN_CPU:#x}",
                    f"other_config:pmd-cpu-mask={1 << SWITCH_CPU:#x}",
                    f"other_config:dpdk-hugepage-dir={self.hugedir}",
                    f"other_config:dpdk-extra=--file-prefix={self.prefix} --no-pci --huge-unlink",
                    "other_config:userspace-tso-enable=true")
        self.sw_proc = qemu_guest.spawn(
            [OVS_VSWITCHD, f"unix:{self.dir}/run/db.sock", f"--pidfile={self.dir}/run/ovs-vswitchd.pid",
             f"--log-file={self.log}"], os.path.join(self.dir, "log", "vswitchd-console.log"), env=self.env)
        if not wait_for(lambda: self.sw_proc.poll() is not None or
                        self._vsctl("get", "Open_vSwitch", ".", "dpdk_initialized", check=False) == "true", 60, 0.2) \
                or self.sw_proc.poll() is not None:
            raise SwitchError(f"ovs-vswitchd-dpdk did not initialise DPDK: {tail(self.log, 8)}")
        # what the comparison is about: OVS taking the guests' 64 KiB frames as they are
        with open(self.log, errors="replace") as f:
            self.tso = "Userspace TCP Segmentation Offloading support enabled" in f.read()
        self._vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")

    def connect(self, socks):
        for i, s in enumerate(socks, start=1):
            self._vsctl("add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}", "type=dpdkvhostuserclient",
                        f"options:vhost-server-path={s}", f"ofport_request={i}")

    def counters(self):
        return {}

    def stop(self):
        # the documented way first, so the ports and DPDK close in order
        if self.sw_proc is not None and self.sw_proc.poll() is None:
            ctl = f"{self.dir}/run/ovs-vswitchd.{self.sw_proc.pid}.ctl"
            subprocess.run(["ovs-appctl", "-t", ctl, "exit", "--cleanup"], env=self.env, capture_output=True,
                           timeout=20)
            try:
                self.sw_proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        qemu_guest.stop(self.sw_proc)
        qemu_guest.stop(self.db_proc)
        self.sw_proc = self.db_proc = None
        if getattr(self, "dir", None):
            if os.path.exists(self.log):
                shutil.copy(self.log, self.keep_log)
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        return True


def one_round(sw, tag, guest_dir, logs, seconds, dirs):
    """Boot both guests on sw and run iperf3 in the order of dirs: {dir: IperfRun}, guest 1's offloads, errors."""
    socks_dir = tempfile.mkdtemp(prefix="hlbq.")
    socks = [os.path.join(socks_dir, "vm1.sock"), os.path.join(socks_dir, "vm2.sock")]
    kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
    args = {"g1-g2": ["-t", seconds, "-O", 1], "g2-g1": ["-t", seconds, "-O", 1, "-R"]}
    timeout = 90 + 3 * seconds
    g2 = Guest(f"{tag}-guest2", logs, kernel, initramfs, ig.server_script(IP2, timeout - 10),
               vhost_sockets=[(socks[1], MAC2, "server")], mem_mb=GUEST_MEM_MB, memfd=True)
    g1 = Guest(f"{tag}-guest1", logs, kernel, initramfs,
               ig.client_script(IP1, [(d, IP2, args[d]) for d in dirs], [IP2], 30),
               vhost_sockets=[(socks[0], MAC1, "server")], mem_mb=GUEST_MEM_MB, memfd=True)
    try:
        sw.start(tag)
        g2.start()
        g1.start()
        if not wait_for(lambda: all(os.path.exists(s) for s in socks), 30, 0.1):
            raise SwitchError(f"QEMU did not listen on {socks}: {g1.output()[-300:]} {g2.output()[-300:]}")
        sw.connect(socks)
        out1 = g1.wait(timeout)
        out2 = g2.wait(20)
        counters = sw.counters()
        res = ig.parse_iperf(out1)
        csum = sum(ig.csum_errors(ig.parse_snmp(out1)).values()) + sum(ig.csum_errors(ig.parse_snmp(out2)).values())
        return res, ig.parse_offloads(out1), csum, counters
    finally:
        g1.kill()
        g2.kill()
        sw.stop()
        shutil.rmtree(socks_dir, ignore_errors=True)


def spread(values):
    return (statistics.median(values), min(values), max(values)) if values else (None, None, None)


def print_result(line, error=None):
    """A benchmark's JSON result line, with `error` (short, no double quotes) when there is one: 1 if so, else 0."""
    if error:
        line["error"] = error.replace('"', "'")[:300]
    print(json.dumps(line, separators=(",", ":")), flush=True)
    return 1 if error else 0


def r2(x, nd=2):
    return None if x is None else round(x, nd)


def main():
    ap = argparse.ArgumentParser(description="iperf3 between two guests: hugelinkd against Open vSwitch (DPDK).")
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--no-ovs", action="store_true", help="measure hugelinkd only")
    ap.add_argument("--hugelinkd-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for hugelinkd (repeatable), e.g. --hugelinkd-arg=--idle-us=50")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    src = os.path.abspath(os.path.join(HERE, "..", ".."))
    logs = os.path.join(build, "bench-iperf-guests")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    guest_dir = os.path.join(build, "guest")
    # a stop signal unwinds through the finally blocks, which stop QEMU and the switches
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))

    rc, blog = build_guest(src, guest_dir, logs)
    if rc != 0:
        say(f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc}): {tail(blog, 5)}")
        return 1
    if not ig.guest_has_iperf3(guest_dir):
        say("MISSING PREREQUISITE: the guest has no iperf3 (install iperf3: scripts/setup-host.sh)")
        return 1
    try:
        qemu_guest.qemu_binary()
    except MissingPrerequisite as e:
        say(f"MISSING PREREQUISITE: {e}")
        return 1

    switches = [Hugelinkd(build, logs, False, a.hugelinkd_arg), Hugelinkd(build, logs, True, a.hugelinkd_arg)]
    ovs_error = None
    if not a.no_ovs:
        hp, ovs_error = Ovs.hugepages()
        if ovs_error is None:
            switches.append(Ovs(logs, hp))
        else:
            say(f"Open vSwitch cannot run: {ovs_error}")

    # results[switch name][dir] = [(round, IperfRun)], errors[switch name] = first error
    results = {s.name: {d: [] for d in DIRS} for s in switches}
    csums = {s.name: 0 for s in switches}
    feats, errors, counters = {}, {}, {}
    broken = set()
    t0 = time.monotonic()
    for rnd in range(a.rounds):
        # the turn goes round the switches that still run, so the two compared keep alternating
        live = [s for s in switches if s.name not in broken]
        order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
        dirs = DIRS if rnd % 2 == 0 else DIRS[::-1]
        for sw in order:
            tag = f"r{rnd}-{sw.name}"
            try:
                res, off, csum, cnt = one_round(sw, tag, guest_dir, logs, a.seconds, dirs)
            except SwitchError as e:
                errors.setdefault(sw.name, str(e))
                broken.add(sw.name)  # a switch that cannot start will not start next round either
                say(f"{tag}: {e}")
                continue
            feats[sw.name] = off
            csums[sw.name] += csum
            if cnt:
                counters[sw.name] = cnt
            for d in DIRS:
                r = res.get(d)
                if r is not None and r.ok:
                    results[sw.name][d].append((rnd, r))
                else:
                    errors.setdefault(sw.name, f"{d}: {r.summary() if r else 'no result on the console'}")
            say(f"{tag}: " + "; ".join(res[d].summary() for d in dirs if d in res) +
                f" (guest TSO {off.get('tcp-segmentation-offload')}, {time.monotonic() - t0:.0f} s)")

    ovs = Ovs.name
    ovs_sw = next((s for s in switches if isinstance(s, Ovs)), None)
    bad = 0
    for name in ("hugelinkd", "hugelinkd-off"):
        for d in DIRS:
            mine = dict(results[name][d])
            theirs = dict(results.get(ovs, {}).get(d, []))
            mbps = spread([r.received_bps / 1e6 for r in mine.values()])
            vs = spread([r.received_bps / 1e6 for r in theirs.values()])
            both = sorted(set(mine) & set(theirs))
            ratio = spread([mine[k].received_bps / theirs[k].received_bps for k in both])
            line = {"bench": "iperf_guests", "switch": "hugelinkd", "offload": "off" if name.endswith("off") else "on",
                    "label": "hugelinkd --offload off" if name.endswith("off") else "hugelinkd", "vs": ovs, "dir": d,
                    "streams": 1, "seconds": a.seconds,
                    "mbps": r2(mbps[0], 1), "min_mbps": r2(mbps[1], 1), "max_mbps": r2(mbps[2], 1),
                    "vs_mbps": r2(vs[0], 1), "vs_min_mbps": r2(vs[1], 1), "vs_max_mbps": r2(vs[2], 1),
                    "ratio": r2(ratio[0], 3), "ratio_min": r2(ratio[1], 3), "ratio_max": r2(ratio[2], 3),
                    "retransmits": spread([r.retransmits for r in mine.values() if r.retransmits is not None])[0],
                    "vs_retransmits": spread([r.retransmits for r in theirs.values()
                                              if r.retransmits is not None])[0],
                    "guest_tso": feats.get(name, {}).get("tcp-segmentation-offload"),
                    "vs_guest_tso": feats.get(ovs, {}).get("tcp-segmentation-offload"),
                    "vs_userspace_tso": ovs_sw.tso if ovs_sw else None,
                    "csum_errors": csums.get(name), "vs_csum_errors": csums.get(ovs),
                    "rounds": len(mine), "vs_rounds": len(theirs), "ratio_rounds": len(both)}
            if name in counters:
                line["offload_counters"] = counters[name]
            why = None
            if not mine:
                why = errors.get(name, "no round completed")
            elif not theirs:
                why = errors.get(ovs) or ovs_error or "Open vSwitch: no round completed"
            bad += print_result(line, why)
    say(f"done in {time.monotonic() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
