# SPDX-License-Identifier: BSD-3-Clause
"""What the memif tests share: DPDK testpmd as a net_memif peer, and the daemon helpers.

testpmd runs with its own --file-prefix (the test's pid), a small mbuf pool,
and `--stats-period` so it needs no terminal; it is stopped with SIGINT and
its closing "Accumulated forward statistics" are read back.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from test_hugelinkd import Daemon, endpoint, result, settle  # noqa: E402,F401
from hltap import Tap, bail  # noqa: E402

TESTPMD = "/usr/bin/dpdk-testpmd"
# what testpmd prints once it forwards
FORWARDING = r"Start automatic packet forwarding|Press enter"


class Testpmd:
    """One testpmd with one or more net_memif vdevs."""

    def __init__(self, work, tag, vdevs, fwd="macswap", extra_eal=(), extra=(), lcores="0,1", main_lcore=0):
        self.log = os.path.join(work, f"testpmd-{tag}.log")
        self.prefix = f"memif-{tag}-{os.getpid()}"
        args = [TESTPMD, "-l", lcores, "--main-lcore", str(main_lcore), "--no-pci", "--file-prefix",
                self.prefix, *extra_eal]
        for v in vdevs:
            args += ["--vdev", v]
        # a server's link is down until its client comes: do not wait for it
        link = ["--disable-link-check"] if any("role=server" in v for v in vdevs) else []
        args += ["--", "--nb-cores=1", f"--forward-mode={fwd}", "--stats-period", "1", "--no-lsc-interrupt", *link,
                 "--total-num-mbufs=8192", "--port-topology=loop" if len(vdevs) == 1 else "--port-topology=paired",
                 *extra]
        self.args = args
        self.proc = None

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_for(self, pattern, secs=20.0):
        t = time.time()
        while time.time() - t < secs:
            if re.search(pattern, self.text()):
                return True
            if self.proc.poll() is not None:
                return bool(re.search(pattern, self.text()))
            time.sleep(0.1)
        return False

    def stop(self, sig=signal.SIGINT):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logf.close()
        # DPDK leaves its run-time directory (and, killed, its hugepage files) behind
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        for f in os.listdir("/dev/hugepages") if os.path.isdir("/dev/hugepages") else []:
            if f.startswith(self.prefix + "map_"):
                os.unlink(os.path.join("/dev/hugepages", f))
        return rc

    def totals(self):
        """(rx, tx) from the closing accumulated statistics, or (-1, -1)."""
        m = re.search(r"Accumulated forward statistics.*?RX-packets:\s*(\d+).*?TX-packets:\s*(\d+)", self.text(), re.S)
        return (int(m[1]), int(m[2])) if m else (-1, -1)

    def tail(self, n=8):
        return " | ".join(self.text().splitlines()[-n:])


def memif_vdev(index, sock, mac, role="client", extra=""):
    return f"net_memif{index},role={role},socket={sock},socket-abstract=no,id=0,mac={mac}{extra}"


def hlshm(build, record, me, peer, size, secs):
    """An hlshm peer on shm port s sending `size`-byte frames to `peer` for `secs` and checking what comes back."""
    return subprocess.Popen([os.path.join(build, "tools/hlshm"), "--record", record, "--port", "s", "--mac", me,
                             "--peer", peer, "--seconds", str(secs), "--size", str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def shm_result(p):
    """(exit status, its JSON summary, stderr) of an hlshm peer."""
    out, err = p.communicate(timeout=60)
    m = re.search(r'\{"shm-peer".*\}', out)
    return p.returncode, (json.loads(m[0]) if m else {}), err


def flowed(r, least):
    """A sender's result: it exited 0, more than `least` frames came back, and every byte of them checked."""
    return r[0] == 0 and r[1].get("rx_packets", 0) > least and r[1].get("rx_bad", 1) == 0


def stats(d, name):
    return {p["name"]: p for p in d.json("stats")["ports"]}.get(name, {})


def port_state(d, name):
    for p in d.json("port", "list")["ports"]:
        if p["name"] == name:
            return p
    return {}


def wait_state(d, name, state, secs=15.0):
    t = time.time()
    while time.time() - t < secs:
        p = port_state(d, name)
        if p.get("state") == state:
            return p
        time.sleep(0.1)
    return port_state(d, name)


class Run:
    """One test's work dir and daemon, with a vhost port v and an shm port s beside the memif port under test.

    Frames go from an hltraffic endpoint on v (VHOST_MAC) or an hlshm peer on s (SHM_MAC) to testpmd
    (PMD_MAC), which sends them back with the MACs swapped."""

    VHOST_MAC, PMD_MAC, SHM_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01", "02:00:00:00:0c:01"

    def __init__(self, argv, planned, prefix, msock):
        self.build = os.path.abspath(argv[1])
        if not os.access(TESTPMD, os.X_OK):
            bail(f"{TESTPMD} is missing: scripts/setup-host.sh installs dpdk")
        self.t = Tap(planned)
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.vsock = os.path.join(self.work, "v.sock")
        self.msock = os.path.join(self.work, msock)
        self.d = Daemon(self.build, self.work)
        self.pmd = None

    def testpmd(self, tag, port, role="client", vdev_extra="", **kw):
        """A testpmd with one net_memif vdev of `role` on the memif socket, waited for until memif port `port`
        is up and testpmd forwards. (testpmd, the port's state); finish() stops it if the test does not."""
        vdev = memif_vdev(0, self.msock, self.PMD_MAC, role=role, extra=vdev_extra)
        self.pmd = Testpmd(self.work, tag, [vdev], **kw).start()
        p = wait_state(self.d, port, "up")
        self.pmd.wait_for(FORWARDING, 10)
        return self.pmd, p

    def frames(self, secs, size):
        """Checked `size`-byte frames from the hltraffic endpoint on v to testpmd for `secs`: its result."""
        return result(endpoint(self.build, self.work, self.vsock, self.VHOST_MAC, self.PMD_MAC, secs, size))

    def shm_frames(self, secs, size):
        """The same from an hlshm peer on s, in the daemon's pool."""
        record = os.path.join(self.work, f"hld-test-{os.getpid()}.meta")
        return shm_result(hlshm(self.build, record, self.SHM_MAC, self.PMD_MAC, size, secs))

    def start(self, name, *memif_add):
        """Start the daemon and add `port add memif NAME --socket MSOCK ...memif_add`, v and s; True when all went."""
        d = self.d
        return d.start() and d.hlctl("port", "add", "memif", name, "--socket", self.msock, *memif_add)[0] == 0 \
            and d.hlctl("port", "add", "vhost", "v", "--server", self.vsock, "--zcopy", "off")[0] == 0 \
            and d.hlctl("port", "add", "shm", "s")[0] == 0

    @classmethod
    def main(cls, body, planned, prefix, msock):
        """body(run, tap, daemon) on a new Run with memif socket `msock`, cleaned up whatever happened.
        The exit code."""
        run = cls(sys.argv, planned, prefix, msock)
        try:
            body(run, run.t, run.d)
        finally:
            code = run.finish()
        return code

    def finish(self):
        """Whatever happened: testpmd and the daemon killed, the work dir gone. The exit code."""
        if self.pmd is not None:
            self.pmd.stop(signal.SIGKILL)
        return finish(self.d, self.work, self.t)


def finish(d, work, t, closers=()):
    """A test's end, whatever happened: its peers closed, the daemon killed, the work dir gone. The exit code."""
    for c in closers:
        try:
            c.close()
        except OSError:
            pass
    if d.proc is not None:
        d.proc.kill()
    print(f"# daemon log: {d.log_tail(4)}")
    shutil.rmtree(work, ignore_errors=True)
    return t.exit_code()
