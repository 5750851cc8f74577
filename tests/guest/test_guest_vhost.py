#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A real Linux guest (QEMU, TCG) on a hugelink vhost-user port (TAP output).

usage: test_guest_vhost.py SOURCE_DIR BUILD_DIR

The guest's own virtio-net driver talks to hugelink's back-end; on the
host side a small responder (tests/vhost/vhost_responder) answers ARP and
ICMP echo for 10.0.0.1. The guest (10.0.0.2) pings it three times, on
split virtqueues; then a second guest does the same with packed=on
(packed virtqueues), on the same back-end. The guests' ping summaries
and the responder's counters (frames taken from packed rings included)
must agree, and the responder must end with every buffer returned to its
pool.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_guest import Guest, spawn, stop  # noqa: E402
from guest_test import guest_ready, hugepage_dir, our_processes, start, tail  # noqa: E402

GUEST_SH = """\
ip link set eth0 up
ip addr add 10.0.0.2/24 dev eth0
ping -c 3 -W 5 10.0.0.1
"""

CASES = [
    "guest kernel and initramfs built",
    "hugelink responder listening on a vhost-user socket",
    "guest pinged 10.0.0.1 through hugelink's back-end: 3 packets received",
    "a guest with packed=on pinged it on packed virtqueues: 3 packets received",
    "responder answered ARP and 6 echo requests, the packed guest's from packed rings, counters matching",
    "responder exited with every buffer back in its pool",
    "no QEMU or responder process left running",
]


def main():
    src, build, tap, work = start(__doc__, CASES, "guest-vhost-test")
    guest_dir = os.path.join(build, "guest")
    sockdir = tempfile.mkdtemp(prefix="hl-gv-")
    sock = os.path.join(sockdir, "vm.sock")
    responder_bin = os.path.join(build, "tests/vhost/vhost_responder")
    responder = guest = None
    try:
        if not guest_ready(src, guest_dir, work, tap):
            return 1

        rlog = os.path.join(work, "responder.log")
        responder = spawn([responder_bin, sock, "10.0.0.1", "120"], rlog)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(sock) and responder.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(sock):
            tap.result(1, False, "socket did not appear", tail(rlog))
            tap.fail_rest("not run: no responder")
            return 1
        tap.result(1, True)

        received = 0
        for case, packed in ((2, False), (3, True)):
            guest = Guest("guest-packed" if packed else "guest", work, os.path.join(guest_dir, "vmlinuz"),
                          os.path.join(guest_dir, "initramfs.cpio.gz"), GUEST_SH,
                          vhost_sockets=[(sock, "52:54:00:48:4c:02", "client", 0)],
                          mem_mb=256, hugepage_dir=hugepage_dir(140), packed=packed)
            guest.start()
            out = guest.wait(150)
            guest.kill()
            m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
            got = int(m.group(2)) if m else 0
            received += got
            tap.result(case, guest.status == 0 and got == 3,
                       m.group(0) if m else f"no ping summary, status {guest.status}", out)

        responder.send_signal(signal.SIGTERM)
        try:
            responder.wait(15)
        except subprocess.TimeoutExpired:
            stop(responder, signal.SIGKILL)
        counters = {}
        for line in tail(rlog, 50).splitlines():
            if line.startswith("{"):
                counters = json.loads(line)
        print(f"# responder: {counters}", flush=True)
        ok = (counters.get("arp_replies", 0) >= 2 and counters.get("icmp_replies") == received == 6
              and counters.get("bad_chains", 1) == 0
              and 4 <= counters.get("packed_rx", 0) <= counters.get("rx", 0) - 4)
        tap.result(4, ok, json.dumps(counters), tail(rlog))
        tap.result(5, responder.returncode == 0 and counters.get("in_use") == 0,
                   f"exit status {responder.returncode}", tail(rlog))
    except Exception as e:  # a broken harness fails the cases, never skips them
        tap.fail_rest(f"harness error: {e!r}")
    finally:
        if guest is not None:
            guest.kill()
        if responder is not None and responder.poll() is None:
            stop(responder, signal.SIGKILL)
        shutil.rmtree(sockdir, ignore_errors=True)
        left = our_processes([sock, "vhost_responder " + sock])
        tap.result(6, not left, ", ".join(left.values()) if left else "")
    return 0 if tap.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
