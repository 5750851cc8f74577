#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two "hosts", each a network namespace with its own hugelinkd, joined by VXLAN, then by AF_XDP uplinks.

usage: test_two_hosts.py BUILD_DIR

The namespaces h1 and h2 are joined by a veth pair (the underlay); each
runs a hugelinkd (its own --name, --run-dir and --ctl) with a VXLAN port to
the other and a vhost-user port with an hltraffic endpoint on it. The two
endpoints send checked frames to each other through both switches and the
tunnel. Then h1's hugelinkd is killed with SIGKILL and started again on
its run directory: its VXLAN port comes back from the saved port list, with
the same fields, and traffic resumes both ways. Then the VXLAN ports give
way to AF_XDP ports on the veth ends themselves (native XDP), and the
endpoints' frames cross as plain Ethernet through both. Buffers in use
return to idle in both switches at the end. Prints TAP, plan first.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hlnet import Switch, netns, sh, test_main  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS = [f"hlup{TAG}h1", f"hlup{TAG}h2"]
VETH = [f"hlup{TAG}u1", f"hlup{TAG}u2"]
UNDER = ["10.239.0.1", "10.239.0.2"]
MAC = ["02:68:6c:75:70:01", "02:68:6c:75:70:02"]
VNI = 4242
RATE = 20000
SECONDS = 2
PLAN = 14


def endpoint(build, work, sock, me, peer):
    cmd = [os.path.join(build, "tools/hltraffic"), "--path", sock, "--mac", me, "--peer", peer, "--seconds",
           str(SECONDS), "--rate", str(RATE), "--size", "128", "--run-dir", work, "--pool-mb", "32"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p):
    out, err = p.communicate(timeout=60)
    try:
        return p.returncode, json.loads(out.strip().splitlines()[-1]), err
    except (IndexError, ValueError):
        return p.returncode, {}, err + out


def traffic(build, works, socks, sws, up="up"):
    """Both endpoints at once; (ok, detail): every frame checked good, and every frame one switch's
    uplink sent reached the other's, or was counted dropped by the far kernel at a full socket or ring
    (a worker starved of CPU), and its endpoint (an endpoint not yet attached while its peer sends costs
    frames at its own vhost port, not between the hosts)."""
    before = [sw.port(up) for sw in sws]
    eps = [endpoint(build, works[i], socks[i], MAC[i], MAC[1 - i]) for i in range(2)]
    rs = [result(e) for e in eps]
    time.sleep(0.3)
    after = [sw.port(up) for sw in sws]
    def kernel_drops(p):
        return p.get("vxlan", {}).get("socket_drops", 0) + p.get("afxdp", {}).get("kernel_rx_dropped", 0)
    kd = [kernel_drops(after[i]) - kernel_drops(before[i]) for i in range(2)]
    d = [{k: after[i].get(k, 0) - before[i].get(k, 0) for k in ("rx_packets", "tx_packets")} for i in range(2)]
    for i in range(2):
        d[i]["rx_packets"] += kd[i]
    ok = all(rc == 0 for rc, _, _ in rs)
    for i in range(2):
        got, sent = rs[i][1].get("rx_packets", 0), rs[1 - i][1].get("tx_packets", 0)
        ok = ok and rs[i][1].get("rx_bad", 1) == 0 and sent > 0 and got >= 0.5 * sent
        ok = ok and d[i]["rx_packets"] == d[1 - i]["tx_packets"] > 0.5 * sent
    return ok, [d, kd, [(rc, r, err[-200:]) for rc, r, err in rs], [sw.port("vm").get("drops") for sw in sws]]


def add_ports(sw, i, sock):
    rcs = [sw.hlctl("port", "add", "vxlan", "up", "--remote", UNDER[1 - i], "--vni", str(VNI), "--local",
                    UNDER[i]),
           sw.hlctl("port", "add", "vhost", "vm", "--server", sock)]
    return all(rc == 0 for rc, _, _ in rcs), [err for _, _, err in rcs]


def vxlan_fields(sw):
    p = next((p for p in sw.json("port", "list").get("ports", []) if p["name"] == "up"), {})
    return {k: p.get(k) for k in ("kind", "remote", "local", "vni", "dstport", "mtu")}


def run(t, build, works, sws):
    socks = [os.path.join(w, "vm.sock") for w in works]
    started = [sw.start() for sw in sws]
    if not t.check(all(started), "a hugelinkd starts in each namespace", " / ".join(s.log_tail() for s in sws)):
        return
    base = [sw.in_use() for sw in sws]
    added = [add_ports(sws[i], i, socks[i]) for i in range(2)]
    t.check(all(a[0] for a in added), "each gets a VXLAN port to the other and a vhost port", str(added))
    fields = vxlan_fields(sws[0])
    want = {"kind": "vxlan", "remote": UNDER[1], "local": UNDER[0], "vni": VNI, "dstport": 4789, "mtu": 1450}
    t.check(fields == want, "port list shows the VXLAN port's fields", str(fields))

    ok, detail = traffic(build, works, socks, sws)
    t.check(ok, "checked frames between the two hosts' endpoints both ways, through two switches and the tunnel, "
            "none lost in the tunnel",
            str(detail))
    ups = [sw.port("up") for sw in sws]
    t.check(ups[0].get("tx_packets", 0) > 0 and ups[1].get("rx_packets", 0) > 0 and
            all(v == 0 for u in ups for k, v in u.get("vxlan", {}).items() if k not in ("tx_datagrams", "socket_drops")),
            "the tunnel carried them, with nothing dropped by the VXLAN ports",
            str([(u.get("tx_packets"), u.get("rx_packets"), u.get("vxlan")) for u in ups]))

    rc = sws[0].stop(signal.SIGKILL)
    t.check(rc == -signal.SIGKILL and os.path.exists(os.path.join(works[0], "hugelinkd.ports")),
            "h1's hugelinkd killed with SIGKILL leaves its port list", f"exit {rc}")
    time.sleep(0.3)
    t.check(sws[0].start(), "a new hugelinkd starts in h1 on the same run directory", sws[0].log_tail())
    t.check(vxlan_fields(sws[0]) == want, "the VXLAN port came back from the saved port list with its fields",
            str(vxlan_fields(sws[0])))
    ok, detail = traffic(build, works, socks, sws)
    t.check(ok, "traffic between the two hosts resumes both ways after the restart", str(detail))
    up = sws[0].port("up")
    t.check(up.get("rx_packets", 0) > 0 and up.get("tx_packets", 0) > 0,
            "through the restored VXLAN port", str(up))

    # the same two hosts joined by AF_XDP uplinks on the veth ends instead of the tunnel
    rcs = []
    for i, sw in enumerate(sws):
        sw.hlctl("port", "del", "up")
        rcs.append(sw.hlctl("port", "add", "afxdp", "upx", "--ifname", VETH[i]))
    t.check(all(rc == 0 for rc, _, _ in rcs), "each host's VXLAN port replaced by an AF_XDP port on its veth end",
            str([err for _, _, err in rcs]))
    ok, detail = traffic(build, works, socks, sws, "upx")
    t.check(ok, "checked frames between the two hosts' endpoints both ways through the AF_XDP uplinks, none lost "
            "between them", str(detail))

    for sw in sws:
        sw.hlctl("port", "del", "vm")
        sw.hlctl("port", "del", "upx")
    time.sleep(0.3)
    now = [sw.in_use() for sw in sws]
    t.check(now == base, "buffers in use back to idle in both switches", f"{now} vs {base}")
    rcs = [sw.stop() for sw in sws]
    t.check(rcs == [0, 0], "both hugelinkd stop cleanly", str(rcs))


def body(t, build, work, switches):
    works = [os.path.join(work, f"h{i}") for i in range(2)]
    for i in range(2):
        os.mkdir(works[i])
        switches.append(Switch(build, works[i], f"hl-vxh{i}-{TAG}", ns=NS[i]))
    sh("ip", "link", "add", VETH[0], "netns", NS[0], "type", "veth", "peer", "name", VETH[1], "netns", NS[1])
    for i in range(2):
        # no IPv6 neighbour discovery of the kernels' own: every frame on the wire is the endpoints'
        netns(NS[i], "sysctl", "-qw", f"net.ipv6.conf.{VETH[i]}.disable_ipv6=1")
        netns(NS[i], "ip", "addr", "add", f"{UNDER[i]}/24", "dev", VETH[i])
        netns(NS[i], "ip", "link", "set", VETH[i], "up")
    run(t, build, works, switches)


if __name__ == "__main__":
    sys.exit(test_main(__doc__, PLAN, ("ip",), NS, body))
