#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A run of hugelinkd as Prometheus saw it, drawn as an SVG dashboard.

usage: metrics_plot.py BUILD_DIR --out FILE.svg [--phase-seconds S]

Starts hugelinkd with two vhost ports and `--metrics` on a loopback port, a
Prometheus of its own (temporary config and data, scraping every second),
and hltraffic endpoints in phases: idle, one way at 100 kpps of 64-byte
frames, both ways as fast as they go with 1518-byte frames, idle again.
Then it asks Prometheus' HTTP API (query_range) for per-port packet and bit
rates, the worker's busy share and the pool buffers in use, and draws them
in three panels over the same time axis, the phases shaded. Prints one JSON
line: what each phase averaged, as Prometheus computed it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
from hlproc import free_port, stop  # noqa: E402

MAC = ["02:00:00:00:6d:01", "02:00:00:00:6d:02"]
COLORS = {"a": "#1f77b4", "b": "#ff7f0e", "busy": "#2ca02c", "bufs": "#9467bd"}


def wait_for(pred, secs):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.25)
    return False


class Run:
    def __init__(self, build, work):
        self.build, self.work = build, work
        self.ctl = os.path.join(work, "ctl.sock")
        self.mport, self.pport = free_port(), free_port()
        self.procs = []

    def hlctl(self, *args):
        return subprocess.run([os.path.join(self.build, "tools/hlctl"), "--ctl", self.ctl, *args],
                              capture_output=True, text=True, timeout=20)

    def spawn(self, cmd, log):
        p = subprocess.Popen(cmd, stdout=open(os.path.join(self.work, log), "w"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start(self):
        self.spawn([os.path.join(self.build, "tools/hugelinkd"), "--foreground", "--ctl", self.ctl, "--run-dir",
                    self.work, "--pool-mb", "64", "--buffers", "4096", "--name", f"hl-mplot-{os.getpid()}",
                    "--metrics", f"127.0.0.1:{self.mport}"], "hugelinkd.log")
        if not wait_for(lambda: self.hlctl("ping").returncode == 0, 20):
            raise RuntimeError("hugelinkd did not start")
        for n in "ab":
            self.hlctl("port", "add", "vhost", n, "--server", os.path.join(self.work, f"{n}.sock"))
        cfg = os.path.join(self.work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                    f"  - job_name: hugelink\n    static_configs:\n      - targets: ['127.0.0.1:{self.mport}']\n")
        self.spawn([shutil.which("prometheus"), f"--config.file={cfg}",
                    f"--storage.tsdb.path={os.path.join(self.work, 'tsdb')}",
                    f"--web.listen-address=127.0.0.1:{self.pport}"], "prometheus.log")
        if not wait_for(lambda: self.query("up") == 1.0, 60):
            raise RuntimeError("Prometheus does not scrape the endpoint")

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.pport}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.load(r)
        except (OSError, ValueError):
            return None
        return res["data"]["result"] if res.get("status") == "success" else None

    def query(self, q):
        res = self.api("query", query=q)
        return float(res[0]["value"][1]) if res else None

    def series(self, q, start, end):
        """{label value: [(t, v)]} for a range query, keyed by the port or worker label."""
        out = {}
        for s in self.api("query_range", query=q, start=start, end=end, step=1) or []:
            key = s["metric"].get("port") or s["metric"].get("worker") or "all"
            out[key] = [(float(t), float(v)) for t, v in s["values"]]
        return out

    def traffic(self, secs, size, both, rate=None):
        extra = ["--rate", str(rate)] if rate else []
        eps = []
        for i, n in enumerate("ab"):
            peer = MAC[1 - i] if (i == 0 or both) else None
            cmd = [os.path.join(self.build, "tools/hltraffic"), "--path", os.path.join(self.work, f"{n}.sock"),
                   "--mac", MAC[i], "--seconds", str(secs + (0 if peer else 0.5)), "--size", str(size),
                   "--run-dir", self.work, "--pool-mb", "32", *extra]
            if peer:
                cmd += ["--peer", peer]
            eps.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            if i == 0 and not both:
                eps.reverse()  # the receiver first, so it is there when frames come
        for e in eps:
            e.communicate(timeout=secs + 60)

    def stop(self):
        for p in reversed(self.procs):
            stop(p)


def human(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def svg(panels, phases, t0, t1, title):
    """Stacked panels, each [(name, unit, {key: [(t, v)]}, colors)], phases [(start, end, label)]."""
    w, ph, left, top = 900, 170, 80, 40
    shades = ["#e8f0fa", "#fbeee0"]
    h = top + len(panels) * (ph + 40) + 20
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' "
           f"font-size='12'>", f"<rect width='{w}' height='{h}' fill='#ffffff'/>",
           f"<text x='{left}' y='22' font-size='15' font-weight='bold'>{title}</text>"]
    pw = w - left - 140

    def x(t):
        return left + (t - t0) / (t1 - t0) * pw

    for i, (name, unit, data, colors) in enumerate(panels):
        y0 = top + i * (ph + 40) + 18
        vmax = max([v for s in data.values() for _, v in s] + [1e-9]) * 1.15
        out.append(f"<text x='{left}' y='{y0 - 6}' font-weight='bold'>{name}</text>")
        for n, (s, e, label) in enumerate(phases):
            out.append(f"<rect x='{x(s):.1f}' y='{y0}' width='{x(e) - x(s):.1f}' height='{ph}' "
                       f"fill='{shades[n % 2]}'/>")
            if i == 0:
                out.append(f"<text x='{(x(s) + x(e)) / 2:.1f}' y='{y0 + 14}' text-anchor='middle' "
                           f"fill='#666'>{label}</text>")
        out.append(f"<rect x='{left}' y='{y0}' width='{pw}' height='{ph}' fill='none' stroke='#999'/>")
        for k in range(5):
            v = vmax * k / 4
            yy = y0 + ph - ph * k / 4
            out.append(f"<line x1='{left}' x2='{left + pw}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#ddd'/>")
            out.append(f"<text x='{left - 6}' y='{yy + 4:.1f}' text-anchor='end'>{human(v)}</text>")
        out.append(f"<text x='12' y='{y0 + ph / 2}' transform='rotate(-90 12 {y0 + ph / 2})' "
                   f"text-anchor='middle'>{unit}</text>")
        for j, (key, pts) in enumerate(sorted(data.items())):
            if not pts:
                continue
            path = " ".join(f"{'M' if n == 0 else 'L'}{x(t):.1f},{y0 + ph - v / vmax * ph:.1f}"
                            for n, (t, v) in enumerate(pts))
            c = colors.get(key, "#333")
            out.append(f"<path d='{path}' fill='none' stroke='{c}' stroke-width='2'/>")
            out.append(f"<rect x='{left + pw + 14}' y='{y0 + 10 + j * 18}' width='12' height='3' fill='{c}'/>")
            out.append(f"<text x='{left + pw + 32}' y='{y0 + 15 + j * 18}'>{key}</text>")
        for k in range(0, int(t1 - t0) + 1, 5):
            out.append(f"<text x='{x(t0 + k):.1f}' y='{y0 + ph + 14}' text-anchor='middle' fill='#666'>{k}s</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--phase-seconds", type=float, default=8)
    a = ap.parse_args()
    if shutil.which("prometheus") is None:
        print("metrics_plot: prometheus is missing (scripts/setup-host.sh installs it)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="hl-mplot.")
    r = Run(os.path.abspath(a.build), work)
    try:
        r.start()
        secs = a.phase_seconds
        t0 = time.time()
        time.sleep(4)
        p1 = time.time()
        r.traffic(secs, 64, both=False, rate=100000)
        p2 = time.time()
        r.traffic(secs, 1518, both=True)
        p3 = time.time()
        time.sleep(5)
        t1 = time.time()
        time.sleep(2)  # the last scrape
        phases = [(p1, p2, "a to b, 64 B at 100 kpps"), (p2, p3, "both ways, 1518 B, flat out")]
        pps = r.series("rate(hugelink_port_rx_packets_total[3s])", t0, t1)
        gbps = r.series("rate(hugelink_port_rx_bytes_total[3s]) * 8 / 1e9", t0, t1)
        busy = r.series("rate(hugelink_worker_busy_seconds_total[3s])", t0, t1)
        bufs = r.series("hugelink_pool_buffers_in_use", t0, t1)
        panels = [("Packets received by the switch, per port", "packets/s", pps, COLORS),
                  ("Bits received, per port", "Gbit/s", gbps, COLORS),
                  ("Worker busy share, and pool buffers in use as a share of the 4096", "share",
                   {"worker 0 busy": busy.get("0", []),
                    "buffers in use": [(t, v / 4096) for t, v in bufs.get("all", [])]},
                   {"worker 0 busy": COLORS["busy"], "buffers in use": COLORS["bufs"]})]
        with open(a.out, "w") as f:
            f.write(svg(panels, phases, t0, t1, "hugelinkd as Prometheus scraped it (1 s scrapes, 3 s rates)"))

        def avg(data, key, s, e):
            vals = [v for t, v in data.get(key, []) if s + 3 <= t <= e]
            return round(sum(vals) / len(vals), 4) if vals else None
        summary = {"bench": "metrics_plot", "out": a.out,
                   "phase_64B_oneway": {"a_pps": avg(pps, "a", p1, p2), "b_pps": avg(pps, "b", p1, p2)},
                   "phase_1518B_both": {"a_gbps": avg(gbps, "a", p2, p3), "b_gbps": avg(gbps, "b", p2, p3),
                                        "busy": avg(busy, "0", p2, p3)}}
        print(json.dumps(summary), flush=True)
        return 0 if all(pps.get(k) for k in "ab") else 1
    finally:
        r.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
