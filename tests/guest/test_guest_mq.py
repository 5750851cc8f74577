#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A Linux guest with four queue pairs (virtio-net mq=on) on a hugelinkd port with --queues 4.

usage: test_guest_mq.py SOURCE_DIR BUILD_DIR

hugelinkd (two workers) has a vhost-user port g with --queues 4 for the
guest and a port p for hltraffic hosts. The guest's QEMU gets its options
from `hlctl qemu-args g` (queues=4 on the netdev, mq=on and vectors=10 on
the device), except that under TCG QEMU 7.2 needs vectors=0 with
vhost-user, so the test sets that. With one vCPU the guest's driver
starts with one queue pair: the port must show one pair enabled. The
guest then runs `ethtool -L eth0 combined 4`: four pairs enabled, and
four hosts (four addresses, so four flows) ping it, every ping answered,
frames to the guest on more than one of its receive queues. Then
`ethtool -L eth0 combined 2`: two pairs, pings still answered, and when
the guest is gone every buffer is back.

Logs of the last run stay in BUILD_DIR/guest-mq-test.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_guest import Guest  # noqa: E402
from guest_test import end_with_daemon, guest_ready, hlctl, hugepage_dir, ports_up, start, start_daemon, tail  # noqa: E402

GUEST_MEM_MB = 256
GUEST_TIMEOUT = 300
PINGS = 3
HOSTS = 4

CASES = [
    "guest kernel and initramfs built",
    "hugelinkd started: a vhost port with --queues 4 and a port for hosts",
    "hlctl qemu-args g: queues=4 on the netdev, mq=on and vectors=10 on the device",
    "the guest attached (up) with one queue pair enabled, as its driver starts with one vCPU",
    "after ethtool -L eth0 combined 4: four queue pairs enabled",
    "four hosts pinged the guest: every ping answered",
    "frames reached the guest on more than one of its receive queues",
    "after ethtool -L eth0 combined 2: two pairs enabled, and a ping still answered",
    "the guest powered off cleanly, and no buffer stayed in use",
    "hugelinkd stopped cleanly",
]

GUEST_SH = """\
ip link set eth0 up
ip addr add 10.0.5.1/24 dev eth0
echos() { awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp; }
wait_echos() {
	i=0
	while [ $i -lt 120 ] && [ "$(echos)" -lt $1 ]; do sleep 1; i=$((i + 1)); done
	[ "$(echos)" -ge $1 ]
}
echo "GUEST-COMBINED $(ethtool -l eth0 | awk '/Combined/ { printf "%%s ", $2 }')"
echo GUEST-ONE
wait_echos %(one)d || exit 1
ethtool -L eth0 combined 4 && echo GUEST-FOUR
wait_echos %(four)d || exit 1
ethtool -L eth0 combined 2 && echo GUEST-TWO
wait_echos %(two)d
"""


def pinger(build, run, sock, i):
    cmd = [os.path.join(build, "tools/hltraffic"), "--path", sock, "--mac", f"02:00:00:00:5d:{i + 1:02x}",
           "--ip", f"10.0.5.{10 + i}", "--ping", "10.0.5.1", "--count", str(PINGS), "--run-dir", run,
           "--pool-mb", "32"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    try:
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return r.returncode, {"out": r.stdout, "err": r.stderr}


def port_stats(build, ctl):
    rc, out, _ = hlctl(build, ctl, "stats", "--json")
    return json.loads(out) if rc == 0 else {}


def enabled(build, ctl, want, timeout=30):
    """Wait until port g has `want` pairs enabled: (True, queues) or (False, the last seen)."""
    deadline = time.monotonic() + timeout
    q = []
    while time.monotonic() < deadline:
        q = {p["name"]: p for p in port_stats(build, ctl).get("ports", [])}.get("g", {}).get("queues", [])
        if sum(1 for x in q if x["enabled"]) == want:
            return True, q
        time.sleep(0.25)
    return False, q


def console_has(guest, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in guest.output() and guest.running():
        time.sleep(0.25)
    return text in guest.output()


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-mq-test")
    guest_dir = os.path.join(build, "guest")
    run = tempfile.mkdtemp(prefix="mqg.")  # short: socket paths max 107 bytes
    ctl = os.path.join(run, "hugelinkd.sock")
    dlog = os.path.join(logs, "hugelinkd.log")
    socks = {n: os.path.join(run, f"{n}.sock") for n in ("g", "p")}
    daemon = guest = None
    try:
        if not guest_ready(src, guest_dir, logs, tap):
            return 1
        daemon = start_daemon(build, run, ctl, dlog, f"mq-guest-{os.getpid()}", "--buffers", "4096",
                              "--workers", "2")
        ok = daemon is not None and \
            hlctl(build, ctl, "port", "add", "vhost", "g", "--server", socks["g"], "--queues", "4")[0] == 0 and \
            hlctl(build, ctl, "port", "add", "vhost", "p", "--server", socks["p"])[0] == 0
        tap.result(1, ok, "", tail(dlog))
        if not ok:
            tap.fail_rest("not run: hugelinkd did not start")
            return 1

        hp = hugepage_dir(GUEST_MEM_MB // 2 + 16)
        rc, out, err = hlctl(build, ctl, "qemu-args", "g", "--mem", str(GUEST_MEM_MB))
        print(f"# hlctl qemu-args g: {out.strip()}", flush=True)
        good = rc == 0 and "vhost-user,id=net-g,chardev=chr-g,queues=4" in out and ",mq=on,vectors=10" in out
        tap.result(2, good, err.strip())
        if not good:
            tap.fail_rest("not run: no usable qemu-args")
            return 1
        # QEMU 7.2 under TCG crashes in msix_set_vector_notifiers when vhost-user starts with MSI-X
        args = [a.replace(",vectors=10", ",vectors=0") for a in shlex.split(out)]

        script = GUEST_SH % {"one": PINGS, "four": PINGS * (1 + HOSTS), "two": PINGS * (2 + HOSTS)}
        kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
        guest = Guest("mq", logs, kernel, initramfs, script, mem_mb=GUEST_MEM_MB, hugepage_dir=hp, qemu_args=args)
        guest.start()
        up, states = ports_up(build, ctl, ["g"], 90)
        seen = up and console_has(guest, "GUEST-ONE", 150)
        one, q = enabled(build, ctl, 1, 10) if seen else (False, [])
        r = pinger(build, run, socks["p"], 0) if seen else (1, {})
        tap.result(3, up and seen and one and q[0]["enabled"] and r[1].get("replies") == PINGS,
                   f"{states} {q} {r}", tail(dlog) + "\n" + guest.output()[-1500:])

        four = console_has(guest, "GUEST-FOUR", 60)
        ok4, q = enabled(build, ctl, 4) if four else (False, [])
        tap.result(4, ok4, str(q), guest.output()[-1500:])
        before = [x["tx_packets"] for x in q]
        res = [pinger(build, run, socks["p"], i) for i in range(HOSTS)] if ok4 else []
        tap.result(5, len(res) == HOSTS and all(x[0] == 0 and x[1].get("replies") == PINGS for x in res), str(res))
        _, q = enabled(build, ctl, 4, 1)
        moved = [x["tx_packets"] - b for x, b in zip(q, before)]
        tap.result(6, sum(1 for m in moved if m > 0) >= 2, f"frames to the guest per pair: {moved}; {q}")

        two = console_has(guest, "GUEST-TWO", 60)
        ok2, q = enabled(build, ctl, 2) if two else (False, [])
        r = pinger(build, run, socks["p"], HOSTS) if ok2 else (1, {})
        tap.result(7, ok2 and [x["enabled"] for x in q] == [True, True, False, False] and
                   r[1].get("replies") == PINGS, f"{q} {r}", guest.output()[-1500:])

        con = guest.wait(GUEST_TIMEOUT)
        in_use = -1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and in_use != 0:
            in_use = port_stats(build, ctl).get("buffers", {}).get("in_use", -1)
            time.sleep(0.25)
        tap.result(8, guest.status == 0 and in_use == 0, f"status {guest.status}, in use {in_use}", con[-1500:])
    finally:
        status = end_with_daemon(tap, 9, guest, daemon, dlog, run, len(CASES))
    return status


if __name__ == "__main__":
    sys.exit(main())
