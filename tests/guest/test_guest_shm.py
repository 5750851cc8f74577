#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A QEMU guest and a host process on shm ports of hugelinkd, across a switch crash.

usage: test_guest_shm.py SOURCE_DIR BUILD_DIR

hugelinkd's whole pool is the guest's ivshmem-plain BAR (what `hlctl
qemu-args` prints). In the guest, the static hlshm finds the device, reads
the pool's record from the BAR's first page and attaches to port "guest";
on the host, hlshm attaches to port "host" through the record file. Each
sends checked frames to the other through the switch, both directions at
once. Mid-run the switch is killed with SIGKILL and started again: it takes
the pool over (hl_shm_recover) while the guest and the process keep their
mappings, and traffic resumes with no restart of QEMU or the process. At the
end the switch's buffers in use equal exactly what the peers hold.

Logs of the last run stay in BUILD_DIR/guest-shm-test.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_guest  # noqa: E402
from qemu_guest import Guest, MissingPrerequisite  # noqa: E402
from guest_test import build_guest, hlctl, nothing_left, start, start_daemon, tail, wait_for  # noqa: E402

RUN_S = 25
GMAC, HMAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"

CASES = [
    "guest kernel and initramfs built",
    "hugelinkd started with two shm ports; qemu-args names the pool as an ivshmem BAR",
    "the guest attached through its BAR and received frames from the host process",
    "the host process received frames from the guest",
    "hugelinkd killed with SIGKILL under traffic; QEMU and the process keep running",
    "a new hugelinkd took the pool over and re-created both shm ports",
    "traffic resumed both ways after the restart",
    "every frame either side received was intact (payload checked)",
    "the switch's buffers in use equal what the peers hold, to the buffer",
    "stats report the outage",
    "hugelinkd stopped cleanly; no QEMU, hlshm or hugelinkd left running",
]


def progress(text):
    """The rx counts of hlshm's per-second progress lines, in order."""
    out = []
    for line in text.splitlines():
        m = re.search(r'\{"progress".*\}', line)
        if m:
            try:
                out.append(json.loads(m.group(0))["rx_packets"])
            except ValueError:
                pass
    return out


def final(text):
    for line in text.splitlines():
        m = re.search(r'\{"shm-peer".*\}', line)
        if m:
            try:
                return json.loads(m.group(0))
            except ValueError:
                pass
    return None


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-shm-test")
    run = tempfile.mkdtemp(prefix="hlgshm.")
    ctl = os.path.join(run, "hugelinkd.sock")
    dlog = os.path.join(logs, "hugelinkd.log")
    name = f"hlgshm-{os.getpid()}"
    daemon = host = None
    guest = None
    host_out = os.path.join(logs, "hlshm-host.log")
    try:
        guest_dir = os.path.join(build, "guest")
        rc, blog = build_guest(src, guest_dir, logs)
        if rc != 0:
            tap.result(0, False, f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc})", tail(blog))
            tap.fail_rest("not run: MISSING PREREQUISITE: no guest kernel/initramfs")
            return 1
        tap.result(0, True)
        static = os.path.join(build, "tools/hlshm-static")
        missing = [] if os.access(static, os.X_OK) else [f"{static} not built"]
        try:
            qemu_guest.qemu_binary()
        except MissingPrerequisite as e:
            missing.append(str(e))
        if missing:
            tap.fail_rest("not run: MISSING PREREQUISITE: " + "; ".join(missing))
            return 1

        daemon = start_daemon(build, run, ctl, dlog, name, "--buffers", "8192")
        ok = daemon is not None and all(hlctl(build, ctl, "port", "add", "shm", n)[0] == 0 for n in ("guest", "host"))
        rc, out, _ = hlctl(build, ctl, "qemu-args", "guest") if ok else (1, "", "")
        m = re.search(r"mem-path=(\S+?),share=on", out)
        pool_file = m.group(1) if m else None
        tap.result(1, ok and pool_file is not None and "ivshmem-plain" in out, out.strip(), tail(dlog))
        if not (ok and pool_file):
            tap.fail_rest("not run: no switch")
            return 1

        script = (f"hlshm-static --pci --port guest --mac {GMAC} --peer {HMAC} --size 256 "
                  f"--seconds {RUN_S} --progress\n")
        guest = Guest("guest", logs, os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz"),
                      script, extra_files=[static], ivshmem_file=pool_file, mem_mb=128)
        guest.start()
        with open(host_out, "w") as f:
            host = subprocess.Popen([os.path.join(build, "tools/hlshm"), "--record", os.path.join(run, name + ".meta"),
                                     "--port", "host", "--mac", HMAC, "--peer", GMAC, "--size", "256",
                                     "--seconds", str(RUN_S + 15), "--progress"], stdout=f, stderr=subprocess.STDOUT)

        def host_rx():
            with open(host_out) as f:
                return progress(f.read())

        got_g = wait_for(lambda: len([x for x in progress(guest.output()) if x > 0]) >= 2, 90)
        tap.result(2, got_g, "", guest.output()[-1500:])
        got_h = wait_for(lambda: len([x for x in host_rx() if x > 0]) >= 2, 30)
        tap.result(3, got_h, "", tail(host_out))
        if not (got_g and got_h):
            tap.fail_rest("not run: no traffic before the crash")
            return 1

        # the crash, under traffic
        daemon.kill()
        daemon.wait()
        daemon = None
        before_g, before_h = len(progress(guest.output())), len(host_rx())
        time.sleep(1.0)
        tap.result(4, guest.running() and host.poll() is None, f"QEMU {guest.running()}, hlshm {host.poll() is None}")
        daemon = start_daemon(build, run, ctl, dlog, name, "--buffers", "8192")
        rc, out, _ = hlctl(build, ctl, "port", "list", "--json") if daemon else (1, "", "")
        names = sorted(p["name"] for p in json.loads(out)["ports"]) if rc == 0 else []
        tap.result(5, names == ["guest", "host"], f"{names}; " + " ".join(
            l for l in tail(dlog, 40).splitlines() if "took over" in l), tail(dlog))

        def resumed():
            g, h = progress(guest.output()), host_rx()
            return len(g) > before_g + 2 and len(h) > before_h + 2 and g[-1] > g[before_g] and h[-1] > h[before_h]

        tap.result(6, wait_for(resumed, 30), "", guest.output()[-800:] + tail(host_out, 5))

        gout = guest.wait(RUN_S + 60)
        host.send_signal(signal.SIGINT)
        host.wait(30)
        with open(host_out) as f:
            hres = final(f.read())
        gres = final(gout)
        print(f"# guest: {gres}\n# host: {hres}", flush=True)
        tap.result(7, gres is not None and hres is not None and gres["rx_bad"] == 0 and hres["rx_bad"] == 0
                   and gres["rx_packets"] > 0 and hres["rx_packets"] > 0, f"guest {gres}, host {hres}")

        rc, out, _ = hlctl(build, ctl, "stats", "--json")
        st = json.loads(out) if rc == 0 else {}
        held = sum(p.get("peer_held", 0) for p in st.get("ports", []))
        in_use = st.get("buffers", {}).get("in_use", -1)
        tap.result(8, rc == 0 and in_use == held, f"in use {in_use}, held by peers {held}")
        tap.result(9, st.get("last_outage_s", 0) >= 0.5, f"{st.get('last_outage_s')} s")
    finally:
        if guest is not None:
            guest.kill()
        if host is not None and host.poll() is None:
            host.kill()
        nothing_left(tap, 10, daemon, [name, run], run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
