#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two QEMU guests ping each other through DPDK testpmd (TAP output).

usage: test_guests_testpmd.py SOURCE_DIR BUILD_DIR

testpmd runs two net_vhost ports in server mode and forwards between them
(--forward-mode=io: a virtual cable). Guest 1 (10.0.0.1) sits on port 0,
guest 2 (10.0.0.2) on port 1; guest 1 pings guest 2. Guest 2 also has an
ivshmem-plain device on a host file and runs a static helper that reads the
host's text from BAR 2 and writes a reply.

The guest kernel and initramfs are built by scripts/guest/build-guest.sh into
BUILD_DIR/guest (reused between runs); logs of the last run are kept in
BUILD_DIR/guest-test. A missing prerequisite (QEMU, testpmd, the kernel
download, a C compiler with a static libc) fails the cases that need it with
"MISSING PREREQUISITE: ...".
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_guest  # noqa: E402
from qemu_guest import Guest, MissingPrerequisite, spawn, stop  # noqa: E402
from guest_test import (build_guest, hugepage_dir, our_processes, sh_eth0, sh_say_done, sh_wait_done,  # noqa: E402
                        sh_wait_for_ping, start, tail)

TESTPMD = "dpdk-testpmd"
GUEST_MEM_MB = 256
IVSHMEM_SIZE = 1 << 20
HOST_TEXT = "hello from the host"
GUEST_REPLY = "reply from guest2"
RUN_PREFIX = "hl-guest-"  # + pid: testpmd --file-prefix, socket dir, ivshmem file
GUEST_TIMEOUT = 150  # seconds, per guest; a hang guard, not a measurement

CASES = [
    "guest kernel and initramfs built",
    "static guest helper compiled",
    "testpmd started with two vhost-user server ports",
    "guest 2 booted with 10.0.0.2 and powered off cleanly",
    "guest 1 pinged guest 2 through testpmd: 3 packets received",
    "ivshmem: guest read the host's text and the host read the guest's reply",
    "testpmd forwarded guest 1 -> guest 2 (port 0 RX, port 1 TX)",
    "testpmd forwarded guest 2 -> guest 1 (port 1 RX, port 0 TX)",
    "no QEMU or testpmd process left running",
]

GUEST1_SH = sh_eth0("guest1", "10.0.0.1") + """\
# wait until guest 2 is up and answers
""" + sh_wait_for_ping("guest1", "10.0.0.2", 60, "break") + """\
ping -c 3 -W 5 10.0.0.2
rc=$?
# tell guest 2 it can power off
""" + sh_say_done("10.0.0.2") + "exit $rc\n"

GUEST2_SH = sh_eth0("guest2", "10.0.0.2") + """\
rc=0
if [ -x /bin/ivshmem_probe ]; then
	ivshmem_probe "%(reply)s" || { echo "guest2: ivshmem_probe failed"; rc=1; }
fi
""" + sh_wait_done("guest2") + """\
echo "guest2: ICMP echo requests received: $(awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 } else print $col["InEchos"] }' /proc/net/snmp)"
exit $rc
"""


def forward_stats(log_text):
    """{port: (rx, tx)} from testpmd's last "Forward statistics for port N" blocks."""
    stats = {}
    for m in re.finditer(r"Forward statistics for port (\d+)\s*-*\s*\n\s*RX-packets:\s*(\d+).*\n"
                         r"\s*TX-packets:\s*(\d+)", log_text):
        stats[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
    return stats


def clean_stale():
    """Remove the socket directories and ivshmem files of runs that were killed."""
    for d in (tempfile.gettempdir(), "/dev/shm"):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = re.fullmatch(re.escape(RUN_PREFIX) + r"(\d+)(\.ivshmem)?", n)
            if not m or os.path.exists(f"/proc/{m.group(1)}"):
                continue
            path = os.path.join(d, n)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def main():
    src, build, tap, work = start(__doc__, CASES, "guest-test")
    guest_dir = os.path.join(build, "guest")
    clean_stale()
    prefix = f"{RUN_PREFIX}{os.getpid()}"
    sockdir = os.path.join(tempfile.gettempdir(), prefix)  # short: unix socket paths max 107 bytes
    shutil.rmtree(sockdir, ignore_errors=True)
    os.mkdir(sockdir, 0o700)
    ivshmem = f"/dev/shm/{prefix}.ivshmem"
    sock_a, sock_b = os.path.join(sockdir, "a.sock"), os.path.join(sockdir, "b.sock")
    testpmd = None
    guests = []
    started = time.monotonic()
    try:
        # 1: guest build
        rc, blog = build_guest(src, guest_dir, work)
        kernel = os.path.join(guest_dir, "vmlinuz")
        initramfs = os.path.join(guest_dir, "initramfs.cpio.gz")
        if rc != 0:
            tap.result(0, False, f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc})", tail(blog))
            tap.fail_rest("not run: MISSING PREREQUISITE: no guest kernel/initramfs")
            return 1
        with open(os.path.join(guest_dir, "kernel-version")) as f:
            print(f"# guest kernel {f.read().strip()}", flush=True)
        tap.result(0, True, tail(blog, 1).replace("build-guest: ", ""))

        # 2: static helper
        probe = os.path.join(work, "ivshmem_probe")
        cc = os.environ.get("HL_GUEST_CC") or shutil.which("cc") or shutil.which("gcc")
        if not cc:
            tap.result(1, False, "MISSING PREREQUISITE: no C compiler (cc/gcc)")
            probe = None
        else:
            p = subprocess.run([cc, "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", probe,
                                os.path.join(src, "tests/guest/ivshmem_probe.c")],
                               capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                tap.result(1, False, f"MISSING PREREQUISITE: {cc} -static failed (static libc: libc6-dev)",
                           p.stdout + p.stderr)
                probe = None
            else:
                tap.result(1, True, cc)

        # prerequisites for the rest
        missing = []
        try:
            qemu_guest.qemu_binary()
        except MissingPrerequisite as e:
            missing.append(str(e))
        testpmd_bin = shutil.which(TESTPMD)
        if not testpmd_bin:
            missing.append(f"{TESTPMD} not found (install dpdk-dev)")
        if missing:
            why = "MISSING PREREQUISITE: " + "; ".join(missing)
            print(f"# {why}", flush=True)
            tap.fail_rest(f"not run: {why}")
            return 1

        # 3: testpmd, two vhost-user server ports, io forwarding
        tlog = os.path.join(work, "testpmd.log")
        cmd = [testpmd_bin, "-l", "0,1", "--main-lcore", "0", "--no-pci", "--no-huge", "-m", "512",
               "--file-prefix", prefix,
               "--vdev", f"net_vhost0,iface={sock_a},queues=1",
               "--vdev", f"net_vhost1,iface={sock_b},queues=1",
               "--", "--nb-cores=1", "--forward-mode=io", "--total-num-mbufs=8192",
               "--stats-period", "1", "--no-lsc-interrupt"]
        if shutil.which("stdbuf"):
            cmd = ["stdbuf", "-oL", "-eL"] + cmd  # a live log, line by line
        with open(os.path.join(work, "testpmd.cmdline"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        testpmd = spawn(cmd, tlog)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and testpmd.poll() is None and \
                not (os.path.exists(sock_a) and os.path.exists(sock_b)):
            time.sleep(0.1)
        if not (os.path.exists(sock_a) and os.path.exists(sock_b)):
            tap.result(2, False, "the vhost-user sockets did not appear within 30s", tail(tlog))
            tap.fail_rest("not run: testpmd did not start")
            return 1
        tap.result(2, True)

        # guests: 2 first (it only answers), then 1 (it pings)
        with open(ivshmem, "wb") as f:
            f.truncate(IVSHMEM_SIZE)
            f.write(HOST_TEXT.encode() + b"\0")
        hp = hugepage_dir(2 * (GUEST_MEM_MB // 2) + 16)  # two guests, 2 MiB pages
        print(f"# guest RAM on {hp or '/dev/shm'}", flush=True)
        g2 = Guest("guest2", work, kernel, initramfs,
                   GUEST2_SH % {"reply": GUEST_REPLY, "wait": GUEST_TIMEOUT - 20},
                   extra_files=[probe] if probe else [],
                   vhost_sockets=[(sock_b, "52:54:00:48:4c:02", "client", 0)],
                   ivshmem_file=ivshmem, mem_mb=GUEST_MEM_MB, hugepage_dir=hp)
        g1 = Guest("guest1", work, kernel, initramfs, GUEST1_SH,
                   vhost_sockets=[(sock_a, "52:54:00:48:4c:01", "client", 0)],
                   mem_mb=GUEST_MEM_MB, hugepage_dir=hp)
        t0 = time.monotonic()
        for g in (g2, g1):
            guests.append(g)
            g.start()
        out1 = g1.wait(GUEST_TIMEOUT)
        t1 = time.monotonic() - t0
        # guest 2 powers off once guest 1 has said "done"; if guest 1 never
        # did, do not wait for guest 2's own time-out much longer
        out2 = g2.wait(GUEST_TIMEOUT if g1.status == 0 else 20)
        t2 = time.monotonic() - t0
        print(f"# guest 1 finished after {t1:.1f}s, guest 2 after {t2:.1f}s", flush=True)

        # 4: guest 2
        ok2 = g2.status == 0 and "is 10.0.0.2" in out2 and "guest1 said 'done'" in out2
        m = re.search(r"ICMP echo requests received: (\d+)", out2)
        tap.result(3, ok2, f"{m.group(1)} echo requests answered" if ok2 and m else
                   f"status {g2.status}, timed out: {g2.timed_out}", out2)

        # 5: the ping
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out1)
        received = int(m.group(2)) if m else 0
        ok1 = g1.status == 0 and received == 3
        tap.result(4, ok1, m.group(0) if m else f"no ping summary, status {g1.status}, "
                   f"timed out: {g1.timed_out}", out1)

        # 6: ivshmem round trip through the static helper
        with open(ivshmem, "rb") as f:
            f.seek(4096)
            reply = f.read(256).split(b"\0")[0].decode(errors="replace")
        ok = probe is not None and f"host says '{HOST_TEXT}'" in out2 and reply == GUEST_REPLY
        tap.result(5, ok, f"guest wrote '{reply}'" if ok else
                   "static helper not built" if probe is None else f"guest wrote '{reply}'",
                   None if probe is None else out2)

        # 7, 8: testpmd counters, from its final statistics
        stop(testpmd, signal.SIGINT, grace=20)
        with open(tlog, "rb") as f:
            tp_out = f.read().decode(errors="replace")
        st = forward_stats(tp_out)
        if 0 not in st or 1 not in st:
            tap.result(6, False, "no forward statistics in the testpmd log", tail(tlog))
            tap.result(7, False, "no forward statistics in the testpmd log")
        else:
            (rx0, tx0), (rx1, tx1) = st[0], st[1]
            tap.result(6, rx0 >= 3 and tx1 >= 3, f"port 0 RX {rx0}, port 1 TX {tx1}")
            tap.result(7, rx1 >= 3 and tx0 >= 3, f"port 1 RX {rx1}, port 0 TX {tx0}")
    except MissingPrerequisite as e:
        why = f"MISSING PREREQUISITE: {e}"
        print(f"# {why}", flush=True)
        tap.fail_rest(f"not run: {why}")
    except SystemExit as e:  # a signal (see above): report what did not run
        tap.fail_rest(f"not run: interrupted (exit {e.code})")
        raise
    except Exception as e:  # report, never hang or skip
        tap.fail_rest(f"not run: {type(e).__name__}: {e}")
        raise
    finally:
        for g in guests:
            g.kill()
        stop(testpmd, signal.SIGINT, grace=20)
        left = our_processes([sockdir, prefix])
        if 8 not in tap.done:
            tap.result(8, not left, ", ".join(f"{p}: {c[:80]}" for p, c in left.items()))
        for pid in left:  # still, do not leave them behind
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(sockdir, ignore_errors=True)
        try:
            os.unlink(ivshmem)
        except OSError:
            pass
        print(f"# total {time.monotonic() - started:.1f}s, logs in {work}", flush=True)
    return 0 if tap.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
