#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd start-up and shutdown: stopped or killed at any moment, it strands nothing.

usage: test_lifecycle.py BUILD_DIR

SIGTERM and SIGKILL land at 30 evenly spread moments of start-up (from exec
to the "ready" line, whose time is measured first) and SIGKILL at 10 moments
of shutdown. After a TERM no file of the pool is left in hugetlbfs, /dev/shm
or the run directory and the exit status is 0; after a KILL the next start
succeeds, in the same run directory by itself and in another one with
--takeover. Then --clean (refused while the owner lives), the refusal that
names --clean and --takeover, hlctl wait-ready, the pid file and the
detaching parent. Prints TAP, plan first.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Tap  # noqa: E402

STARTUP_MOMENTS = 30
SHUTDOWN_MOMENTS = 10
NAME = f"hl-life-{os.getpid()}"


def mem_dirs():
    dirs = ["/dev/shm"]
    with open("/proc/mounts") as f:
        dirs += [l.split()[1] for l in f if l.split()[2] == "hugetlbfs"]
    return dirs


def pool_files():
    """Files of our pool name on hugetlbfs and in /dev/shm."""
    found = []
    for d in mem_dirs():
        try:
            found += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(NAME)]
        except OSError:
            pass
    return found


def leftovers(run_dir):
    """What a clean stop must not leave: pool files anywhere, anything in the run directory."""
    left = pool_files()
    if os.path.isdir(run_dir):
        for root, _, files in os.walk(run_dir):
            left += [os.path.join(root, f) for f in files]
    return left


class Env:
    def __init__(self, build, work):
        self.build, self.work = build, work
        self.hugelinkd = os.path.join(build, "tools/hugelinkd")
        self.hlctl = os.path.join(build, "tools/hlctl")
        self.procs = []
        self.pidf = os.path.join(work, "hugelinkd.pid")

    def run_dir(self, which):
        return os.path.join(self.work, which)

    def ctl(self, which):
        return os.path.join(self.run_dir(which), "ctl.sock")

    def args(self, which, *more, fg=True):
        return [self.hugelinkd, *(["--foreground"] if fg else []), "--ctl", self.ctl(which), "--run-dir",
                self.run_dir(which), "--pool-mb", "32", "--buffers", "2048", "--name", NAME, *more]

    def popen(self, which, *more, out=subprocess.DEVNULL):
        p = subprocess.Popen(self.args(which, *more), stdout=out, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def ctl_run(self, which, *args, timeout=30):
        r = subprocess.run([self.hlctl, "--ctl", self.ctl(which), *args], capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def start_ready(self, which, *more):
        """Start and wait for the ready line: (proc, seconds from exec to ready) or (proc, None)."""
        t0 = time.monotonic()
        p = self.popen(which, *more, out=subprocess.PIPE)
        for line in p.stdout:
            if "ready" in line:
                return p, time.monotonic() - t0
        return p, None

    def term(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            return "hung"
        if p.stdout:
            p.stdout.close()
        err = p.stderr.read() if p.stderr else ""
        if p.stderr:
            p.stderr.close()
        self.last_err = err
        return rc

    def clean(self, which):
        r = subprocess.run([self.hugelinkd, "--clean", "--name", NAME, "--ctl", self.ctl(which), "--run-dir",
                            self.run_dir(which)], capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def reset(self):
        """Between cases: kill anything of ours and clean both run directories."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []
        try:  # a detached daemon is no child of ours: its pid file names it
            os.kill(int(open(self.pidf).read()), signal.SIGKILL)
            time.sleep(0.2)
        except (OSError, ValueError):
            pass
        for which in ("a", "b"):
            self.clean(which)
            shutil.rmtree(self.run_dir(which), ignore_errors=True)


def restart_and_stop(env, which, *more):
    """The next start after a kill: ready, then a TERM that leaves nothing. (ok, detail)."""
    p, t = env.start_ready(which, *more)
    if t is None:
        rc = env.term(p)
        return False, f"did not become ready (exit {rc}): {env.last_err.strip()[-300:]}"
    rc = env.term(p)
    left = leftovers(env.run_dir(which))
    if rc != 0 or left:
        return False, f"exit {rc}, left {left}"
    return True, ""


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    tap = Tap(STARTUP_MOMENTS * 2 + SHUTDOWN_MOMENTS + 17)
    work = tempfile.mkdtemp(prefix="hl-life.")
    env = Env(build, work)
    try:
        run(env, tap)
    finally:
        env.reset()
        shutil.rmtree(work, ignore_errors=True)
    return tap.exit_code()


def run(env, tap):
    # how long start-up and shutdown take here, to spread the moments over them
    ups, downs = [], []
    for _ in range(3):
        p, t = env.start_ready("a")
        if t is not None:
            ups.append(t)
        t0 = time.monotonic()
        env.term(p)
        downs.append(time.monotonic() - t0)
    tap.check(len(ups) == 3 and not leftovers(env.run_dir("a")), "three starts to ready, each stopped clean",
              f"ready times {ups}, left {leftovers(env.run_dir('a'))}")
    up = statistics.median(ups) if ups else 0.5
    down = statistics.median(downs)
    tap.diag(f"start-up takes {up * 1000:.0f} ms, shutdown {down * 1000:.0f} ms")
    env.reset()

    # SIGTERM at each moment of start-up: exit 0, nothing left. The one
    # exception is a TERM that lands while the dynamic loader still runs,
    # before the program's first instruction: it dies of the signal, and
    # must have made nothing (not even its run directory).
    early = 0
    for i in range(STARTUP_MOMENTS):
        at = up * i / (STARTUP_MOMENTS - 1)
        p = env.popen("a")
        time.sleep(at)
        rc = env.term(p)
        left = leftovers(env.run_dir("a"))
        before_main = rc == -signal.SIGTERM and not os.path.exists(env.run_dir("a"))
        early += before_main
        good = (rc == 0 or before_main) and not left
        nxt, why = restart_and_stop(env, "b") if good else (False, "")
        tap.check(good and nxt, f"TERM {at * 1000:.0f} ms into start-up: exit 0, nothing left, "
                  "the next start elsewhere succeeds", f"exit {rc}, left {left} {why} {env.last_err[-300:]}")
        env.reset()
    tap.diag(f"{early} of {STARTUP_MOMENTS} TERMs landed before the program's first instruction")

    # SIGKILL at each moment of start-up: the next start succeeds
    for i in range(STARTUP_MOMENTS):
        at = up * i / (STARTUP_MOMENTS - 1)
        p = env.popen("a")
        time.sleep(at)
        env.term(p, signal.SIGKILL)
        if i % 2 == 0:
            ok, why = restart_and_stop(env, "a")
            where = "in the same run directory"
        else:
            ok, why = restart_and_stop(env, "b", "--takeover")
            where = "in another run directory with --takeover"
        left = pool_files()
        tap.check(ok and not left, f"KILL {at * 1000:.0f} ms into start-up: the next start {where} succeeds "
                  "and stops clean", f"{why}; pool files {left}")
        env.reset()

    # SIGKILL at each moment of shutdown: the next start takes what is left over
    for j in range(SHUTDOWN_MOMENTS):
        at = down * j / (SHUTDOWN_MOMENTS - 1)
        p, t = env.start_ready("a")
        if t is None:
            tap.check(False, f"KILL {at * 1000:.0f} ms into shutdown", "did not start")
            env.term(p)
            env.reset()
            continue
        p.send_signal(signal.SIGTERM)
        time.sleep(at)
        env.term(p, signal.SIGKILL)
        ok, why = restart_and_stop(env, "a")
        tap.check(ok and not pool_files(), f"KILL {at * 1000:.0f} ms into shutdown: the next start succeeds "
                  "and stops clean", why)
        env.reset()

    # --clean refuses while the owner lives, cleans after a kill
    p, t = env.start_ready("a")
    rc, out = env.clean("a")
    tap.check(t is not None and rc == 1 and pool_files(), "--clean refuses while hugelinkd lives",
              f"rc {rc}: {out}")
    rc2, out2, _ = env.ctl_run("a", "ping")
    tap.check(rc2 == 0, "and the live daemon still answers", out2)
    env.term(p, signal.SIGKILL)
    tap.check(len(pool_files()) > 0, "a killed daemon leaves its pool file", str(pool_files()))
    q = env.popen("b")
    try:
        rc = q.wait(30)
    except subprocess.TimeoutExpired:
        rc = "hung"
    err = env.last_err if env.term(q) == "hung" else env.last_err
    tap.check(rc == 1 and "--clean" in err and "--takeover" in err,
              "a start in another run directory is refused, naming --clean and --takeover", f"exit {rc}: {err}")
    rc, out = env.clean("a")
    tap.check(rc == 0 and not pool_files() and not leftovers(env.run_dir("a")),
              "--clean removes everything a killed daemon left", f"rc {rc}: {out}; left "
              f"{leftovers(env.run_dir('a'))}")
    ok, why = restart_and_stop(env, "b")
    tap.check(ok, "after --clean a start anywhere succeeds", why)
    rc, out = env.clean("a")
    tap.check(rc == 0 and "nothing to clean" in out, "--clean with nothing to clean says so", out)
    env.reset()

    # --takeover keeps the buffers an shm peer's port holds
    p, t = env.start_ready("a")
    rc, _, err = env.ctl_run("a", "port", "add", "shm", "p1")
    st = json.loads(env.ctl_run("a", "stats", "--json")[1] or "{}")
    held = st.get("buffers", {}).get("in_use", -1)
    env.term(p, signal.SIGKILL)
    p, t = env.start_ready("b", "--takeover")
    # a port with no peer is reset once after a takeover (what it held goes back) and fills its ring again
    for _ in range(100):
        rc2, out2, _ = env.ctl_run("b", "stats", "--json")
        st2 = json.loads(out2 or "{}")
        if st2.get("buffers", {}).get("in_use") == held:
            break
        time.sleep(0.05)
    names = [x.get("name") for x in st2.get("ports", [])]
    tap.check(rc == 0 and t is not None and "p1" in names and st2.get("buffers", {}).get("in_use") == held,
              "--takeover from another run directory serves the shm port again, holding as many buffers",
              f"ports {names}, in use {st2.get('buffers')} vs {held}")
    tap.check(st2.get("pool") == NAME, "hlctl stats --json names the pool", str(st2.get("pool")))
    rc = env.term(p)
    tap.check(rc == 0 and not leftovers(env.run_dir("b")), "and a TERM then leaves nothing",
              f"exit {rc}, left {leftovers(env.run_dir('b'))}")
    env.reset()

    # wait-ready returns when, and only when, requests succeed
    t0 = time.monotonic()
    rc, _, err = env.ctl_run("a", "wait-ready", "--timeout", "0.5")
    took = time.monotonic() - t0
    tap.check(rc == 3 and took >= 0.5, "wait-ready with no daemon gives up after its timeout (exit 3)",
              f"rc {rc} after {took:.2f} s: {err}")
    p = env.popen("a")
    rc, _, err = env.ctl_run("a", "wait-ready", "--timeout", "30")
    rc2, out2, err2 = env.ctl_run("a", "stats", "--json")
    tap.check(rc == 0 and rc2 == 0 and json.loads(out2).get("ok") is True,
              "wait-ready started with the daemon returns once a request succeeds", f"{rc} {err} / {rc2} {err2}")
    env.term(p)
    # requests during start-up: "starting" or success, never a hang, never "starting" after success
    p = env.popen("a")
    seen, hung, regress = [], False, False
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end:
        try:
            rc, out, err = env.ctl_run("a", "raw", '{"cmd":"ping"}', timeout=5)
        except subprocess.TimeoutExpired:
            hung = True
            break
        kind = "ok" if rc == 0 else ("starting" if '"starting":true' in out else "unreachable")
        if kind != "ok" and "ok" in seen:
            regress = True
        seen.append(kind)
        if kind == "ok":
            break
    env.term(p)
    tap.check(not hung and not regress and seen and seen[-1] == "ok",
              "requests during start-up are answered (starting) or wait, none hangs",
              f"{seen[:6]}...{seen[-3:]} hung {hung}")
    env.reset()

    # the detaching parent exits once the child is ready; the pid file is there then and gone after
    pidf = env.pidf
    os.makedirs(env.run_dir("a"), exist_ok=True)
    r = subprocess.run(env.args("a", "--pidfile", pidf, fg=False), capture_output=True, text=True, timeout=60)
    rc2 = env.ctl_run("a", "ping")[0]
    pid = int(open(pidf).read()) if os.path.exists(pidf) else 0
    tap.check(r.returncode == 0 and rc2 == 0 and pid > 0, "detached: the parent exits 0 when the daemon serves, "
              "pid file written", f"exit {r.returncode}, ping {rc2}, pid {pid}: {r.stderr}")
    if pid > 0:
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.05)
    tap.check(pid > 0 and not os.path.exists(pidf) and not leftovers(env.run_dir("a")),
              "TERM to the detached daemon removes its pid file and everything else",
              f"left {leftovers(env.run_dir('a'))}")
    # a TERM to the parent before the child is ready stops both, cleanly; a
    # TERM that came too late (the child was ready) is tried again earlier
    result, delay = None, up / 4
    for _ in range(6):
        p = subprocess.Popen(env.args("a", "--pidfile", pidf, fg=False), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        p.stderr.close()
        if os.path.exists(pidf):  # too late: the daemon was ready before the TERM
            os.kill(int(open(pidf).read()), signal.SIGTERM)
            time.sleep(0.5)
            env.reset()
            delay /= 2
            continue
        if rc == -signal.SIGTERM and not leftovers(env.run_dir("a")):
            # too early: the dynamic loader's window (and a sanitizer runtime's
            # start-up), before the program's first instruction; a parent past it
            # never dies of a stop signal, and this one made nothing (the run
            # directory may be there from the cases before)
            env.reset()
            delay *= 1.5
            continue
        time.sleep(0.3)
        result = (rc, leftovers(env.run_dir("a")), env.ctl_run("a", "ping")[0])
        break
    tap.check(result is not None and result[0] == 0 and not result[1] and result[2] == 3,
              "TERM to the detaching parent during start-up: both stop, exit 0, nothing left", str(result))
    env.reset()

if __name__ == "__main__":
    sys.exit(main())
