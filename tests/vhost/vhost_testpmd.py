# SPDX-License-Identifier: BSD-3-Clause
"""What the testpmd-on-a-hugelinkd-vhost-port tests share: a daemon with
vhost port p for testpmd and v for the sender, testpmd's virtio-user in
macswap with MAC B, a checked round trip from an hltraffic sender with MAC
A on v, and the clean end every such test checks."""
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import TESTPMD, Daemon, Testpmd, endpoint, finish, result, settle  # noqa: E402
from hltap import Tap, bail  # noqa: E402

A, B = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
FORWARDING = r"Start automatic packet forwarding|Press enter"


def pmd_for(work, tag, sock, opts):
    """testpmd's virtio-user on sock with the ring options `opts`, MAC B."""
    vdev = f"net_virtio_user0,path={sock},queues=1,{opts},mac={B}"
    return Testpmd(work, tag, [vdev], extra_eal=["--no-huge", "-m", "512"]).start()


class Run:
    """One test's daemon (ports p, --zcopy as asked, and v, copy mode), its work dir and its testpmds."""

    def __init__(self, planned, prefix, p_zcopy):
        self.build = os.path.abspath(sys.argv[1])
        if not os.access(TESTPMD, os.X_OK):
            bail(f"{TESTPMD} is missing: scripts/setup-host.sh installs dpdk")
        self.t = Tap(planned)
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.psock, self.vsock = os.path.join(self.work, "p.sock"), os.path.join(self.work, "v.sock")
        self.d = Daemon(self.build, self.work)
        self.p_zcopy = p_zcopy
        self.pmds = []

    def start(self):
        """The daemon and its two ports: one check."""
        d = self.d
        ok = d.start() and d.hlctl("port", "add", "vhost", "p", "--server", self.psock, "--zcopy", self.p_zcopy)[0] == 0 \
            and d.hlctl("port", "add", "vhost", "v", "--server", self.vsock, "--zcopy", "off")[0] == 0
        self.t.check(ok, f"hugelinkd runs with a vhost port for testpmd (zero-copy {self.p_zcopy}) and one for the "
                     "sender", d.log_tail())

    def testpmd(self, tag, sock, opts):
        """pmd_for(), stopped at the end whatever happens."""
        pmd = pmd_for(self.work, tag, sock, opts)
        self.pmds.append(pmd)
        return pmd

    @classmethod
    def main(cls, body, planned, prefix, p_zcopy):
        """body(run) on a started Run; then every testpmd killed, the daemon too, the work dir gone. The exit code."""
        run = cls(planned, prefix, p_zcopy)
        try:
            run.start()
            body(run)
        finally:
            for pmd in run.pmds:
                pmd.stop(signal.SIGKILL)  # nothing, for one stopped already
            code = finish(run.d, run.work, run.t)
        return code


def round_trip(t, build, work, vsock, size, secs, what):
    """Frames from A on vsock to B and back, every byte checked: TAP check `what`, and the sender's result."""
    r = result(endpoint(build, work, vsock, A, B, secs, size))
    return t.check(r[0] == 0 and r[1].get("rx_packets", 0) > 100 and r[1].get("rx_bad", 1) == 0, what, str(r)), r


def clean_end(t, d, names):
    """Three checks: no buffer in use once ports `names` settle, no port error, the daemon exits cleanly."""
    st = settle(d, names)
    bad = sum(x.get("errors", 0) for x in st["ports"])
    t.check(st["buffers"]["in_use"] == 0, "no buffer is in use at the end", str(st["buffers"]))
    t.check(bad == 0, "no port counted an error", str(st["ports"]))
    t.check(d.stop() == 0, "hugelinkd exits cleanly")


def counted_round_trips(t, d, build, work, vsock, pmd, what):
    """64 and 1518 B round trips from the sender on vsock through `pmd` on port p, then two checks that
    the port's counters and testpmd's own cover them; testpmd is stopped. Returns the port's counters
    before and after, for the caller's own checks."""
    before = d.port("p")
    _, r64 = round_trip(t, build, work, vsock, 64, 2, f"{what}: 64 B frames through testpmd and back, every byte checked")
    round_trip(t, build, work, vsock, 1518, 1.5, f"{what}: 1518 B frames make the same round trip intact")
    after = settle(d, ["p", "v"])
    pp = {x["name"]: x for x in after["ports"]}["p"]
    sent, back = pp["tx_packets"] - before["tx_packets"], pp["rx_packets"] - before["rx_packets"]
    t.check(sent >= r64[1].get("rx_packets", 1) and back >= r64[1].get("rx_packets", 1) and back <= sent,
            f"{what}: the port counts the frames it gave testpmd and the ones it got back", f"{before} {pp}")
    pmd.stop()
    rx, tx = pmd.totals()
    t.check(rx >= back and tx >= back and rx > 0, f"{what}: testpmd's own counters cover what crossed the port",
            f"testpmd rx {rx} tx {tx}; port sent {sent} got {back}")
    return before, pp
