# SPDX-License-Identifier: BSD-3-Clause
"""What the testpmd-on-a-hugelinkd-vhost-port tests share: testpmd's
virtio-user in macswap with MAC B on a port, a checked round trip from an
hltraffic sender with MAC A on a second port, and the clean end every such
test checks."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memif"))
from memif_env import Testpmd, endpoint, result, settle  # noqa: E402

A, B = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
FORWARDING = r"Start automatic packet forwarding|Press enter"


def pmd_for(work, tag, sock, opts):
    """testpmd's virtio-user on sock with the ring options `opts`, MAC B."""
    vdev = f"net_virtio_user0,path={sock},queues=1,{opts},mac={B}"
    return Testpmd(work, tag, [vdev], extra_eal=["--no-huge", "-m", "512"]).start()


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
