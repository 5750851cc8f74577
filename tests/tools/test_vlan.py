#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""VLANs end to end: hugelinkd's TAP ports as access ports and a trunk, with
the Linux kernel on the other side of each, in network namespaces.

usage: test_vlan.py BUILD_DIR

Eight namespaces made (and removed) by the test, each holding one TAP
interface of the switch (IPv6 off, so the kernel sends nothing unasked).
This kernel has no 802.1Q devices (CONFIG_VLAN_8021Q is off), so the far
end of a trunk is vlan_peer.py on a packet socket:
  - a1, a2: access ports of VLAN 10 (--vlan 10), 10.239.10.1 and .2;
  - b: an access port of VLAN 20, 10.239.20.1;
  - t: a trunk (--trunk 10,20) whose peer answers ARP and ping for
    10.239.10.3 in VLAN 10 and 10.239.20.3 in VLAN 20, with one MAC;
  - u: an untagged port (VLAN 0), 10.239.10.9, in VLAN 10's subnet;
  - x1, x2: access ports of VLAN 30 and VLAN 40, 10.239.30.1 and .2, and
    xb, a trunk of both with offloads off whose peer sends VLAN 30's frames
    back as VLAN 40's and the other way: the only path between x1 and x2;
  - n: a trunk of VLAN 20 with native VLAN 10 (--trunk 20 --native-vlan 10):
    its kernel is 10.239.10.4, untagged, and a peer answers for
    10.239.20.4 in VLAN 20;
  - m: an access port of VLAN 10, 10.239.10.5 and 10.239.20.5, that
    `hlctl port set` moves to VLAN 20.
Checked: the ports' VLAN fields in `port list` (JSON and text); a1 pings
a2 and the trunk's VLAN 10 address, b the trunk's VLAN 20 address; b and
the trunk's VLAN 20 see not one frame of VLAN 10's traffic, floods
included, while the trunk gets them tagged 10; u cannot reach VLAN 10,
with untagged or tagged frames; tagged frames on an access port,
untagged or foreign-VLAN frames and hostile tags (VLAN id 0 and 4095,
802.1ad, two tags, a tag cut short) on the trunk are counted by reason
and dropped; one MAC in two VLANs is two entries of `hlctl mac`; TCP both
ways between x1 and x2 through the trunk (the kernel's TSO frames cut by
the switch into tagged 1518-byte segments, untagged again on the far
side) with no checksum error; hltraffic endpoints on vhost ports, two of
VLAN 10 (one zero-copy) exchanging checked frames while one of VLAN 20
hears nothing; the native-VLAN trunk's kernel and a1 ping each other
untagged while b pings its VLAN 20 peer tagged, and no frame of VLAN 10
leaves it tagged; `hlctl port set m --vlan 20` while m pings a1 many
times a second: m then reaches b and not a1, its MACs are in VLAN 20
alone, `port list` and the log say so, and bad port-set requests are
refused; after kill -9 and a restart the VLAN configuration, the native
VLAN and the change included, comes back from the saved port list and
traffic resumes; and the switch's buffers are back to idle. Prints TAP,
plan first.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hlnet import Switch, csum_errors, iperf, netns, sh, test_main  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS = {k: f"vlan{TAG}{k}" for k in ("a1", "a2", "b", "t", "u", "x1", "x2", "xb", "n", "m")}
IF = {k: f"vl{TAG}{k}" for k in NS}
VLAN = {"a1": ["--vlan", "10"], "a2": ["--vlan", "10"], "b": ["--vlan", "20"], "t": ["--trunk", "10,20"], "u": [],
        "x1": ["--vlan", "30"], "x2": ["--vlan", "40"], "xb": ["--trunk", "30-32,40", "--offload", "off"],
        "n": ["--trunk", "20", "--native-vlan", "10"], "m": ["--vlan", "10"]}
ADDR = {"a1": "10.239.10.1", "a2": "10.239.10.2", "b": "10.239.20.1", "u": "10.239.10.9",
        "x1": "10.239.30.1", "x2": "10.239.30.2", "n": "10.239.10.4", "m": "10.239.10.5"}
T10, T20 = "10.239.10.3", "10.239.20.3"
N20, M20 = "10.239.20.4", "10.239.20.5"  # the native trunk's peer in VLAN 20; m's address there
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vlan_peer.py")
PLAN = 25
MACV = {"v1": "02:76:00:00:01:01", "v2": "02:76:00:00:01:02", "v3": "02:76:00:00:01:03"}

# Frames put on an interface as they are, through a raw socket in its namespace.
RAW_PROG = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for f in sys.argv[3:]:
    for _ in range(int(sys.argv[2])):
        s.send(bytes.fromhex(f))
"""
BCAST, SRC, SRC_T = "ffffffffffff", "027600000099", "02760000009a"  # SRC_T: the trunk's hostile frames
BODY = "0800" + "00" * 46


def tagged(vid, inner="", tpid="8100", src=SRC):
    return BCAST + src + tpid + f"{vid:04x}" + inner + BODY


HOSTILE_BAD = [tagged(0, src=SRC_T), tagged(0xfff, src=SRC_T), tagged(10, tpid="88a8", src=SRC_T),
               tagged(10, "8100" + "0014", src=SRC_T),
               BCAST + SRC_T + "8100000a",  # a tag cut short: 16 bytes
               BCAST + SRC_T + "88a8000a" + "8100000a" + BODY]  # 802.1ad outer, 802.1Q inner
HOSTILE_FILTERED = [BCAST + SRC_T + BODY, tagged(30, src=SRC_T)]


def raw(ns, ifname, n, frames):
    return netns(ns, sys.executable, "-c", RAW_PROG, ifname, str(n), *frames, check=False)


def ping(ns, dst, count=3):
    r = netns(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "1", dst, check=False, timeout=30)
    m = re.search(r"(\d+) received", r.stdout)
    return int(m.group(1)) if m else 0


def rx(ns, ifname):
    return int(netns(ns, "cat", f"/sys/class/net/{ifname}/statistics/rx_packets").stdout)


def place(k):
    """Move port k's TAP interface into its namespace, up, with its address (a trunk has none: its peer answers)."""
    ns, i = NS[k], IF[k]
    sh("ip", "link", "set", i, "netns", ns)
    netns(ns, "ip", "link", "set", i, "up")
    if k in ADDR:
        netns(ns, "ip", "addr", "add", f"{ADDR[k]}/24", "dev", i)
    if k == "m":
        netns(ns, "ip", "addr", "add", f"{M20}/24", "dev", i)


class Peer:
    """vlan_peer.py on trunk k's interface: started, then stopped for its counts."""

    def __init__(self, k, *args):
        self.p = subprocess.Popen(["ip", "netns", "exec", NS[k], sys.executable, PEER, args[0], IF[k], *args[1:]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)

    def stop(self):
        """{"rx": {VLAN: frames}, "sent": N}, or {} if it failed."""
        self.p.send_signal(signal.SIGINT)
        out, err = self.p.communicate(timeout=30)  # a loaded host can hold it back that long
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"error": err[-300:]}


def responder():
    return Peer("t", "respond", f"10={T10}", f"20={T20}")


def add_ports(sw):
    errs = []
    for k in NS:
        rc, _, err = sw.hlctl("port", "add", "tap", k, "--ifname", IF[k], *VLAN[k])
        if rc != 0:
            errs.append(err.strip())
    for k in NS:
        place(k)
    return errs


def vlan_fields(sw):
    return {p["name"]: (p.get("vlan"), p.get("trunk"), p.get("native_vlan"))
            for p in sw.json("port", "list").get("ports", [])}


WANT = {"a1": (10, [], 0), "a2": (10, [], 0), "b": (20, [], 0), "t": (0, [10, 20], 0), "u": (0, [], 0),
        "x1": (30, [], 0), "x2": (40, [], 0), "xb": (0, ["30-32", 40], 0),  # a run of three or more is one "N-M" item
        "n": (0, [10, 20], 10),  # the native VLAN is among those the trunk carries, listed or not
        "m": (10, [], 0)}
MOVED = dict(WANT, m=(20, [], 0))


def drops(sw, name):
    return sw.port(name).get("drops", {})


def vhost_endpoints(t, sw):
    """hltraffic endpoints on vhost ports: two of VLAN 10 (one zero-copy), one of VLAN 20 that only listens."""
    socks = {k: os.path.join(sw.work, f"{k}.sock") for k in MACV}
    opts = {"v1": ["--vlan", "10", "--zcopy", "on"], "v2": ["--vlan", "10"], "v3": ["--vlan", "20"]}
    rcs = [sw.hlctl("port", "add", "vhost", k, "--server", socks[k], *opts[k])[0] for k in MACV]
    peer = responder()
    eps = ["--endpoint", f"{socks['v1']},{MACV['v1']},{MACV['v2']}", "--endpoint",
           f"{socks['v2']},{MACV['v2']},{MACV['v1']}", "--endpoint", f"{socks['v3']},{MACV['v3']}"]
    p = subprocess.run([os.path.join(sw.build, "tools/hltraffic"), *eps, "--seconds", "2", "--size", "256",
                        "--run-dir", sw.work, "--pool-mb", "32"], capture_output=True, text=True, timeout=60)
    seen = peer.stop()
    got = {}
    for line in p.stdout.splitlines():
        if '"endpoint"' in line:
            r = json.loads(line)
            got[next(k for k in socks if socks[k] == r["endpoint"])] = r
    v1, v2, v3 = (got.get(k, {}) for k in ("v1", "v2", "v3"))
    ok = all(rc == 0 for rc in rcs) and p.returncode == 0 and v1.get("tx_packets", 0) > 0 and v2.get("tx_packets", 0) > 0
    ok = ok and v1.get("rx_bad", 1) == 0 and v2.get("rx_bad", 1) == 0
    ok = ok and v2.get("rx_packets", 0) >= 0.5 * v1["tx_packets"] and v1.get("rx_packets", 0) >= 0.5 * v2["tx_packets"]
    quiet = v3.get("rx_packets", 1) + v3.get("rx_other", 1) == 0 and sw.port("v3").get("tx_packets", 1) == 0
    t.check(ok and quiet and seen.get("rx", {}).get("10", 0) > 0 and "20" not in seen.get("rx", {}),
            "vhost endpoints: two of VLAN 10 (one zero-copy) exchange checked frames, the trunk gets their floods "
            "tagged 10, the VLAN 20 endpoint and the trunk's VLAN 20 get nothing",
            f"{rcs} {p.returncode} {got} trunk {seen} {p.stderr[-300:]}")
    for k in MACV:
        sw.hlctl("port", "del", k)


def native_trunk(t):
    """n: a trunk of VLAN 20 whose native VLAN is 10, its kernel untagged in VLAN 10, a peer tagged in VLAN 20."""
    peer = Peer("n", "respond", f"20={N20}")
    got_in, got_out = ping(NS["n"], ADDR["a1"]), ping(NS["a1"], ADDR["n"])
    got20 = ping(NS["b"], N20)
    seen = peer.stop()
    rx_ = seen.get("rx", {})
    t.check(got_in == 3 and got_out == 3 and got20 == 3 and rx_.get("0", 0) >= 6 and rx_.get("20", 0) >= 3 and
            "10" not in rx_, "a trunk with native VLAN 10: its kernel and a1 ping each other untagged, b pings its "
            "VLAN 20 peer tagged 20, and no frame of VLAN 10 leaves it tagged",
            f"n->a1 {got_in}, a1->n {got_out}, b->peer {got20}, peer {seen}")


def move(t, sw):
    """m from VLAN 10 to 20 with `hlctl port set` while it pings a1 fast."""
    before = ping(NS["m"], ADDR["a1"])
    flood = subprocess.Popen(["ip", "netns", "exec", NS["m"], "ping", "-i", "0.01", "-c", "300", "-W", "1",
                              ADDR["a1"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    rc, _, err = sw.hlctl("port", "set", "m", "--vlan", "20")
    out, _ = flood.communicate(timeout=30)
    m = re.search(r"(\d+) received", out)
    during = int(m.group(1)) if m else -1
    got_b, got_a1 = ping(NS["m"], ADDR["b"]), ping(NS["m"], ADDR["a1"], 2)
    mmac = netns(NS["m"], "cat", f"/sys/class/net/{IF['m']}/address").stdout.strip()
    vlans = sorted({e.get("vlan") for e in sw.json("mac").get("entries", []) if e["mac"] == mmac})
    t.check(before == 3 and rc == 0 and 0 < during < 300 and got_b == 3 and got_a1 == 0 and vlans == [20] and
            sw.proc.poll() is None,
            "hlctl port set m --vlan 20 while m pings a1 100 times a second: then m reaches b (VLAN 20) and not a1, "
            "and its MAC is learned in VLAN 20 alone",
            f"before {before}, set {rc} {err.strip()}, during {during}/300, to b {got_b}, to a1 {got_a1}, "
            f"m's MAC in {vlans}")
    rc, out, _ = sw.hlctl("port", "list")
    logged = any("port m: access port of VLAN 20, was access port of VLAN 10" in line for line in log_lines(sw))
    t.check(vlan_fields(sw).get("m") == (20, [], 0) and re.search(r"^m .*vlan=20", out, re.M) and logged,
            "port list (JSON and text) shows m in VLAN 20, and the log tells of the change", f"{out} logged {logged}")
    bad = [sw.hlctl("port", "set", "nope", "--vlan", "10"), sw.hlctl("raw", '{"cmd":"port-set","name":"nope","vlan":10}'),
           sw.hlctl("raw", '{"cmd":"port-set","name":"m","vlan":10,"trunk":[20]}'),
           sw.hlctl("raw", '{"cmd":"port-set","name":"m","vlan":4095}'),
           sw.hlctl("raw", '{"cmd":"port-set","name":"m","vlan":10,"native_vlan":10}'),
           sw.hlctl("raw", '{"cmd":"port-set","name":"m"}')]
    usage = [sw.hlctl("port", "set", "m", "--vlan", "10", "--trunk", "20"), sw.hlctl("port", "set", "m", "--vlan", "0"),
             sw.hlctl("port", "set", "m", "--native-vlan", "10"), sw.hlctl("port", "set", "m")]
    errs = [r[2].strip() for r in bad]
    t.check(all(r[0] == 1 for r in bad) and all(r[0] == 2 for r in usage) and "no port nope" in errs[0] and
            "not both" in errs[2] and "1..4094" in errs[3] and "trunk" in errs[4] and vlan_fields(sw).get("m") ==
            (20, [], 0), "port set refused: an unknown port, both vlan and trunk, VLAN 4095, a native VLAN without a "
            "trunk, no membership at all (hlctl's own checks exit 2); m stays in VLAN 20",
            f"{[r[0] for r in bad]} {errs} usage {[r[0] for r in usage]} {vlan_fields(sw).get('m')}")


def log_lines(sw):
    try:
        with open(os.path.join(sw.work, "hugelinkd.log")) as f:
            return f.read().splitlines()
    except OSError:
        return []


def run(t, sw):
    t.check(sw.start(), "hugelinkd starts", sw.log_tail())
    base = sw.in_use()
    errs = add_ports(sw)
    t.check(not errs, "TAP ports added with --vlan 10, 10, 20, 30, 40, 10, --trunk 10,20, 30-32,40 and 20 with "
            "--native-vlan 10, and none", str(errs))
    t.check(vlan_fields(sw) == WANT, "port list --json shows each port's \"vlan\", \"trunk\" and \"native_vlan\"",
            str(vlan_fields(sw)))
    rc, out, _ = sw.hlctl("port", "list")
    t.check(rc == 0 and re.search(r"^a1 .*vlan=10", out, re.M) and re.search(r"^t .*trunk=10,20", out, re.M) and
            re.search(r"^xb .*trunk=30-32,40", out, re.M) and re.search(r"^n .*trunk=10,20 native=10", out, re.M),
            "hlctl port list says vlan=10, trunk=10,20, trunk=30-32,40 and trunk=10,20 native=10", out)

    b0, u0 = rx(NS["b"], IF["b"]), rx(NS["u"], IF["u"])
    peer = responder()
    got_a2, got_t10 = ping(NS["a1"], ADDR["a2"]), ping(NS["a1"], T10)
    seen = peer.stop()
    t.check(got_a2 == 3 and got_t10 == 3, "VLAN 10: a1 pings a2 (access to access) and the trunk's VLAN 10 address",
            f"{got_a2} {got_t10} {seen}")
    db, du = rx(NS["b"], IF["b"]) - b0, rx(NS["u"], IF["u"]) - u0
    t20 = seen.get("rx", {}).get("20", 0)
    t.check(db == 0 and t20 == 0 and du == 0 and sw.port("b").get("tx_packets", -1) == 0,
            "VLAN 20 (b, the trunk's VLAN 20) and the untagged port saw none of VLAN 10's frames, floods included",
            f"b {db}, trunk's VLAN 20 {t20}, u {du}, port b {sw.port('b')}")
    t10 = seen.get("rx", {}).get("10", 0)
    t.check(t10 >= 5 and set(seen.get("rx", {})) == {"10"},  # two ARP floods, three echo requests
            "the trunk got VLAN 10's frames (the ARP flood between a1 and a2 too) tagged 10, and nothing else", str(seen))
    peer = responder()
    got = ping(NS["b"], T20)
    t.check(got == 3, "VLAN 20: b pings the trunk's VLAN 20 address", f"{got}")

    # untagged and tagged frames of the untagged port reach no VLAN
    tx0 = {k: sw.port(k).get("tx_packets", -1) for k in ("a1", "a2", "t")}
    got = ping(NS["u"], ADDR["a1"], 2)
    raw(NS["u"], IF["u"], 5, [tagged(10)])
    time.sleep(0.3)
    tx1 = {k: sw.port(k).get("tx_packets", -1) for k in ("a1", "a2", "t")}
    t.check(got == 0 and tx1 == tx0, "the untagged port reaches nobody of VLAN 10, by untagged or tagged-10 frames",
            f"ping {got}, tx {tx0} -> {tx1}")

    d0 = drops(sw, "a1").get("vlan_tagged", -1)
    r = raw(NS["a1"], IF["a1"], 5, [tagged(10), tagged(20)])
    time.sleep(0.3)
    d1 = drops(sw, "a1").get("vlan_tagged", -1)
    t.check(r.returncode == 0 and d1 - d0 == 10, "tagged frames on an access port: dropped and counted (vlan_tagged)",
            f"{d0} -> {d1} {r.stderr[-200:]}")

    quiet = ("b", "u", "x1", "x2", "xb")  # VLAN 10's own ports talk now and then (ARP probes): not these
    tx0 = {k: sw.port(k).get("tx_packets", -1) for k in quiet}
    d0 = drops(sw, "t")
    r = raw(NS["t"], IF["t"], 3, HOSTILE_BAD + HOSTILE_FILTERED)
    time.sleep(0.3)
    d1 = drops(sw, "t")
    tx1 = {k: sw.port(k).get("tx_packets", -1) for k in quiet}
    # a frame the switch took would have had its source learned before going anywhere
    learned = [e for e in sw.json("mac").get("entries", []) if e["mac"] == "02:76:00:00:00:9a"]
    bad, flt = d1.get("vlan_bad", 0) - d0.get("vlan_bad", 0), d1.get("vlan_filtered", 0) - d0.get("vlan_filtered", 0)
    t.check(r.returncode == 0 and bad == 3 * len(HOSTILE_BAD) and flt == 3 * len(HOSTILE_FILTERED) and tx1 == tx0 and
            not learned, "on the trunk: VLAN id 0 and 4095, 802.1ad, two tags and a tag cut short counted as vlan_bad, "
            "untagged and VLAN 30 as vlan_filtered, none forwarded or learned",
            f"bad {bad} filtered {flt} tx {tx0} -> {tx1} learned {learned} {r.stderr[-200:]}")
    got = ping(NS["a1"], T10, 2)
    t.check(got == 2, "the trunk still carries VLAN 10 after them", f"{got}")

    entries = sw.json("mac").get("entries", [])
    tmac = netns(NS["t"], "cat", f"/sys/class/net/{IF['t']}/address").stdout.strip()  # the peer's too
    a1mac = netns(NS["a1"], "cat", f"/sys/class/net/{IF['a1']}/address").stdout.strip()
    tv = sorted(e.get("vlan") for e in entries if e["mac"] == tmac and e["port"] == "t")
    t.check(tv == [10, 20] and any(e["mac"] == a1mac and e.get("vlan") == 10 and e["port"] == "a1" for e in entries),
            "hlctl mac --json: the trunk's MAC is two entries, in VLAN 10 and VLAN 20; a1's is in VLAN 10",
            str(entries))

    peer.stop()

    bridge = Peer("xb", "bridge", "30", "40")
    got = ping(NS["x1"], ADDR["x2"])
    e0 = (csum_errors(NS["x1"]), csum_errors(NS["x2"]))
    ok1, mb1, d1 = iperf(NS["x1"], NS["x2"], ADDR["x2"], 2)
    ok2, mb2, d2 = iperf(NS["x2"], NS["x1"], ADDR["x1"], 2)
    e1 = (csum_errors(NS["x1"]), csum_errors(NS["x2"]))
    carried = bridge.stop()
    ol = sw.port("xb").get("offload", {})
    t.check(got == 3 and ok1 and ok2 and e1 == e0 and carried.get("sent", 0) > 100 and ol.get("gso_segments", 0) > 0,
            "TCP both ways between VLAN 30 and VLAN 40 through the trunk's peer: TSO frames cut into tagged segments "
            "for the trunk, untagged again on the far side, no checksum error",
            f"ping {got}, {mb1:.1f} {mb2:.1f} Mbit/s {d1} {d2} csum {e0} -> {e1} peer {carried} offload {ol}")

    vhost_endpoints(t, sw)
    native_trunk(t)
    move(t, sw)

    rc = sw.stop(signal.SIGKILL)
    t.check(rc == -signal.SIGKILL and os.path.exists(os.path.join(sw.work, "hugelinkd.ports")),
            "hugelinkd killed with SIGKILL leaves its port list", f"exit {rc}")
    time.sleep(0.3)
    t.check(sw.start(), "a new hugelinkd starts on the same run directory", sw.log_tail())
    t.check(vlan_fields(sw) == MOVED, "the VLAN configuration came back from the saved port list: the native VLAN, "
            "and m in VLAN 20", str(vlan_fields(sw)))
    for k in NS:  # the TAP interfaces went with the old process: the new ones go where the old ones were
        place(k)
    b0 = rx(NS["b"], IF["b"])
    peer = responder()
    got_a2, got_t10 = ping(NS["a1"], ADDR["a2"]), ping(NS["a1"], T10)
    seen = peer.stop()
    b1 = rx(NS["b"], IF["b"])
    got_n, got_m20, got_m10 = ping(NS["n"], ADDR["a1"]), ping(NS["m"], ADDR["b"]), ping(NS["m"], ADDR["a1"], 2)
    t.check(got_a2 == 3 and got_t10 == 3 and b1 == b0 and "20" not in seen.get("rx", {}) and got_n == 3 and
            got_m20 == 3 and got_m10 == 0,
            "after the restart VLAN 10 works again through the access ports, the trunk and the native VLAN, VLAN 20 "
            "sees none of it, and m is in VLAN 20 still", f"{got_a2} {got_t10} {seen} n {got_n} m {got_m20} {got_m10}")

    for k in NS:
        sw.hlctl("port", "del", k)
    time.sleep(0.3)
    in_use = sw.in_use()
    t.check(in_use == base, "the switch's buffers in use are back to idle after the ports are removed",
            f"{in_use} vs {base}")
    rc, _, err = sw.hlctl("port", "add", "tap", "x", "--vlan", "10", "--trunk", "20")
    rc2, _, err2 = sw.hlctl("raw", '{"cmd":"port-add","kind":"shm","name":"y","trunk":[4095]}')
    rc3, _, err3 = sw.hlctl("raw", '{"cmd":"port-add","kind":"shm","name":"z","vlan":0,"trunk":[]}')
    rc4, _, err4 = sw.hlctl("port", "add", "shm", "all", "--trunk", "1-4094")
    t.check(rc != 0 and rc2 != 0 and "trunk" in err2 and rc3 == 0 and rc4 == 0 and
            vlan_fields(sw) == {"z": (0, [], 0), "all": (0, ["1-4094"], 0)},
            "both --vlan and --trunk, or a trunk of VLAN 4095: refused; \"vlan\": 0 and \"trunk\": [] (as port "
            "list shows them) make an untagged port; a trunk of every VLAN is listed as one item",
            f"{rc} {err.strip()} / {rc2} {err2.strip()} / {rc3} {err3} / {rc4} {err4} {vlan_fields(sw)}")


def body(t, build, work, switches):
    for ns in NS.values():
        for key in ("all", "default"):
            netns(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
    sw = Switch(build, work, f"hl-vlan-{TAG}")
    switches.append(sw)
    run(t, sw)


if __name__ == "__main__":
    os.environ["HL_LOG"] = "info"  # membership changes are checked in the log, whatever the runner's $HL_LOG
    sys.exit(test_main(__doc__, PLAN, ("ip", "iperf3", "ping"), tuple(NS.values()), body))
