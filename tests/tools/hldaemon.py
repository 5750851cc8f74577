# SPDX-License-Identifier: BSD-3-Clause
"""A hugelinkd for the tools tests: started on a private socket and run
directory, driven with hlctl or raw requests, stopped by its pid file;
and hltraffic endpoints to put traffic through it; build_dir() reads a
test's one argument."""
import json
import os
import signal
import socket
import subprocess
import sys
import time


def build_dir(doc):
    """The build directory, a test's one argument; without it, the test's usage (doc) and exit status 2."""
    if len(sys.argv) != 2:
        print(doc, file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


class Daemon:
    def __init__(self, build, work, name, tag, *args, fg=True):
        self.build, self.work = build, work
        self.ctl = os.path.join(work, f"{name}.sock")
        self.pidfile = os.path.join(work, f"{name}.pid")
        self.out = os.path.join(work, f"{name}.out")
        cmd = [os.path.join(build, "tools/hugelinkd"), *(["--foreground"] if fg else []), "--ctl", self.ctl,
               "--run-dir", os.path.join(work, name), "--pool-mb", "32", "--buffers", "1024",
               "--name", f"{tag}-{name}", "--pidfile", self.pidfile, *args]
        with open(self.out, "a") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.fg = fg
        if not fg:
            self.proc.wait(30)  # the detaching parent returns once the daemon is ready

    def hlctl(self, *args):
        r = subprocess.run([os.path.join(self.build, "tools/hlctl"), "--ctl", self.ctl, *args],
                           capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout, r.stderr

    def ready(self):
        return self.hlctl("wait-ready", "--timeout", "20")[0] == 0

    def stats(self):
        rc, out, err = self.hlctl("stats", "--json")
        return json.loads(out) if rc == 0 else {}

    def stop(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            pid = self.proc.pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            if self.fg and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.fg:
            self.proc.wait(10)


def request(ctl, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(ctl)
    s.sendall(line.encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode()


def endpoint(build, work, sock, me, peer=None, seconds=2.0, size=64, extra=()):
    """An hltraffic endpoint on a vhost socket: sends to peer (if any) and checks what it receives."""
    cmd = [os.path.join(build, "tools/hltraffic"), "--path", sock, "--mac", me, "--seconds", str(seconds),
           "--size", str(size), "--run-dir", work, "--pool-mb", "32", *extra]
    if peer:
        cmd += ["--peer", peer]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, timeout=60):
    """(exit status, its JSON summary, stderr) of an endpoint."""
    out, err = p.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    try:
        return p.returncode, json.loads(lines[-1]), err
    except (IndexError, ValueError):
        return p.returncode, {}, err + out
