#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelink's demo: the switch with two vhost-user ports and traffic both ways.

usage: demo.py BUILD_DIR [--seconds S] [--size B] [--vm]

Starts hugelinkd on a private control socket, adds two vhost ports (server
mode), attaches a traffic endpoint to each (hltraffic, a virtio-net device in
user space), runs traffic both ways while `hlctl top` shows the live table,
then prints a summary and stops everything. With --vm, two small Linux
guests (QEMU, TCG) ping each other through the switch instead.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

MAC1, MAC2 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def run(cmd, **kw):
    return subprocess.run(cmd, check=False, text=True, **kw)


def hlctl(build, ctl, *args):
    r = run([os.path.join(build, "tools/hlctl"), "--ctl", ctl, *args], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"hlctl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def start_daemon(build, work, ctl):
    log = open(os.path.join(work, "hugelinkd.log"), "w")
    d = subprocess.Popen([os.path.join(build, "tools/hugelinkd"), "--foreground", "--ctl", ctl,
                          "--run-dir", work, "--pool-mb", "128"],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(ctl) and run([os.path.join(build, "tools/hlctl"), "--ctl", ctl, "ping"],
                                       capture_output=True).returncode == 0:
            return d
        if d.poll() is not None:
            break
        time.sleep(0.05)
    d.kill()
    log.flush()
    raise RuntimeError("hugelinkd did not start:\n" + open(log.name).read())


def traffic_demo(build, work, ctl, seconds, size):
    s1, s2 = os.path.join(work, "vm1.sock"), os.path.join(work, "vm2.sock")
    hlctl(build, ctl, "port", "add", "vhost", "vm1", "--server", s1)
    hlctl(build, ctl, "port", "add", "vhost", "vm2", "--server", s2)
    print(hlctl(build, ctl, "port", "list"))
    # one process drives both endpoints, so one core is left for the switch
    gen = subprocess.Popen(
        [os.path.join(build, "tools/hltraffic"), "--endpoint", f"{s1},{MAC1},{MAC2}",
         "--endpoint", f"{s2},{MAC2},{MAC1}", "--size", str(size), "--seconds", str(seconds), "--run-dir", work],
        stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    run([os.path.join(build, "tools/hlctl"), "--ctl", ctl, "top", "--count", str(max(1, int(seconds) - 1))])
    out, _ = gen.communicate(timeout=seconds + 30)
    results = [(gen.returncode, json.loads(l)) for l in out.strip().splitlines() if '"endpoint"' in l]
    if len(results) != 2:
        raise RuntimeError("hltraffic did not report: " + out)
    stats = json.loads(hlctl(build, ctl, "stats", "--json"))
    macs = hlctl(build, ctl, "mac")

    print("\nsummary (%d B frames, %.0f s, both directions at once)" % (size, seconds))
    print("%-6s %12s %12s %9s %9s %8s" % ("port", "sent", "received", "Mpps", "Gbit/s", "checked"))
    ok = True
    for name, (rc, r) in zip(("vm1", "vm2"), results):
        good = rc == 0 and r["rx_bad"] == 0
        ok = ok and good and r["rx_packets"] > 0
        print("%-6s %12d %12d %9.3f %9.3f %8s" % (name, r["tx_packets"], r["rx_packets"], r["rx_mpps"],
                                                  r["rx_gbps"], "ok" if good else "BAD"))
    print("\nswitch counters")
    print("%-6s %12s %12s %10s %8s" % ("port", "rx", "tx", "drops", "zcopy"))
    for p in stats["ports"]:
        drops = sum(p["drops"].values())
        moved = p["zcopy_packets"] + p["copy_packets"]
        share = 100.0 * p["zcopy_packets"] / moved if moved else 0
        print("%-6s %12d %12d %10d %7.1f%%" % (p["name"], p["rx_packets"], p["tx_packets"], drops, share))
        if drops:
            print("       drops: " + ", ".join(f"{k} {v}" for k, v in p["drops"].items() if v))
    print("\nMAC table\n" + macs)
    print("buffers in use in the switch: %d of %d" % (stats["buffers"]["in_use"], stats["buffers"]["total"]))
    return ok


def vm_demo(build, src, work, ctl):
    sys.path.insert(0, os.path.join(src, "tests/guest"))
    from qemu_guest import Guest, MissingPrerequisite  # noqa: E402
    guest_dir = os.path.join(build, "guest")
    r = run(["bash", os.path.join(src, "scripts/guest/build-guest.sh"), guest_dir])
    if r.returncode != 0:
        raise RuntimeError("could not build the guest kernel and initramfs")
    s1, s2 = os.path.join(work, "vm1.sock"), os.path.join(work, "vm2.sock")
    hlctl(build, ctl, "port", "add", "vhost", "vm1", "--server", s1)
    hlctl(build, ctl, "port", "add", "vhost", "vm2", "--server", s2)
    g2 = Guest("guest2", work, os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz"),
               "ip link set eth0 up; ip addr add 10.0.0.2/24 dev eth0; echo guest2 up;"
               " timeout 120 nc -l -p 7777 </dev/null",
               vhost_sockets=[(s2, MAC2, "client", 1)])
    g1 = Guest("guest1", work, os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz"),
               "ip link set eth0 up; ip addr add 10.0.0.1/24 dev eth0; i=0;"
               " until ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || break; done;"
               " ping -c 5 10.0.0.2; rc=$?; echo bye | nc -w 3 10.0.0.2 7777; exit $rc",
               vhost_sockets=[(s1, MAC1, "client", 1)])
    try:
        g2.start()
        g1.start()
        out = g1.wait(180)
        g2.wait(60)
    except MissingPrerequisite as e:
        raise RuntimeError(str(e))
    finally:
        g1.kill()
        g2.kill()
    print("\n".join(l for l in out.splitlines() if "ping" in l.lower() or "bytes from" in l or "packets" in l))
    print(hlctl(build, ctl, "stats"))
    return g1.status == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--vm", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="hugelink-demo.")
    ctl = os.path.join(work, "hugelinkd.sock")
    daemon = None
    ok = False
    try:
        daemon = start_daemon(build, work, ctl)
        print(f"hugelinkd running (control socket {ctl})\n")
        ok = vm_demo(build, src, work, ctl) if a.vm else traffic_demo(build, work, ctl, a.seconds, a.size)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"demo: {e}", file=sys.stderr)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("\ndemo %s" % ("finished" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
