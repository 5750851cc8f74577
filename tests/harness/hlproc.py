# SPDX-License-Identifier: BSD-3-Clause
"""Processes the Python tests and scripts start: stopping one whatever state it is in, and a free loopback port."""
import signal
import socket
import subprocess


def stop(p, sig=signal.SIGTERM, secs=15):
    """Send p `sig` if it still runs and wait up to `secs` for it, then kill it. Its exit status."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(secs)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def free_port():
    """A TCP port on 127.0.0.1 that nothing was bound to a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
