#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd's AF_XDP ports on veth pairs into network namespaces.

usage: test_afxdp.py BUILD_DIR

Namespace a runs hugelinkd with two AF_XDP ports, one on each of two veth
pairs whose other ends are in namespaces n1 and n2 (native XDP on the first,
generic on the second), so the kernels in n1 and n2 reach each other only
through the switch. Checked: refusals that say why (no such interface,
more queues than it has, zero-copy on a driver without it, a bad mode);
hugelink's XDP program on the interfaces while the ports exist and gone
after; ping, 2000 checked frames each way (sent and verified by raw
packet sockets in the namespaces; none lost past the ingress veth's own
queue, whose overflows the kernel counts) and TCP both ways with no checksum
error; every UMEM frame accounted for (free, fill ring or transmit ring)
and none handed back twice; a port deleted and added again losing no
frame; after SIGKILL the program goes with the process, and a restarted
hugelinkd brings the ports back from its saved list and traffic resumes;
a hugelinkd without the capabilities refused with the reason;
a port on two queues of a veth that has them; the switch's buffers back to
idle. Prints TAP, plan first.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hlnet import Switch, csum_errors, iperf, netns, sh, test_main  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS_A, NS = f"hlup{TAG}xa", [f"hlup{TAG}n1", f"hlup{TAG}n2"]
NS_MQ, VA_MQ, VN_MQ, ADDR_MQ = f"hlup{TAG}n3", f"hlup{TAG}v3", f"hlup{TAG}p3", "10.240.0.3"  # two queues
VA = [f"hlup{TAG}v1", f"hlup{TAG}v2"]  # in a, under the AF_XDP ports
VN = [f"hlup{TAG}p1", f"hlup{TAG}p2"]  # in n1, n2
ADDR = ["10.240.0.1", "10.240.0.2"]
MODES = ["native", "generic"]
FRAMES = 2000
PLAN = 22

# Checked frames over a raw packet socket: ethertype 0x88b5 (local experimental),
# a sequence number and a payload made from it, paced so no veth queue overflows.
SEND_PROG = r"""
import socket, struct, sys, time
dev, dst, n = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
src = s.getsockname()[4]
pattern = bytes(range(256)) * 8
for i in range(n):
    size = 60 + (i * 37) % 1400
    body = struct.pack("!I", i) + pattern[i % 256:i % 256 + size - 18]
    s.send(dst + src + b"\x88\xb5" + body)
    if i % 16 == 15:
        time.sleep(0.002)
"""
RECV_PROG = r"""
import json, socket, struct, sys, time
dev, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: a slow reader must not lose frames
s.bind((dev, 0))
s.settimeout(0.2)
pattern = bytes(range(256)) * 8
print("ready", flush=True)
seen, bad, end = set(), 0, time.time() + secs
while len(seen) < n and time.time() < end:
    try:
        f = s.recv(4096)
    except socket.timeout:
        continue
    if len(f) < 18 or f[12:14] != b"\x88\xb5":
        continue
    i = struct.unpack("!I", f[14:18])[0]
    size = 60 + (i * 37) % 1400
    if len(f) != size or f[18:] != pattern[i % 256:i % 256 + size - 18]:
        bad += 1
    else:
        seen.add(i)
print(json.dumps({"good": len(seen), "bad": bad}), flush=True)
"""


def mac_of(ns, dev):
    return netns(ns, "cat", f"/sys/class/net/{dev}/address").stdout.strip()


def rx_dropped(dev):
    return int(netns(NS_A, "cat", f"/sys/class/net/{dev}/statistics/rx_dropped").stdout)


def checked_frames(src, dst):
    """FRAMES checked frames from namespace src to dst: (good + those the kernel dropped on the
    ingress veth before XDP ran, bad). On a loaded host a veth's queue to its NAPI can overflow;
    past that point, nothing may be lost."""
    drop0 = rx_dropped(VA[src])
    rx = subprocess.Popen(["ip", "netns", "exec", NS[dst], sys.executable, "-c", RECV_PROG, VN[dst], str(FRAMES),
                           "15"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rx.stdout.readline()  # "ready": its socket is bound
    netns(NS[src], sys.executable, "-c", SEND_PROG, VN[src], mac_of(NS[dst], VN[dst]), str(FRAMES), timeout=60)
    out, err = rx.communicate(timeout=30)
    try:
        r = json.loads(out.strip().splitlines()[-1])
        return r["good"] + rx_dropped(VA[src]) - drop0, r["bad"]
    except (IndexError, ValueError, KeyError):
        return 0, f"receiver: {err[-200:]}"


def ping(src, dst, count=5):
    r = netns(NS[src], "ping", "-c", str(count), "-i", "0.2", "-W", "2", ADDR[dst], check=False, timeout=30)
    return f"{count} received" in r.stdout, r.stdout.strip().splitlines()[-2:]


def xdp_attached(dev):
    out = netns(NS_A, "ip", "link", "show", "dev", dev).stdout
    return "prog/xdp" in out and "hl_xsk" in out


def umem_ok(sw):
    """Every UMEM frame of each port accounted for, none handed back twice: (ok, detail)."""
    res = []
    for name in ("x1", "x2"):
        a = sw.port(name).get("afxdp", {})
        res.append(a.get("umem_frames", 0) > 0 and a.get("rx_bad_desc", 1) == 0 and
                   a.get("umem_free", 0) + a.get("umem_fill", 0) + a.get("umem_tx", 0) == a.get("umem_frames"))
        res.append(a)
    return all(r for r in res[::2]), res[1::2]


def add_ports(sw):
    return [sw.hlctl("port", "add", "afxdp", f"x{i + 1}", "--ifname", VA[i], "--mode", MODES[i])
            for i in range(2)]


def refusals(t, sw):
    cases = [
        (["--ifname", f"hlup{TAG}none"], "no interface"),
        (["--ifname", VA[0], "--queues", "4"], "queues asked"),
        (["--ifname", VA[0], "--zerocopy", "on"], "zero-copy"),
        (["--ifname", VA[0], "--mode", "fast"], "must be one of"),
    ]
    errs = [sw.hlctl("port", "add", "afxdp", "bad", *args) for args, _ in cases]
    good = all(rc != 0 and want in err for (rc, _, err), (_, want) in zip(errs, cases))
    t.check(good and sw.json("port", "list").get("ports") == [] and not xdp_attached(VA[0]),
            "refused, each saying why: no such interface, more queues than it has, zero-copy on veth, a bad "
            "mode; nothing left attached", str([e[2].strip() for e in errs]))


def traffic(t, sw, phase):
    ok, out = ping(0, 1)
    t.check(ok, f"{phase}: ping n1 -> n2 through the two AF_XDP ports", str(out))
    res = [checked_frames(0, 1), checked_frames(1, 0)]
    drops = [(p["name"], p["drops"], p["afxdp"]) for p in sw.stats().get("ports", [])]
    t.check(all(r == (FRAMES, 0) for r in res), f"{phase}: {FRAMES} checked frames each way, all good, none lost",
            f"{res} {drops} " + " ".join(netns(NS_A, "ip", "-s", "link", "show", v).stdout for v in VA))


def run(t, sw):
    if not t.check(sw.start(), "hugelinkd starts in namespace a", sw.log_tail()):
        return
    base = sw.in_use()
    refusals(t, sw)
    rcs = add_ports(sw)
    ports = sw.json("port", "list").get("ports", [])
    t.check(all(rc == 0 for rc, _, _ in rcs) and [(p.get("kind"), p.get("ifname"), p.get("mode"), p.get("queues"))
                                                  for p in ports] == [("afxdp", VA[i], MODES[i], 1) for i in range(2)],
            "two AF_XDP ports, native and generic XDP: port list shows interface, mode and queues",
            f"{[r[2] for r in rcs]} {ports}")
    t.check(all(xdp_attached(v) for v in VA), "hugelink's XDP program is on both interfaces")
    traffic(t, sw, "first")
    e0 = [csum_errors(ns) for ns in NS]
    r1, r2 = iperf(NS[0], NS[1], ADDR[1], 2), iperf(NS[1], NS[0], ADDR[0], 2)
    t.diag(f"TCP {r1[1]:.0f} Mbit/s n1 -> n2, {r2[1]:.0f} Mbit/s n2 -> n1")
    e1 = [csum_errors(ns) for ns in NS]
    t.check(r1[0] and r2[0] and min(e1) >= 0 and e1 == e0, "TCP both ways, no checksum error in either kernel",
            f"{r1[2]} {r2[2]} {e0} {e1}")
    time.sleep(0.3)
    ok, detail = umem_ok(sw)
    t.check(ok, "every UMEM frame accounted for (free, fill ring, transmit ring), none handed back twice",
            str(detail))

    rc, _, err = sw.hlctl("port", "del", "x1")
    gone = not xdp_attached(VA[0])
    rc2, _, err2 = sw.hlctl("port", "add", "afxdp", "x1", "--ifname", VA[0], "--mode", MODES[0])
    t.check(rc == 0 and gone and rc2 == 0 and xdp_attached(VA[0]),
            "deleting a port removes its XDP program; adding it again puts it back", f"{err} {err2} gone={gone}")
    traffic(t, sw, "after delete and re-add")
    ok, detail = umem_ok(sw)
    t.check(ok, "after delete and re-add every UMEM frame is still accounted for", str(detail))

    rc = sw.stop(signal.SIGKILL)
    time.sleep(0.3)
    t.check(rc == -signal.SIGKILL and not any(xdp_attached(v) for v in VA),
            "SIGKILL: the XDP programs go with the process (BPF links)", f"exit {rc}")
    t.check(sw.start(), "a new hugelinkd starts on the same run directory", sw.log_tail())
    names = sorted(p["name"] for p in sw.json("port", "list").get("ports", []))
    t.check(names == ["x1", "x2"] and all(xdp_attached(v) for v in VA),
            "it brought both AF_XDP ports back from the saved port list", str(names))
    traffic(t, sw, "after SIGKILL and restart")

    # two queues: a socket and a UMEM each
    rc, _, err = sw.hlctl("port", "add", "afxdp", "x3", "--ifname", VA_MQ, "--queues", "2")
    x3 = sw.port("x3").get("afxdp", {})
    t.check(rc == 0 and x3.get("umem_frames") == 2 * 2048 and
            x3.get("umem_free", 0) + x3.get("umem_fill", 0) + x3.get("umem_tx", 0) == 2 * 2048,
            "an AF_XDP port on two queues: a socket and 2048 UMEM frames each", f"{err} {x3}")
    r = netns(NS_MQ, "ping", "-c", "5", "-i", "0.2", "-W", "2", ADDR[0], check=False, timeout=30)
    t.check("5 received" in r.stdout, "ping through the two-queue port to n1", r.stdout[-200:])

    for name in ("x1", "x2", "x3"):
        sw.hlctl("port", "del", name)
    time.sleep(0.3)
    now = sw.in_use()
    t.check(now == base and not any(xdp_attached(v) for v in VA),
            "buffers in use back to idle, no XDP program left", f"{now} vs {base}")
    rc = sw.stop()
    t.check(rc == 0, "hugelinkd stops cleanly", f"exit {rc}")


def unprivileged(t, build, work, switches):
    """A hugelinkd without CAP_BPF, CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN: the refusal says what is missing."""
    os.mkdir(os.path.join(work, "nocap"))
    sw = Switch(build, os.path.join(work, "nocap"), f"hl-afxdp-nocap-{TAG}", ns=NS_A,
                wrap=["setpriv", "--bounding-set", "-bpf,-net_raw,-net_admin,-sys_admin,-perfmon"])
    switches.append(sw)
    started = sw.start()
    rc, _, err = sw.hlctl("port", "add", "afxdp", "x1", "--ifname", VA[0])
    t.check(started and rc != 0 and "needs root" in err and not xdp_attached(VA[0]),
            "without the capabilities, the refusal says it needs root, and nothing is attached",
            f"{err.strip()} {sw.log_tail(3)}")
    sw.stop()


def body(t, build, work, switches):
    for i in range(2):
        sh("ip", "link", "add", VA[i], "netns", NS_A, "type", "veth", "peer", "name", VN[i], "netns", NS[i])
        netns(NS_A, "ip", "link", "set", VA[i], "up")
        # the kernels' own IPv6 neighbour discovery would share the veths' counters
        netns(NS[i], "sysctl", "-qw", f"net.ipv6.conf.{VN[i]}.disable_ipv6=1")
        netns(NS[i], "ip", "addr", "add", f"{ADDR[i]}/24", "dev", VN[i])
        netns(NS[i], "ip", "link", "set", VN[i], "up")
        # no NIC on the way to fill in checksums the sending kernel leaves partial
        netns(NS[i], "ethtool", "-K", VN[i], "tx", "off")
    sh("ip", "link", "add", VA_MQ, "netns", NS_A, "numtxqueues", "2", "numrxqueues", "2", "type", "veth", "peer",
       "name", VN_MQ, "netns", NS_MQ, "numtxqueues", "2", "numrxqueues", "2")
    netns(NS_A, "ip", "link", "set", VA_MQ, "up")
    netns(NS_MQ, "sysctl", "-qw", f"net.ipv6.conf.{VN_MQ}.disable_ipv6=1")
    netns(NS_MQ, "ip", "addr", "add", f"{ADDR_MQ}/24", "dev", VN_MQ)
    netns(NS_MQ, "ip", "link", "set", VN_MQ, "up")
    unprivileged(t, build, work, switches)
    sw = Switch(build, work, f"hl-afxdp-{TAG}", ns=NS_A)
    switches.append(sw)
    run(t, sw)


if __name__ == "__main__":
    sys.exit(test_main(__doc__, PLAN, ("ip", "iperf3", "ping", "ethtool", "setpriv"), (NS_A, *NS, NS_MQ), body))
