#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd's Prometheus metrics: the text, the HTTP endpoint, a real Prometheus.

usage: test_metrics.py BUILD_DIR

`hlctl stats --prometheus` and GET /metrics on `--metrics 127.0.0.1:PORT`
must pass `promtool check metrics`, name the families the README lists and
agree with `hlctl stats --json`. The responder refuses what is not a GET of
/metrics and a client that sends nothing does not hold the control socket;
without --metrics the daemon listens on no TCP port. Then a Prometheus of the
test's own (temporary config and data, loopback) scrapes the endpoint every
second while two hltraffic endpoints send through the switch, and its HTTP
API must answer a query on hugelink_port_rx_packets_total that moved from 0
to what the switch counted. Prints TAP, plan first.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hlproc import free_port, stop  # noqa: E402
from hltap import Tap  # noqa: E402
from hldaemon import Daemon, build_dir, endpoint, result  # noqa: E402

TAG = f"ops-met-{os.getpid()}"
MAC = ["02:00:00:00:0a:01", "02:00:00:00:0a:02"]
FAMILIES = ["hugelink_port_rx_packets_total", "hugelink_port_rx_bytes_total", "hugelink_port_tx_packets_total",
            "hugelink_port_tx_bytes_total", "hugelink_port_drops_total", "hugelink_port_zcopy_ratio",
            "hugelink_port_pinned_buffers", "hugelink_pool_buffers_in_use", "hugelink_worker_busy_ratio",
            "hugelink_port_up", "hugelink_restarts_total", "hugelink_mac_table_entries",
            "hugelink_port_connects_total", "hugelink_log_suppressed_lines_total", "hugelink_queue_packets_total",
            "hugelink_queue_drops_total"]


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def parse(text):
    """{(name, frozenset(labels)): value} and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def http(port, raw, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    return head.decode(errors="replace"), body.decode(errors="replace")


def tcp_listeners(pid):
    """TCP ports pid listens on (from its socket fds and /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    ports = []
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(f) as fh:
            for line in fh.readlines()[1:]:
                x = line.split()
                if x[3] == "0A" and x[9] in inodes:
                    ports.append(int(x[1].rsplit(":", 1)[1], 16))
    return ports


def check_text(t, d, port):
    rc, text, err = d.hlctl("stats", "--prometheus")
    ok, out = promtool(text)
    t.check(rc == 0 and ok == 0, "promtool check metrics accepts hlctl stats --prometheus", out[:500] + err)
    samples, types = parse(text)
    missing = [f for f in FAMILIES if f not in types]
    t.check(not missing, "every family is there with its TYPE", str(missing))
    t.check(all(n.endswith("_total") == (ty == "counter") for n, ty in types.items()),
            "counters and only counters end in _total", str(types))
    t.check(("hugelink_port_rx_packets_total", frozenset({("port", "a")})) in samples and
            ("hugelink_port_drops_total", frozenset({("port", "b"), ("reason", "tx_full")})) in samples,
            'per-port samples: hugelink_port_rx_packets_total{port="a"}, drops by reason', text[-400:])
    head, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
    ok, out = promtool(body)
    t.check(head.startswith("HTTP/1.0 200") and "text/plain; version=0.0.4" in head and ok == 0,
            "GET /metrics: 200, text/plain version 0.0.4, promtool accepts it", head + out[:300])
    codes = [(http(port, raw)[0].split(" ") + ["-", "-"])[1] for raw in
             (b"GET / HTTP/1.0\r\n\r\n", b"POST /metrics HTTP/1.0\r\n\r\n", b"nonsense\r\n\r\n",
              b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 8000 + b"\r\n\r\n")]
    t.check(codes == ["404", "405", "400", "431"], "other paths, methods, garbage, huge headers: 404 405 400 431",
            str(codes))
    # a client that connects and says nothing holds only the responder
    idle = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    rc = d.hlctl("ping")[0]
    took = time.monotonic() - start
    idle.close()
    t.check(rc == 0 and took < 1.0, "a silent HTTP client does not hold the control socket", f"{took:.2f} s")


def prometheus(t, d, work, port, socks):
    prom_port = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                f"  - job_name: hugelink\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    log = open(os.path.join(work, "prometheus.log"), "w")
    prom = subprocess.Popen([shutil.which("prometheus"), f"--config.file={cfg}",
                             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=subprocess.STDOUT)

    def query(q):
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                res = json.load(r)
        except (OSError, ValueError):
            return None
        if res.get("status") != "success" or not res["data"]["result"]:
            return None
        return float(res["data"]["result"][0]["value"][1])

    def wait_for(q, good, secs):
        end = time.time() + secs
        v = None
        while time.time() < end:
            v = query(q)
            if v is not None and good(v):
                return v
            time.sleep(0.5)
        return v

    try:
        rx = 'hugelink_port_rx_packets_total{port="a"}'
        up = wait_for('up{job="hugelink"}', lambda v: v == 1, 60)
        before = wait_for(rx, lambda v: v == 0, 10)
        t.check(up == 1 and before == 0, "Prometheus scrapes the endpoint (up == 1), port a at 0 before traffic",
                f"up {up}, rx {before}")
        eb = endpoint(d.build, work, socks[1], MAC[1], MAC[0], 4)
        time.sleep(0.3)
        ea = endpoint(d.build, work, socks[0], MAC[0], MAC[1], 3)
        ra, rb = result(ea), result(eb)
        time.sleep(0.5)
        st = {p["name"]: p for p in json.loads(d.hlctl("stats", "--json")[1])["ports"]}
        want = st["a"]["rx_packets"]
        got = wait_for(rx, lambda v: v == want, 10)
        t.check(ra[0] == 0 and rb[0] == 0 and want > 1000 and got == want,
                "Prometheus' API answers the counter that moved: what the switch counted", f"{got} vs {want}; {ra[2]}")
        samples, _ = parse(d.hlctl("stats", "--prometheus")[1])
        q = {k: samples.get(("hugelink_queue_packets_total",
                             frozenset({("port", k[0]), ("queue", k[1]), ("direction", k[2])})))
             for k in (("a", "1", "from_guest"), ("b", "0", "to_guest"))}
        t.check(q[("a", "1", "from_guest")] == want and q[("b", "0", "to_guest")] == st["b"]["tx_packets"],
                "per queue: a's transmit queue carried a's rx, b's receive queue b's tx", f"{q} {want}")
        rate = wait_for('max_over_time(rate(hugelink_port_tx_packets_total{port="b"}[3s])[30s:1s])', lambda v: v > 0,
                        10)
        t.check(rate is not None and rate > 100, "a rate() over the scraped counter shows the traffic",
                f"{rate} packets/s")
    finally:
        stop(prom)
        log.close()


def main():
    build = build_dir(__doc__)
    t = Tap(16)
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            t.diag(f"{tool} is missing: scripts/setup-host.sh installs Debian's prometheus")
    with tempfile.TemporaryDirectory(prefix=f"{TAG}-") as work:
        plain = Daemon(build, work, "plain", TAG)
        ok = plain.ready()
        listening = tcp_listeners(plain.proc.pid) if ok else None
        plain.stop()
        t.check(ok and listening == [], "without --metrics hugelinkd listens on no TCP port", str(listening))

        port = free_port()
        d = Daemon(build, work, "m", TAG, "--metrics", f"127.0.0.1:{port}")
        try:
            if not t.check(d.ready(), "hugelinkd --metrics 127.0.0.1:PORT starts", open(d.out).read()[-500:]):
                return 1
            t.check(tcp_listeners(d.proc.pid) == [port], "it listens on that port alone")
            socks = [os.path.join(work, n + ".sock") for n in "ab"]
            for n, s in zip("ab", socks):
                d.hlctl("port", "add", "vhost", n, "--server", s)
            check_text(t, d, port)
            prometheus(t, d, work, port, socks)
            st = json.loads(d.hlctl("stats", "--json")[1])
            t.check(st["buffers"]["in_use"] == 0, "no switch buffer in use at the end", str(st["buffers"]))
            # a crash and a start that takes over: counted
            d.proc.kill()
            d.proc.wait()
            d = Daemon(build, work, "m", TAG, "--metrics", f"127.0.0.1:{port}")
            samples = parse(d.hlctl("stats", "--prometheus")[1])[0] if d.ready() else {}
            t.check(samples.get(("hugelink_restarts_total", frozenset())) == 1 and
                    samples.get(("hugelink_last_outage_seconds", frozenset()), 0) > 0 and
                    ("hugelink_port_up", frozenset({("port", "a")})) in samples,
                    "after SIGKILL and a new start: hugelink_restarts_total 1, the outage, the ports back",
                    str({k: v for k, v in samples.items() if "restart" in k[0] or "outage" in k[0]}))
        finally:
            d.stop()
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
