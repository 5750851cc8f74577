#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd's VXLAN port against the Linux kernel's vxlan device.

usage: test_vxlan.py BUILD_DIR

Four network namespaces made (and removed) by the test:
  - a: hugelinkd (started with `ip netns exec`), holding a VXLAN port to b
    and a TAP port whose interface is moved to c;
  - b: the kernel's `vxlan` device, VNI 42, on a veth pair to a;
  - c: the TAP interface, a host on the overlay;
  - d: another kernel `vxlan` device, on a veth pair of its own to a.
Checked: ping both ways between c and the kernel's vxlan device, TCP
(iperf3) both ways with no checksum error in either kernel and the TAP's
big frames segmented by the switch before encapsulation, a frame beyond
the tunnel's MTU counted and dropped on the way out, hostile datagrams sent
from b (truncated VXLAN header, no I flag, wrong VNI, runt and oversized
inner frames, an unknown source address) each counted by reason and
dropped, the port's fields in `port list`, bad port requests refused, a
port with two remotes (a second kernel in namespace d) flooding and
learning, and the switch's buffers back to idle. Prints TAP, plan first.
"""
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hlnet import Switch, csum_errors, iperf, netns, sh, test_main  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS_A, NS_B, NS_C, NS_D = f"hlup{TAG}a", f"hlup{TAG}b", f"hlup{TAG}c", f"hlup{TAG}d"
VETH_A2, VETH_D = f"hlup{TAG}wa", f"hlup{TAG}wd"  # a second remote, d, on a link of its own
UNDER_A2, UNDER_D, OVER_D = "10.237.1.1", "10.237.1.2", "10.238.0.4"
VETH_A, VETH_B, VX, TAPIF = f"hlup{TAG}va", f"hlup{TAG}vb", f"hlup{TAG}x", f"hlup{TAG}t"
UNDER_A, UNDER_B, UNDER_ROGUE = "10.237.0.1", "10.237.0.2", "10.237.0.3"
OVER_C, OVER_B = "10.238.0.1", "10.238.0.2"
VNI = 42
HOSTILE = 3  # datagrams of each hostile kind
PLAN = 18


def ping(ns, dst, count=5):
    r = netns(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "2", dst, check=False, timeout=30)
    m = re.search(r"(\d+) received", r.stdout)
    return int(m.group(1)) if m else 0, r.stdout.strip().splitlines()[-2:] if r.stdout else r.stderr


# Hostile datagrams, sent from b by a small Python program of their own.
HOSTILE_PROG = r"""
import socket, struct, sys
dst, src, n, vni = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def vxh(flags, v):
    return struct.pack("!B3xI", flags, v << 8)
inner = bytes.fromhex("ffffffffffff" "020000000001" "0800") + bytes(46)
kinds = {
    "truncated": vxh(0x08, vni)[:5],
    "bad_flags": vxh(0x00, vni) + inner,
    "wrong_vni": vxh(0x08, vni + 1) + inner,
    "inner_runt": vxh(0x08, vni) + inner[:10],
    "inner_too_big": vxh(0x08, vni) + inner[:14] + bytes(1600),
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k, d in kinds.items():
    for _ in range(n):
        s.sendto(d, (dst, 4789))
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind((src, 0))
for _ in range(n):
    r.sendto(vxh(0x08, vni) + inner, (dst, 4789))
"""


def kernel_end(ns, va, vk, addr_a, addr_k, over, more=()):
    """A veth pair from a to ns (addr_a, addr_k and more) and the kernel's vxlan device in ns, over its end."""
    sh("ip", "link", "add", va, "netns", NS_A, "type", "veth", "peer", "name", vk, "netns", ns)
    netns(NS_A, "ip", "addr", "add", f"{addr_a}/24", "dev", va)
    netns(NS_A, "ip", "link", "set", va, "up")
    for addr in (addr_k, *more):
        netns(ns, "ip", "addr", "add", f"{addr}/24", "dev", vk)
    netns(ns, "ip", "link", "set", vk, "up")
    # a kernel sending into a veth leaves the inner TCP checksum for a NIC to fill
    # in; with no NIC on the way, it must be done before the veth
    netns(ns, "ethtool", "-K", vk, "tx", "off")
    netns(ns, "ip", "link", "add", VX, "type", "vxlan", "id", str(VNI), "remote", addr_a, "local", addr_k,
          "dstport", "4789", "dev", vk)
    netns(ns, "ip", "addr", "add", f"{over}/24", "dev", VX)
    netns(ns, "ip", "link", "set", VX, "up")


def setup():
    kernel_end(NS_B, VETH_A, VETH_B, UNDER_A, UNDER_B, OVER_B, (UNDER_ROGUE,))
    kernel_end(NS_D, VETH_A2, VETH_D, UNDER_A2, UNDER_D, OVER_D)
    # no IPv6 chatter of the kernels' own: what crosses the tunnel is the test's
    for ns in (NS_A, NS_B, NS_C, NS_D):
        netns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")


def run(t, sw):
    if not t.check(sw.start(), "hugelinkd starts in namespace a", sw.log_tail()):
        return
    base = sw.in_use()
    bad = [
        ["port", "add", "vxlan", "x1", "--remote", UNDER_B],
        ["raw", json.dumps({"cmd": "port-add", "kind": "vxlan", "name": "x2", "remote": UNDER_B, "vni": 1 << 24})],
        ["raw", json.dumps({"cmd": "port-add", "kind": "vxlan", "name": "x3", "remote": "10.237.0", "vni": 1})],
        ["raw", json.dumps({"cmd": "port-add", "kind": "vxlan", "name": "x4", "remote": "224.0.0.1", "vni": 1})],
        ["raw", json.dumps({"cmd": "port-add", "kind": "vxlan", "name": "x5", "remote": UNDER_B, "vni": 1,
                            "mtu": 9000})],
        ["port", "add", "vxlan", "x6", "--remote", f"{UNDER_B},{UNDER_B}", "--vni", "1"],
        ["port", "add", "vxlan", "x7", "--remote", f"{UNDER_B},", "--vni", "1"],
    ]
    rcs = [sw.hlctl(*b)[0] for b in bad]
    t.check(all(rc != 0 for rc in rcs) and sw.json("port", "list").get("ports") == [],
            "vxlan ports without a VNI, with a VNI beyond 24 bits, a bad, multicast or repeated remote or an "
            "MTU beyond 1500 are refused", str(rcs))
    rc, _, err = sw.hlctl("port", "add", "vxlan", "up0", "--remote", UNDER_B, "--vni", str(VNI), "--local", UNDER_A)
    ports = sw.json("port", "list").get("ports", [])
    want = {"name": "up0", "kind": "vxlan", "remote": UNDER_B, "local": UNDER_A, "vni": VNI, "dstport": 4789,
            "mtu": 1450}
    t.check(rc == 0 and len(ports) == 1 and all(ports[0].get(k) == v for k, v in want.items()),
            "port add vxlan: port list shows remote, local, VNI, UDP port and MTU", f"{err} {ports}")
    rc2, _, err2 = sw.hlctl("port", "add", "vxlan", "up1", "--remote", "10.237.0.9", "--vni", "7",
                            "--local", UNDER_A)
    t.check(rc2 != 0 and "taken" in err2, "a second port on the same local address and UDP port is refused, "
            "and says why", err2)
    if rc != 0:
        raise RuntimeError(f"port add vxlan: {err}")
    rc, _, err = sw.hlctl("port", "add", "tap", "t0", "--ifname", TAPIF)
    if rc != 0:
        raise RuntimeError(f"port add tap: {err}")
    netns(NS_A, "ip", "link", "set", TAPIF, "netns", NS_C)
    netns(NS_C, "ip", "link", "set", TAPIF, "mtu", "1450")
    netns(NS_C, "ip", "addr", "add", f"{OVER_C}/24", "dev", TAPIF)
    netns(NS_C, "ip", "link", "set", TAPIF, "up")

    got, out = ping(NS_C, OVER_B)
    t.check(got == 5, "ping from the TAP host to the kernel's vxlan device: 5 of 5 replies", str(out))
    got, out = ping(NS_B, OVER_C)
    t.check(got == 5, "ping from the kernel's vxlan device to the TAP host: 5 of 5 replies", str(out))

    errs0 = [csum_errors(NS_B), csum_errors(NS_C)]
    ok1, mb1, why1 = iperf(NS_C, NS_B, OVER_B, 2)
    t.check(ok1, "TCP from the TAP host through the tunnel to the kernel completes", why1)
    ok2, mb2, why2 = iperf(NS_B, NS_C, OVER_C, 2)
    t.check(ok2, "TCP from the kernel through the tunnel to the TAP host completes", why2)
    t.diag(f"TCP {mb1:.0f} Mbit/s TAP -> kernel vxlan, {mb2:.0f} Mbit/s kernel vxlan -> TAP")
    errs = [csum_errors(NS_B), csum_errors(NS_C)]
    t.check(min(errs) >= 0 and errs == errs0, "no TCP checksum error in either kernel",
            f"before {errs0}, after {errs}")
    up = sw.port("up0")
    ol = up.get("offload", {})
    t.check(ol.get("gso_frames", 0) > 0 and ol.get("gso_segments", 0) > ol.get("gso_frames", 0),
            "the TAP's big TCP frames were segmented by the switch before encapsulation", str(ol))

    # a frame beyond the tunnel's MTU from the TAP host: counted, not sent
    netns(NS_C, "ip", "link", "set", TAPIF, "mtu", "1500")
    before = sw.port("up0").get("vxlan", {}).get("tx_too_big", -1)
    netns(NS_C, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1472", OVER_B, check=False)
    after = sw.port("up0")
    t.check(after.get("vxlan", {}).get("tx_too_big", -1) - before == 3 and
            after.get("drops", {}).get("too_big", 0) >= 3,
            "frames beyond the tunnel's MTU are counted (tx_too_big) and dropped", str(after.get("vxlan")))
    netns(NS_C, "ip", "link", "set", TAPIF, "mtu", "1450")

    v0 = sw.port("up0")
    r = netns(NS_B, sys.executable, "-c", HOSTILE_PROG, UNDER_A, UNDER_ROGUE, str(HOSTILE), str(VNI), check=False)
    time.sleep(0.5)
    v1 = sw.port("up0")
    d0, d1 = v0.get("vxlan", {}), v1.get("vxlan", {})
    reasons = ["truncated", "bad_flags", "wrong_vni", "inner_runt", "inner_too_big", "unknown_remote"]
    diff = {k: d1.get(k, 0) - d0.get(k, 0) for k in reasons}
    t.check(r.returncode == 0 and all(v == HOSTILE for v in diff.values()),
            f"hostile datagrams: {HOSTILE} of each kind counted by its reason", f"{diff} {r.stderr[-200:]}")
    t.check(v1.get("rx_packets", 0) == v0.get("rx_packets", 0) and
            v1.get("drops", {}).get("bad", 0) - v0.get("drops", {}).get("bad", 0) == HOSTILE * len(reasons),
            "none of them reached the switch as a frame; all are in the port's bad drops",
            f"rx {v0.get('rx_packets')} -> {v1.get('rx_packets')}, drops {v1.get('drops')}")
    got, out = ping(NS_C, OVER_B, 3)
    t.check(got == 3, "the tunnel still carries traffic after them", str(out))

    # flood and learn: one port to both kernels, b and d, each on its own link
    rc, _, err = sw.hlctl("port", "del", "up0")
    rc2, _, err2 = sw.hlctl("port", "add", "vxlan", "up0", "--remote", f"{UNDER_B},{UNDER_D}", "--vni", str(VNI))
    got_b, out_b = ping(NS_C, OVER_B, 3)
    got_d, out_d = ping(NS_C, OVER_D, 3)
    t.check(rc == 0 and rc2 == 0 and got_b == 3 and got_d == 3,
            "a port with two remotes: the TAP host pings the kernel's vxlan device behind each",
            f"{err} {err2} {out_b} {out_d}")
    rx_d = int(netns(NS_D, "cat", f"/sys/class/net/{VX}/statistics/rx_packets").stdout)
    rx_b = int(netns(NS_B, "cat", f"/sys/class/net/{VX}/statistics/rx_packets").stdout)
    got_b, out_b = ping(NS_C, OVER_B, 10)
    drx_d = int(netns(NS_D, "cat", f"/sys/class/net/{VX}/statistics/rx_packets").stdout) - rx_d
    drx_b = int(netns(NS_B, "cat", f"/sys/class/net/{VX}/statistics/rx_packets").stdout) - rx_b
    t.check(got_b == 10 and drx_b >= 10 and drx_d == 0,
            "frames for a MAC learned behind b go to b alone, none flooded to d",
            f"{out_b} b received {drx_b}, d {drx_d}")

    for name in ("t0", "up0"):
        sw.hlctl("port", "del", name)
    time.sleep(0.3)
    in_use = sw.in_use()
    t.check(in_use == base, "the switch's buffers in use are back to idle after the ports are removed",
            f"{in_use} vs {base}")
    rc = sw.stop()
    t.check(rc == 0, "hugelinkd stops cleanly", f"exit {rc}")


def body(t, build, work, switches):
    setup()
    sw = Switch(build, work, f"hl-vxlan-{TAG}", ns=NS_A)
    switches.append(sw)
    run(t, sw)


if __name__ == "__main__":
    sys.exit(test_main(__doc__, PLAN, ("ip", "iperf3", "ping", "ethtool"), (NS_A, NS_B, NS_C, NS_D), body))
