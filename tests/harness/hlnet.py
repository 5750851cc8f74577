# SPDX-License-Identifier: BSD-3-Clause
"""Network namespaces and hugelinkd for the Python tests that reach the kernel.

test_main() is such a test's frame: its namespaces made and removed (also
on failure), a work directory, the plan's checks failed loudly when a
prerequisite is missing. A Switch is a hugelinkd started in the foreground (in a network namespace
when one is given, through `ip netns exec`), with its files in a work
directory of the test's; commands go to it through hlctl. iperf() runs TCP
between two namespaces; csum_errors() reads a namespace's TCP checksum
error count, which every receiver must leave unchanged.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from hltap import Tap


def need_tools(t, plan, tools):
    """Root and every program in tools, or all plan checks of Tap t fail loudly (False)."""
    missing = [x for x in tools if shutil.which(x) is None]
    if missing or os.geteuid() != 0:
        for _ in range(plan):
            t.check(False, "MISSING PREREQUISITE", f"needs root and {missing} (make test installs them)")
        return False
    return True


def sh(*cmd, check=True, timeout=60):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def netns(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def csum_errors(ns):
    """InCsumErrors of TCP in a namespace's /proc/net/snmp."""
    out = netns(ns, "cat", "/proc/net/snmp").stdout.splitlines()
    for i in range(len(out) - 1):
        if out[i].startswith("Tcp:") and out[i + 1].startswith("Tcp:"):
            keys, vals = out[i].split()[1:], out[i + 1].split()[1:]
            return int(dict(zip(keys, vals)).get("InCsumErrors", -1))
    return -1


def iperf(client_ns, server_ns, server_ip, seconds, reverse=False):
    """iperf3 from client_ns to server_ip in server_ns (or back with -R): (ok, Mbit/s, detail)."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", server_ip],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        args = ["iperf3", "-c", server_ip, "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
        r = netns(client_ns, *args, check=False, timeout=seconds + 30)
        try:
            j = json.loads(re.sub(r":\s*\t", ":", r.stdout))
            bps = j["end"]["sum_received"]["bits_per_second"]
            return r.returncode == 0 and bps > 0, bps / 1e6, ""
        except (ValueError, KeyError):
            return False, 0.0, (r.stdout + r.stderr)[-300:]
    finally:
        srv.kill()
        srv.wait()


class Switch:
    """A hugelinkd with its control socket, run directory and log in work."""

    def __init__(self, build, work, name, ns=None, extra=(), wrap=()):
        """extra: more hugelinkd options; wrap: a command hugelinkd runs under (setpriv ...)."""
        self.build, self.work, self.name, self.ns, self.extra, self.wrap = build, work, name, ns, list(extra), list(wrap)
        self.ctl = os.path.join(work, "ctl.sock")
        self.proc = None

    def start(self):
        log = open(os.path.join(self.work, "hugelinkd.log"), "a")
        cmd = [*self.wrap, os.path.join(self.build, "tools/hugelinkd"), "--foreground", "--ctl", self.ctl, "--run-dir",
               self.work, "--pool-mb", "64", "--buffers", "8192", "--name", self.name, *self.extra]
        if self.ns is not None:
            cmd = ["ip", "netns", "exec", self.ns, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.hlctl("wait-ready", "--timeout", "30")[0] == 0

    def hlctl(self, *args):
        r = subprocess.run([os.path.join(self.build, "tools/hlctl"), "--ctl", self.ctl, *args],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def json(self, *args):
        rc, out, _ = self.hlctl(*args, "--json")
        return json.loads(out) if rc == 0 else {}

    def stats(self):
        return self.json("stats")

    def port(self, name):
        return next((p for p in self.stats().get("ports", []) if p["name"] == name), {})

    def in_use(self):
        return self.stats().get("buffers", {}).get("in_use", -1)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait() if self.proc else None

    def log_tail(self, n=8):
        try:
            with open(os.path.join(self.work, "hugelinkd.log")) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def test_main(doc, plan, tools, namespaces, body):
    """Run body(t, build, work, switches) for `test.py BUILD_DIR` in fresh namespaces; the exit status.

    Every namespace is made with its loopback up and removed at the end,
    whatever happens; every Switch body appends to switches is stopped; an
    exception from body fails the plan's remaining checks, with the
    switches' last log lines.
    """
    if len(sys.argv) != 2:
        print(doc)
        return 2
    build = os.path.abspath(sys.argv[1])
    t = Tap(plan)
    if not need_tools(t, plan, tools):
        return 1
    work = tempfile.mkdtemp(prefix="hl-net.")
    switches = []
    try:
        for ns in namespaces:
            sh("ip", "netns", "add", ns)
            netns(ns, "ip", "link", "set", "lo", "up")
        body(t, build, work, switches)
    except Exception as e:  # a set-up step failed: the plan's remaining checks fail
        t.diag(f"stopped: {e}")
        for sw in switches:
            t.diag(sw.log_tail())
    finally:
        for sw in switches:
            sw.stop()
        for ns in namespaces:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return t.exit_code()
