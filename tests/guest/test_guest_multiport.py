#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""One QEMU guest with two ports, started from `hlctl qemu-args a b`, pings through both.

usage: test_guest_multiport.py SOURCE_DIR BUILD_DIR

hugelinkd has four vhost-user server ports: a and b for the guest, p1 and p2
for two hltraffic hosts. The guest's QEMU gets its memory, NUMA node and
both network devices from nothing but `hlctl qemu-args a b=MAC` (one shared
memory backend, one -netdev/-device pair per port, b's MAC as given, a's
made from its name). In the guest the interface with a's MAC takes
10.0.1.1/24 and the one with b's MAC 10.0.2.1/24 (arp_ignore=1, so each
answers ARP for its own address only). hltraffic on p1 (10.0.1.2) and on p2
(10.0.2.2) each resolve and ping their side of the guest; every ping must
be answered, the MAC table must put each guest MAC on its own port, and
both ports must have forwarded both ways.

Logs of the last run stay in BUILD_DIR/guest-multiport-test.
"""
import json
import os
import shlex
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_guest import Guest  # noqa: E402
from guest_test import (end_with_daemon, guest_ready, hlctl, hugepage_dir, ports_up, start, switch_dirs,  # noqa: E402
                        switch_with_ports, tail)

GUEST_MEM_MB = 256
GUEST_TIMEOUT = 300
MAC_B = "52:54:00:48:4d:0b"
HOST_MAC = ["02:00:00:00:4d:01", "02:00:00:00:4d:02"]
PINGS = 5

CASES = [
    "guest kernel and initramfs built",
    "hugelinkd started with four vhost-user server ports",
    "hlctl qemu-args a b=MAC: one shared memory backend, two -netdev/-device pairs, the MACs",
    "the guest, started from those options alone, attached both ports (up)",
    "the guest put 10.0.1.1 on a's interface and 10.0.2.1 on b's",
    "hltraffic on p1 pinged 10.0.1.1: every ping answered",
    "hltraffic on p2 pinged 10.0.2.1: every ping answered",
    "the MAC table has a's and b's MACs on their own ports",
    "ports a and b both received and sent",
    "the guest powered off cleanly",
    "hugelinkd stopped cleanly",
]

GUEST_SH = """\
echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore
for d in /sys/class/net/eth*; do
	n=${d##*/}
	ip link set $n up
	case $(cat $d/address) in
	%(mac_a)s) ip addr add 10.0.1.1/24 dev $n; echo "GUEST-ADDR a $n 10.0.1.1";;
	%(mac_b)s) ip addr add 10.0.2.1/24 dev $n; echo "GUEST-ADDR b $n 10.0.2.1";;
	esac
done
echo GUEST-READY
# answer pings until both hosts have had theirs, or time runs out
i=0
while [ $i -lt %(wait)d ]; do
	n=$(awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp)
	[ "${n:-0}" -ge %(want)d ] && break
	sleep 1
	i=$((i + 1))
done
echo "GUEST-ECHOS ${n:-0}"
[ "${n:-0}" -ge %(want)d ]
"""


def pinger(build, run, sock, mac, my_ip, ip):
    cmd = [os.path.join(build, "tools/hltraffic"), "--path", sock, "--mac", mac, "--ip", my_ip, "--ping", ip,
           "--count", str(PINGS), "--run-dir", run, "--pool-mb", "32"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    try:
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return r.returncode, {"out": r.stdout, "err": r.stderr}


def main():
    src, build, tap, logs = start(__doc__, CASES, "guest-multiport-test")
    guest_dir = os.path.join(build, "guest")
    run, ctl, dlog = switch_dirs(logs, "hlmp.")
    names = ["a", "b", "p1", "p2"]
    socks = {n: os.path.join(run, f"{n}.sock") for n in names}
    daemon = None
    guest = None
    try:
        if not guest_ready(src, guest_dir, logs, tap):
            return 1

        daemon, ok = switch_with_ports(build, run, ctl, dlog, f"ops-mp-{os.getpid()}", socks, tap)
        if not ok:
            return 1

        hp = hugepage_dir(GUEST_MEM_MB // 2 + 16)
        rc, out, err = hlctl(build, ctl, "qemu-args", "a", f"b={MAC_B}", "--mem", str(GUEST_MEM_MB))
        rc2, js, _ = hlctl(build, ctl, "qemu-args", "a", f"b={MAC_B}", "--json")
        macs = {p["name"]: p["mac"] for p in json.loads(js)["ports"]} if rc2 == 0 else {}
        args = shlex.split(out)
        print(f"# hlctl qemu-args a b={MAC_B}: {out.strip()}", flush=True)
        good = (rc == 0 and out.count("memory-backend") == 1 and args.count("-netdev") == 2 and
                args.count("-device") == 2 and f"mac={MAC_B}" in out and macs.get("b") == MAC_B and
                f"mac={macs.get('a')}" in out and f"path={socks['a']}" in out and f"path={socks['b']}" in out)
        tap.result(2, good, err.strip())
        if not good:
            tap.fail_rest("not run: no usable qemu-args")
            return 1

        script = GUEST_SH % {"mac_a": macs["a"], "mac_b": MAC_B, "wait": GUEST_TIMEOUT - 60, "want": 2 * PINGS}
        kernel, initramfs = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initramfs.cpio.gz")
        guest = Guest("multiport", logs, kernel, initramfs, script, mem_mb=GUEST_MEM_MB, hugepage_dir=hp,
                      qemu_args=args)
        guest.start()
        up, states = ports_up(build, ctl, ["a", "b"], 90)
        tap.result(3, up, str(states), tail(dlog) + "\n" + guest.output()[-1500:])

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and "GUEST-READY" not in guest.output() and guest.running():
            time.sleep(0.5)
        con = guest.output()
        tap.result(4, "GUEST-ADDR a" in con and "GUEST-ADDR b" in con and "GUEST-READY" in con, "", con[-1500:])

        r1 = pinger(build, run, socks["p1"], HOST_MAC[0], "10.0.1.2", "10.0.1.1")
        r2 = pinger(build, run, socks["p2"], HOST_MAC[1], "10.0.2.2", "10.0.2.1")
        tap.result(5, r1[0] == 0 and r1[1].get("replies") == PINGS, str(r1))
        tap.result(6, r2[0] == 0 and r2[1].get("replies") == PINGS, str(r2))

        rc, out, _ = hlctl(build, ctl, "mac", "--json")
        table = {e["mac"]: e["port"] for e in json.loads(out)["entries"]} if rc == 0 else {}
        tap.result(7, table.get(macs["a"]) == "a" and table.get(MAC_B) == "b", str(table))
        rc, out, _ = hlctl(build, ctl, "stats", "--json")
        st = {p["name"]: p for p in json.loads(out)["ports"]} if rc == 0 else {}
        tap.result(8, all(st.get(n, {}).get(k, 0) > 0 for n in "ab" for k in ("rx_packets", "tx_packets")),
                   str([(n, p["rx_packets"], p["tx_packets"]) for n, p in st.items()]))

        con = guest.wait(GUEST_TIMEOUT)
        tap.result(9, guest.status == 0, f"status {guest.status}", con[-1500:])
    finally:
        status = end_with_daemon(tap, 10, guest, daemon, dlog, run, len(CASES))
    return status


if __name__ == "__main__":
    sys.exit(main())
