#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What the guest tests share: TAP output (hltap.Cases), the guest build, hugelinkd and hlctl,
and pieces of the script a guest runs (sh_*).

Imported by the tests/guest/test_*.py scripts; nothing here runs on its own.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Cases  # noqa: E402


def tail(path, n=25):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
    except OSError as e:
        return str(e)


def build_guest(src, guest_dir, work):
    """Run scripts/guest/build-guest.sh into guest_dir: (0 or what went wrong, log path)."""
    blog = os.path.join(work, "build-guest.log")
    with open(blog, "wb") as f:
        try:
            rc = subprocess.run(["bash", os.path.join(src, "scripts/guest/build-guest.sh"), guest_dir],
                                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                timeout=400).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out"
        except OSError as e:
            rc = str(e)
    return rc, blog


def guest_prerequisites(src, build, tap, logs, case=0):
    """Build the guest and find QEMU, reporting TAP case `case`: the guest directory, or None (rest failed)."""
    import qemu_guest
    guest_dir = os.path.join(build, "guest")
    rc, blog = build_guest(src, guest_dir, logs)
    if rc != 0:
        tap.result(case, False, f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc})", tail(blog))
        tap.fail_rest("not run: MISSING PREREQUISITE: no guest kernel/initramfs")
        return None
    try:
        qemu_guest.qemu_binary()
    except qemu_guest.MissingPrerequisite as e:
        tap.result(case, False, f"MISSING PREREQUISITE: {e}")
        tap.fail_rest("not run: MISSING PREREQUISITE")
        return None
    tap.result(case, True)
    return guest_dir


def bench_start(build, log_name, say):
    """Common start of a guest benchmark: (build dir, fresh log dir, guest dir), or None (said why)."""
    build = os.path.abspath(build)
    src = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    logs = os.path.join(build, log_name)
    subprocess.run(["rm", "-rf", logs], check=False)
    os.makedirs(logs)
    # a stop signal unwinds through the finally blocks, which stop QEMU and the switches
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    guest_dir = os.path.join(build, "guest")
    rc, blog = build_guest(src, guest_dir, logs)
    if rc != 0:
        say(f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc}): {tail(blog, 5)}")
        return None
    return build, logs, guest_dir


def nothing_left(tap, case, daemon, tokens, run):
    """Stop hugelinkd, report TAP case `case` (it exited cleanly, no process of ours is left), drop run."""
    import shutil
    clean = stop_daemon(daemon)
    left = subprocess.run(["pgrep", "-f", "|".join(tokens)], capture_output=True, text=True).stdout
    tap.result(case, clean and not left.strip(), f"left: {left.strip()}")
    tap.fail_rest("not run")
    shutil.rmtree(run, ignore_errors=True)


def end_with_daemon(tap, case, guest, daemon, dlog, run, ncases):
    """Kill guest (if any), stop hugelinkd as TAP case `case`, drop run; the exit status."""
    import shutil
    if guest is not None:
        guest.kill()
    tap.result(case, stop_daemon(daemon), "", tail(dlog))
    shutil.rmtree(run, ignore_errors=True)
    return 0 if all(tap.done.get(i) for i in range(ncases)) else 1


def hugepage_dir(pages_needed):
    """A 2 MiB hugetlbfs mount with pages_needed free pages, or None."""
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            free = int(f.read())
        with open("/proc/mounts") as f:
            mounts = [l.split() for l in f]
    except (OSError, ValueError):
        return None
    for m in mounts:
        if m[2] == "hugetlbfs" and ("pagesize=2M" in m[3] or "pagesize=" not in m[3]):
            if free >= pages_needed and os.access(m[1], os.W_OK):
                return m[1]
    return None


def our_processes(tokens):
    """pid -> cmdline of live processes whose command line has one of tokens."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(t in cmd for t in tokens):
            found[int(pid)] = cmd.strip()
    return found


def start(doc, cases, log_name):
    """Common start of a guest test: (source dir, build dir, hltap.Cases, fresh log dir), or exit 2 on bad usage."""
    if len(sys.argv) != 3:
        print(doc, file=sys.stderr)
        sys.exit(2)
    src, build = (os.path.abspath(a) for a in sys.argv[1:3])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    logs = os.path.join(build, log_name)
    subprocess.run(["rm", "-rf", logs], check=False)
    os.makedirs(logs)
    return src, build, Cases(cases), logs


def hlctl(build, ctl, *args):
    """Run build/tools/hlctl against ctl: (exit status, stdout, stderr)."""
    r = subprocess.run([os.path.join(build, "tools/hlctl"), "--ctl", ctl, *args], capture_output=True, text=True,
                       timeout=20)
    return r.returncode, r.stdout, r.stderr


def start_daemon(build, run, ctl, log, name, *extra):
    """hugelinkd in the foreground on run/ctl with pool `name`, once it answers; None if it did not start."""
    with open(log, "a") as f:
        p = subprocess.Popen([os.path.join(build, "tools/hugelinkd"), "--foreground", "--ctl", ctl, "--run-dir", run,
                              "--pool-mb", "64", "--name", name, *extra], stdout=f, stderr=subprocess.STDOUT)
    for _ in range(300):
        if p.poll() is not None:
            return None
        if hlctl(build, ctl, "ping")[0] == 0:
            return p
        time.sleep(0.05)
    p.kill()
    return None


def switch_dirs(logs, prefix):
    """(run dir, control socket, log) for a test's hugelinkd: the run dir new and short (socket paths
    have 107 bytes at most), the log among the test's logs."""
    import tempfile
    run = tempfile.mkdtemp(prefix=prefix)
    return run, os.path.join(run, "hugelinkd.sock"), os.path.join(logs, "hugelinkd.log")


def switch_with_ports(build, run, ctl, log, name, socks, tap, case=1):
    """hugelinkd (pool `name`, 4096 buffers) with a vhost-user server port per {port: socket}, reported as
    TAP case `case`: (the daemon or None, whether all of it went); when not, the rest of the cases fail."""
    daemon = start_daemon(build, run, ctl, log, name, "--buffers", "4096")
    ok = daemon is not None
    for port, sock in socks.items():
        ok = ok and hlctl(build, ctl, "port", "add", "vhost", port, "--server", sock)[0] == 0
    tap.result(case, ok, "", tail(log))
    if not ok:
        tap.fail_rest("not run: hugelinkd did not start")
    return daemon, ok


def stop_daemon(p):
    """SIGTERM, then wait: True when it exited 0 in time."""
    if p is None:
        return True
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(15) == 0
    except subprocess.TimeoutExpired:
        p.kill()
        return False


def wait_for(pred, timeout, step=0.25):
    """Poll pred() until it is true (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def ports_up(build, ctl, names, timeout):
    """Wait until every port in names is "up": (True, states) or (False, the last states seen)."""
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        rc, out, _ = hlctl(build, ctl, "port", "list", "--json")
        if rc == 0:
            states = {p["name"]: p["state"] for p in json.loads(out)["ports"] if p["name"] in names}
            if len(states) == len(names) and all(s == "up" for s in states.values()):
                return True, states
        time.sleep(0.25)
    return False, states


def guest_ready(src, guest_dir, logs, tap):
    """Build the guest (case 0) and find QEMU; False, with every case failed, if either is missing."""
    from qemu_guest import MissingPrerequisite, qemu_binary
    rc, blog = build_guest(src, guest_dir, logs)
    if rc != 0:
        tap.result(0, False, f"MISSING PREREQUISITE: scripts/guest/build-guest.sh failed ({rc})", tail(blog))
        tap.fail_rest("not run: MISSING PREREQUISITE: no guest kernel/initramfs")
        return False
    tap.result(0, True)
    try:
        qemu_binary()
    except MissingPrerequisite as e:
        tap.fail_rest(f"not run: MISSING PREREQUISITE: {e}")
        return False
    return True


# ---- pieces of a guest's /guest.sh ---------------------------------------------------
# Two guests on 10.0.0.0/24 wait until they can ping each other; the one that
# is done first says "done" on TCP port DONE_PORT to the other, which waits
# for it before it powers off.
DONE_PORT = 7777


def sh_eth0(who, ip):
    """eth0 up at ip/24, said on the console with its MAC."""
    return ("ip link set eth0 up\n"
            f"ip addr add {ip}/24 dev eth0\n"
            f'echo "{who}: eth0 $(cat /sys/class/net/eth0/address) is {ip}"\n')


def sh_wait_for_ping(who, ip, tries, or_else):
    """Ping ip until it answers; after `tries` misses, say so and run or_else ("exit 1", "break")."""
    return ("i=0\n"
            f"until ping -c 1 -W 1 {ip} >/dev/null 2>&1; do\n"
            "\ti=$((i + 1))\n"
            f'\t[ $i -lt {tries} ] || {{ echo "{who}: no reply from {ip} in $i attempts"; {or_else}; }}\n'
            "done\n")


def sh_say_done(ip):
    """Tell the guest at ip that this one is done (a few tries: it may be gone already)."""
    return ("i=0\n"
            f"until echo done | nc -w 3 {ip} {DONE_PORT}; do\n"
            "\ti=$((i + 1)); [ $i -lt 5 ] || break; sleep 1\n"
            "done\n")


def sh_wait_done(who):
    """Wait for the other guest's "done" into $msg, and say what came. A template: its %(wait)d is
    the seconds to wait at most."""
    return (f"msg=$(timeout %(wait)d nc -l -p {DONE_PORT} </dev/null)\n"
            f"echo \"{who}: guest1 said '$msg'\"\n")
