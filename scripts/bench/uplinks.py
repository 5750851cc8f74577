#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Uplink benchmarks, each against a peer in the same run (what `hlbench afxdp|vxlan` runs).

usage: uplinks.py afxdp|vxlan BUILD_DIR [--size B] [--seconds S] [--rounds N]

afxdp: an hltraffic endpoint on a vhost port sends frames as fast as it
  can; hugelinkd (in a namespace of its own, its worker on CPU 1, the
  endpoint on CPU 0) forwards them out of one other port into another
  namespace, and what that namespace's interface received is counted.
  The port is an AF_XDP port on a veth pair (native XDP, copy mode: veth
  has no zero-copy) in one half of each round and a TAP port whose
  interface was moved into the namespace in the other, the order rotated
  from round to round. OVS-DPDK's net_af_xdp is not measured here.
vxlan: two hosts as namespaces, each with its own hugelinkd, joined by a
  veth pair; an endpoint on one host's vhost port sends to an endpoint on
  the other's, through the hosts' VXLAN ports (hugelink), or through each
  host's TAP port into a Linux bridge with a kernel vxlan device (the
  kernel's bridge + vxlan between the same endpoints and switches), in
  rotated rounds. Received frames are the far endpoint's.

Prints one JSON line per comparison: medians of the rounds with their
min-max spread and every round's values, Mpps and Gbit/s of both, and
their ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "harness"))
from hlnet import Switch, netns, sh  # noqa: E402

TAG = f"{os.getpid() % 100000}"
MAC = ["02:68:6c:62:00:01", "02:68:6c:62:00:02"]


def median(v):
    s = sorted(v)
    n = len(s)
    return 0.0 if n == 0 else (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2)


def spread(key, v, nd=3):
    return {key: round(median(v), nd), f"{key}_min": round(min(v), nd), f"{key}_max": round(max(v), nd),
            f"{key}_rounds": [round(x, nd) for x in v]}


def report(bench, a, res, ours, peer, extra):
    """The JSON line of a comparison: both sides' Mpps per round, medians, spread, Gbit/s, ratio."""
    ratio = [x / y if y > 0 else 0.0 for x, y in zip(res[ours], res[peer])]
    line = {"bench": bench, "size": a.size, "seconds": a.seconds, "rounds": a.rounds, **extra}
    for side in (ours, peer):
        line.update(spread(f"{side}_mpps", res[side]))
        line[f"{side}_gbps"] = round(median(res[side]) * a.size * 8 / 1e3, 3)
    line.update(spread("ratio", ratio, 2))
    print(json.dumps(line), flush=True)


def endpoint(build, work, sock, me, peer, size, seconds, cpu):
    cmd = ["taskset", "-c", str(cpu), os.path.join(build, "tools/hltraffic"), "--path", sock, "--mac", me,
           "--seconds", str(seconds), "--size", str(size), "--no-check", "--run-dir", work, "--pool-mb", "64"]
    if peer:
        cmd += ["--peer", peer]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"hltraffic: {err.strip()[-300:]}")


def rx_packets(ns, dev):
    return int(netns(ns, "cat", f"/sys/class/net/{dev}/statistics/rx_packets").stdout)


# ---- afxdp ----------------------------------------------------------------------


def bench_afxdp(a, build, work):
    ns_sw, ns_x, ns_t = f"hlup{TAG}bs", f"hlup{TAG}bx", f"hlup{TAG}bt"
    va, vn, tapif = f"hlup{TAG}bv", f"hlup{TAG}bp", f"hlup{TAG}bt"
    nss = [ns_sw, ns_x, ns_t]
    sw = Switch(build, work, f"hl-bx-{TAG}", ns=ns_sw, extra=["--cpu", "1"])
    try:
        for ns in nss:
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", va, "netns", ns_sw, "type", "veth", "peer", "name", vn, "netns", ns_x)
        netns(ns_sw, "ip", "link", "set", va, "up")
        netns(ns_x, "ip", "link", "set", vn, "up")
        if not sw.start():
            raise RuntimeError(f"hugelinkd: {sw.log_tail()}")
        sock = os.path.join(work, "vm.sock")
        if sw.hlctl("port", "add", "vhost", "vm", "--server", sock)[0] != 0:
            raise RuntimeError("port add vhost")
        res = {"afxdp": [], "tap": []}
        for r in range(a.rounds):
            for kind in (("afxdp", "tap") if r % 2 == 0 else ("tap", "afxdp")):
                if kind == "afxdp":
                    rc, _, err = sw.hlctl("port", "add", "afxdp", "out", "--ifname", va)
                    where = (ns_x, vn)
                else:
                    rc, _, err = sw.hlctl("port", "add", "tap", "out", "--ifname", tapif)
                    if rc == 0:
                        netns(ns_sw, "ip", "link", "set", tapif, "netns", ns_t)
                        netns(ns_t, "ip", "link", "set", tapif, "up")
                    where = (ns_t, tapif)
                if rc != 0:
                    raise RuntimeError(f"port add {kind}: {err.strip()}")
                time.sleep(0.3)
                before = rx_packets(*where)
                e = endpoint(build, work, sock, MAC[0], MAC[1], a.size, a.seconds, 0)
                sent = result(e)
                dt = max(sent.get("seconds", a.seconds), 1e-3)
                got = rx_packets(*where) - before
                res[kind].append(got / dt / 1e6)
                if a.verbose:
                    out = sw.port("out")
                    print(f"# {kind}: sent {sent.get('tx_packets')} in {dt:.2f} s, received {got}; port "
                          f"{out.get('tx_packets')} sent, drops {out.get('drops')} {out.get('afxdp', '')}",
                          file=sys.stderr)
                sw.hlctl("port", "del", "out")
        report("afxdp", a, res, "afxdp", "tap", {"peer": "tap", "afxdp_mode": "native, copy (veth)"})
        return 0
    finally:
        sw.stop()
        for ns in nss:
            sh("ip", "netns", "del", ns, check=False)


# ---- vxlan ------------------------------------------------------------------------


def bench_vxlan(a, build, work):
    hosts = [f"hlup{TAG}h1", f"hlup{TAG}h2"]
    veth = [f"hlup{TAG}u1", f"hlup{TAG}u2"]
    under = ["10.241.0.1", "10.241.0.2"]
    works = [os.path.join(work, f"h{i}") for i in range(2)]
    sws = []
    try:
        for i in range(2):
            os.mkdir(works[i])
            sh("ip", "netns", "add", hosts[i])
            netns(hosts[i], "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", veth[0], "netns", hosts[0], "type", "veth", "peer", "name", veth[1], "netns",
           hosts[1])
        socks = [os.path.join(works[i], "vm.sock") for i in range(2)]
        for i in range(2):
            netns(hosts[i], "ip", "addr", "add", f"{under[i]}/24", "dev", veth[i])
            netns(hosts[i], "ip", "link", "set", veth[i], "up")
            # the kernel's vxlan and bridge: a TAP port of the host's switch is their station
            vx, br = f"hlup{TAG}k{i}", f"hlup{TAG}r{i}"
            netns(hosts[i], "ip", "link", "add", br, "type", "bridge")
            netns(hosts[i], "ip", "link", "add", vx, "type", "vxlan", "id", "77", "remote", under[1 - i], "local",
                  under[i], "dstport", "4790", "dev", veth[i])
            netns(hosts[i], "ip", "link", "set", vx, "master", br)
            for d in (vx, br):
                netns(hosts[i], "ip", "link", "set", d, "up")
            sw = Switch(build, works[i], f"hl-bv{i}-{TAG}", ns=hosts[i], extra=["--cpu", "1"])
            sws.append(sw)
            if not sw.start():
                raise RuntimeError(f"hugelinkd: {sw.log_tail()}")
            if sw.hlctl("port", "add", "vhost", "vm", "--server", socks[i])[0] != 0:
                raise RuntimeError("port add vhost")
        res = {"hugelink": [], "kernel": []}
        for r in range(a.rounds):
            for kind in (("hugelink", "kernel") if r % 2 == 0 else ("kernel", "hugelink")):
                for i, sw in enumerate(sws):
                    if kind == "hugelink":
                        rc, _, err = sw.hlctl("port", "add", "vxlan", "up", "--remote", under[1 - i], "--vni", "77",
                                              "--local", under[i])
                    else:
                        tap = f"hlup{TAG}t{i}"
                        rc, _, err = sw.hlctl("port", "add", "tap", "up", "--ifname", tap)
                        if rc == 0:
                            netns(hosts[i], "ip", "link", "set", tap, "master", f"hlup{TAG}r{i}")
                            netns(hosts[i], "ip", "link", "set", tap, "up")
                    if rc != 0:
                        raise RuntimeError(f"{kind} uplink: {err.strip()}")
                time.sleep(0.5)
                rx = endpoint(build, works[1], socks[1], MAC[1], None, a.size, a.seconds + 1, 0)
                time.sleep(0.3)
                tx = endpoint(build, works[0], socks[0], MAC[0], MAC[1], a.size, a.seconds, 0)
                sent, got = result(tx), result(rx)
                res[kind].append(got.get("rx_packets", 0) / max(sent.get("seconds", a.seconds), 1e-3) / 1e6)
                if a.verbose:
                    ups = [(sw.port("up").get("tx_packets"), sw.port("up").get("rx_packets"),
                            sw.port("up").get("drops"), sw.port("up").get("vxlan", "")) for sw in sws]
                    print(f"# {kind}: sent {sent.get('tx_packets')}, received {got.get('rx_packets')}; uplinks "
                          f"(tx, rx, drops) {ups}", file=sys.stderr)
                for sw in sws:
                    sw.hlctl("port", "del", "up")
        report("vxlan", a, res, "hugelink", "kernel",
               {"peer": "kernel bridge + vxlan (TAP ports of the same switches as stations)"})
        return 0
    finally:
        for sw in sws:
            sw.stop()
        for ns in hosts:
            sh("ip", "netns", "del", ns, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["afxdp", "vxlan"])
    ap.add_argument("build")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--verbose", action="store_true", help="each round's counts on stderr")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("uplinks.py: needs root (namespaces, XDP)", file=sys.stderr)
        return 1
    build = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="hl-ubench.")
    try:
        return (bench_afxdp if a.what == "afxdp" else bench_vxlan)(a, build, work)
    except RuntimeError as e:
        print(f"uplinks.py: {e}", file=sys.stderr)
        return 1
    finally:
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
