#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two QEMU guests ping each other through hugelinkd, which is killed and restarted.

usage: test_guests_switch.py SOURCE_DIR BUILD_DIR

hugelinkd has two vhost-user ports in server mode; each guest's QEMU is the
client with reconnect=1. Guest 1 (10.0.0.1) pings guest 2 (10.0.0.2) once
every ~0.2 s and prints PING-OK / PING-FAIL per attempt. When the first
pings have come back, the test kills hugelinkd with SIGKILL, waits for guest
1 to notice, and starts a new hugelinkd on the same run directory: it
re-creates the ports from its saved list, both QEMUs reconnect by
themselves, and the pings resume, with no QEMU restarted. Guest 1 stops after
five replies following the outage.

Logs of the last run stay in BUILD_DIR/guest-switch-test.
"""
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_guest import Guest  # noqa: E402
from guest_test import (guest_ready, hlctl, hugepage_dir, nothing_left, ports_up, sh_eth0, sh_say_done,  # noqa: E402
                        sh_wait_done, sh_wait_for_ping, start, start_daemon, switch_dirs, switch_with_ports, tail)

GUEST_MEM_MB = 256
GUEST_TIMEOUT = 240
MAC1, MAC2 = "52:54:00:48:4c:11", "52:54:00:48:4c:12"

CASES = [
    "guest kernel and initramfs built",
    "hugelinkd started with two vhost-user server ports",
    "both guests attached (ports up)",
    "guest 1 pinged guest 2 through hugelinkd",
    "hugelinkd killed with SIGKILL; both QEMUs keep running",
    "guest 1 saw the pings fail while the switch was gone",
    "a new hugelinkd re-created both ports from its saved list",
    "both QEMUs reconnected by themselves",
    "the pings resumed: five replies after the outage",
    "the new switch forwarded both ways and learned both guests' MACs",
    "both guests powered off cleanly",
    "hugelinkd stopped cleanly; no QEMU or hugelinkd left running",
]

GUEST1_SH = sh_eth0("guest1", "10.0.0.1") + sh_wait_for_ping("guest1", "10.0.0.2", 90, "exit 1") + """\
i=0; fails=0; after=0
while [ $i -lt 600 ]; do
	if ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1; then
		echo "PING-OK $i"
		[ $fails -gt 0 ] && after=$((after + 1))
		[ $after -ge 5 ] && break
	else
		echo "PING-FAIL $i"
		fails=$((fails + 1))
	fi
	i=$((i + 1))
	usleep 200000 2>/dev/null || sleep 1
done
rc=1
[ $after -ge 5 ] && rc=0
""" + sh_say_done("10.0.0.2") + "exit $rc\n"

GUEST2_SH = sh_eth0("guest2", "10.0.0.2") + sh_wait_done("guest2") + '[ "$msg" = done ]\n'


def wait_console(g, pattern, timeout, after=0):
    """Wait until pattern matches g's console at or after offset `after`; the match or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, g.output()[after:], re.M)
        if m:
            return m
        if not g.running():
            return None
        time.sleep(0.2)
    return None


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-switch-test")
    guest_dir = os.path.join(build, "guest")
    run, ctl, dlog = switch_dirs(logs, "hlgs.")
    socks = [os.path.join(run, "vm1.sock"), os.path.join(run, "vm2.sock")]
    daemon = None
    guests = []
    try:
        if not guest_ready(src, guest_dir, logs, tap):
            return 1

        daemon, ok = switch_with_ports(build, run, ctl, dlog, f"hlgs-{os.getpid()}", dict(zip(("vm1", "vm2"), socks)),
                                       tap)
        if not ok:
            return 1
        rc, out, _ = hlctl(build, ctl, "qemu-args", "vm1")
        print(f"# hlctl qemu-args vm1: {out.strip()}", flush=True)

        kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
        hp = hugepage_dir(2 * (GUEST_MEM_MB // 2) + 16)
        print(f"# guest RAM on {hp or '/dev/shm'}", flush=True)
        g2 = Guest("guest2", logs, kernel, initramfs, GUEST2_SH % {"wait": GUEST_TIMEOUT - 20},
                   vhost_sockets=[(socks[1], MAC2, "client", 1)], mem_mb=GUEST_MEM_MB, hugepage_dir=hp)
        g1 = Guest("guest1", logs, kernel, initramfs, GUEST1_SH,
                   vhost_sockets=[(socks[0], MAC1, "client", 1)], mem_mb=GUEST_MEM_MB, hugepage_dir=hp)
        for g in (g2, g1):
            guests.append(g)
            g.start()
        up, states = ports_up(build, ctl, ("vm1", "vm2"), 60)
        tap.result(2, up, str(states), tail(dlog))

        m = wait_console(g1, r"^PING-OK 2\b", 150)
        tap.result(3, m is not None, "", g1.output())
        if m is None:
            tap.fail_rest("not run: no ping before the crash")
            return 1

        # the crash
        daemon.kill()
        daemon.wait()
        daemon = None
        crash_at = len(g1.output())
        time.sleep(0.5)
        tap.result(4, g1.running() and g2.running(), f"QEMU running: {g1.running()}, {g2.running()}")
        m = wait_console(g1, r"^PING-FAIL", 30, crash_at)
        tap.result(5, m is not None, "", g1.output()[-2000:])

        daemon = start_daemon(build, run, ctl, dlog, f"hlgs-{os.getpid()}", "--buffers", "4096")
        rc, out, _ = hlctl(build, ctl, "port", "list", "--json") if daemon else (1, "", "")
        names = sorted(p["name"] for p in json.loads(out)["ports"]) if rc == 0 else []
        tap.result(6, names == ["vm1", "vm2"], str(names), tail(dlog))
        up, states = ports_up(build, ctl, ("vm1", "vm2"), 60)
        tap.result(7, up, str(states), tail(dlog))

        out1 = g1.wait(GUEST_TIMEOUT)
        tail_after = out1[crash_at:]
        oks = len(re.findall(r"^PING-OK", tail_after, re.M))
        tap.result(8, g1.status == 0 and oks >= 5, f"{oks} replies after the restart", out1[-2000:])

        rc, out, _ = hlctl(build, ctl, "stats", "--json")
        st = {p["name"]: p for p in json.loads(out)["ports"]} if rc == 0 else {}
        rc, out, _ = hlctl(build, ctl, "mac", "--json")
        macs = {e["mac"]: e["port"] for e in json.loads(out)["entries"]} if rc == 0 else {}
        fwd = all(st.get(n, {}).get(k, 0) > 0 for n in ("vm1", "vm2") for k in ("rx_packets", "tx_packets"))
        tap.result(9, fwd and macs.get(MAC1) == "vm1" and macs.get(MAC2) == "vm2",
                   f"{[(n, p['rx_packets'], p['tx_packets']) for n, p in st.items()]} {macs}")

        out2 = g2.wait(60)
        tap.result(10, g1.status == 0 and g2.status == 0, f"status {g1.status}, {g2.status}", out2[-1500:])
    finally:
        for g in guests:
            g.kill()
        nothing_left(tap, 11, daemon, [f"hlgs-{os.getpid()}", run], run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
