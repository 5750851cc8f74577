#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Host-kernel TCP through hugelinkd's TAP ports, with and without offloads.

usage: test_tap_offload.py BUILD_DIR

Two network namespaces, each holding one TAP device of a hugelinkd switch
(the interface is moved in after the port is created; hugelinkd keeps its
fd), so the Linux kernel is the peer on both sides. iperf3 runs between
them for a few seconds each way:
  - with offloads on (the default), the kernel hands the switch TCP frames
    of up to 64 KiB and takes them back as they are: the TAP ports'
    average frame must be far above an MTU, and nothing is segmented;
  - with one port's offloads off, frames to it are segmented (and their
    checksums computed) by hugelink in software, counted in the port's
    offload counters;
and in every case the kernels count no checksum error (InCsumErrors) and
the switch's buffers in use return to idle. Prints TAP, plan first.
"""
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import hlnet  # noqa: E402
from hlnet import csum_errors, sh  # noqa: E402
from hltap import Tap  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS = [f"hlto{TAG}a", f"hlto{TAG}b"]
ADDR = ["10.231.0.1", "10.231.0.2"]
SECONDS = 3


def iperf(reverse):
    """iperf3 from namespace a to b (or back with -R): (ok, Mbit/s, detail)."""
    return hlnet.iperf(NS[0], NS[1], ADDR[1], SECONDS, reverse)


def run(tap, sw):
    ok = sw.start()
    tap.check(ok, "hugelinkd started")
    if not ok:
        return
    base = sw.stats().get("buffers", {}).get("in_use", -1)
    for phase, off in (("offloads on", False), ("offloads off on port b", True)):
        for i, ns in enumerate(NS):
            name = "ab"[i]
            args = ["port", "add", "tap", name, "--ifname", f"hlt{TAG}{name}"]
            if off and name == "b":
                args += ["--offload", "off"]
            rc, _, err = sw.hlctl(*args)
            if rc != 0:
                raise RuntimeError(f"port add tap {name}: {err}")
            dev = f"hlt{TAG}{name}"
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ADDR[i]}/24", "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        errs0 = [csum_errors(ns) for ns in NS]
        good, mbit, why = iperf(False)
        tap.check(good, f"{phase}: TCP a -> b through two TAP ports completes", why)
        good2, mbit2, why2 = iperf(True)
        tap.check(good2, f"{phase}: TCP b -> a completes", why2)
        tap.diag(f"{phase}: {mbit:.0f} Mbit/s a->b, {mbit2:.0f} Mbit/s b->a")
        a, b = sw.port("a"), sw.port("b")
        ola, olb = a.get("offload", {}), b.get("offload", {})
        if not off:
            avg = a.get("rx_bytes", 0) / max(1, a.get("rx_packets", 1))
            tap.check(avg > 4000 and ola.get("accepted", 0) > 0 and ola.get("gso_segments", 1) == 0 and
                      olb.get("gso_segments", 1) == 0,
                      "offloads on: the kernel's TCP crossed as big frames, none segmented in software",
                      f"average frame {avg:.0f} B, a {ola}, b {olb}")
        else:
            tap.check(olb.get("gso_segments", 0) > 0 and olb.get("gso_frames", 0) > 0,
                      "offload off on b: frames to b were segmented in software",
                      f"b {olb}")
        errs = [csum_errors(ns) for ns in NS]
        tap.check(all(e >= 0 for e in errs) and errs == errs0, f"{phase}: no TCP checksum error in either kernel",
                  f"InCsumErrors before {errs0}, after {errs}")
        for name in "ab":
            sw.hlctl("port", "del", name)
        in_use = sw.stats().get("buffers", {}).get("in_use", -2)
        tap.check(in_use == base, f"{phase}: buffers in use back to idle", f"{in_use} vs {base}")
    rc = sw.stop()
    tap.check(rc == 0, "hugelinkd stopped cleanly", f"exit {rc}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    tap = Tap(12)
    missing = [t for t in ("ip", "iperf3") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        for _ in range(12):
            tap.check(False, "MISSING PREREQUISITE", f"needs root and {missing} (make test installs iperf3)")
        return 1
    work = tempfile.mkdtemp(prefix="hl-tapol.")
    sw = hlnet.Switch(build, work, f"hl-tapol-{TAG}")
    try:
        for ns in NS:
            sh("ip", "netns", "add", ns)
        run(tap, sw)
    except Exception as e:  # a set-up step failed: the plan's remaining checks fail
        tap.diag(f"stopped: {e}")
    finally:
        sw.stop()
        for ns in NS:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
