#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The installed package: files, hugelink.pc, a program built against it, the unit, man pages.

usage: test_install.py SOURCE_DIR BUILD_DIR

`meson install` and `make install` into temporary DESTDIRs must lay out the
library, every public header, hugelink.pc, the tools, the man pages and
hugelinkd.service. A program of one's own (examples/hl_pool_info.c) is built
with only what pkg-config says about the installed (relocatable)
hugelink.pc, linked to the installed libhugelink.so, and run against the
installed hugelinkd. That hugelinkd tells a NOTIFY_SOCKET of the test's
READY=1 once it answers requests and STOPPING=1 when stopped, and reads the
default config when there is one (in a mount namespace of its own, so the
host's sysconfdir is not touched). systemd-analyze verify accepts the unit
(and refuses a broken copy), man -l renders each page without a warning,
and the pages name every option and command the programs' --help lists.
Prints TAP, plan first.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hlproc import stop  # noqa: E402
from hltap import Tap  # noqa: E402

TAG = f"ops-inst-{os.getpid()}"


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def meson_dirs(build):
    """prefix, libdir, sysconfdir, sbindir as the build was set up with."""
    r = run(["meson", "introspect", "--buildoptions", build])
    opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    prefix = opts["prefix"]
    dirs = {k: os.path.join(prefix, opts[k]) for k in ("libdir", "sysconfdir", "sbindir", "bindir", "includedir",
                                                       "mandir", "libexecdir")}
    # a sanitized library needs its runtime in the program too
    dirs["sanitize"] = [] if opts["b_sanitize"] == "none" else [f"-fsanitize={opts['b_sanitize']}"]
    return prefix, dirs


def layout(t, src, dest, prefix, dirs, how):
    def d(p):
        return dest + p
    headers = sorted(os.path.basename(h) for h in glob.glob(os.path.join(src, "include/hugelink/*.h")))
    got = sorted(os.path.basename(h) for h in glob.glob(d(dirs["includedir"]) + "/hugelink/*.h"))
    want = [dirs["libdir"] + "/libhugelink.so", dirs["libdir"] + "/libhugelink.a",
            dirs["libdir"] + "/pkgconfig/hugelink.pc", dirs["sbindir"] + "/hugelinkd",
            dirs["bindir"] + "/hlctl", dirs["bindir"] + "/hlbench", dirs["mandir"] + "/man8/hugelinkd.8",
            dirs["mandir"] + "/man8/hlctl.8", dirs["mandir"] + "/man1/hlbench.1",
            prefix + "/lib/systemd/system/hugelinkd.service", dirs["libexecdir"] + "/hugelink/hugelink-hugepages"]
    missing = [w for w in want if not os.path.exists(d(w))]
    t.check(not missing and got == headers and len(headers) > 10,
            f"{how}: library, {len(headers)} headers, hugelink.pc, tools, man pages, unit",
            f"missing {missing}; headers {set(headers) ^ set(got)}")


def build_example(t, src, dest, dirs, work):
    pcdir = dest + dirs["libdir"] + "/pkgconfig"
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    # hugelink.pc is relocatable (prefix=${pcfiledir}/...): PKG_CONFIG_PATH alone finds the DESTDIR
    r = run(["pkg-config", "--cflags", "--libs", "hugelink"], env=env)
    flags = [os.path.normpath(f[2:]) if f[:2] in ("-I", "-L") else f for f in r.stdout.split()]
    t.check(r.returncode == 0 and dest + dirs["includedir"] in flags and dest + dirs["libdir"] in flags and
            "-lhugelink" in flags, "pkg-config hugelink (PKG_CONFIG_PATH only) points into the DESTDIR",
            r.stdout + r.stderr)
    flags = r.stdout.split()
    exe = os.path.join(work, "hl_pool_info")
    # nothing of the source tree: a copy of the example alone, flags from pkg-config alone
    shutil.copy(os.path.join(src, "examples/hl_pool_info.c"), work)
    r = run(["cc", "-Wall", "-Wextra", "-Werror", "-std=gnu11", os.path.join(work, "hl_pool_info.c"), "-o", exe,
             *dirs["sanitize"], *flags])
    t.check(r.returncode == 0, "examples/hl_pool_info.c builds against the installed hugelink.pc", r.stderr[-800:])
    env = dict(os.environ, LD_LIBRARY_PATH=dest + dirs["libdir"])
    r = run(["ldd", exe], env=env)
    t.check(re.search(r"libhugelink\.so\S* => " + re.escape(dest + dirs["libdir"]), r.stdout),
            "it links to the installed libhugelink.so", r.stdout)
    return exe, env


def notify_socket(work):
    path = os.path.join(work, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s, path


def recv_until(s, text, secs):
    got = []
    end = time.time() + secs
    while time.time() < end:
        try:
            got.append(s.recv(4096).decode())
        except socket.timeout:
            continue
        if text in got[-1]:
            break
    return got


def installed_daemon(t, dest, dirs, work, exe, env):
    hugelinkd, hlctl = dest + dirs["sbindir"] + "/hugelinkd", dest + dirs["bindir"] + "/hlctl"
    ctl = os.path.join(work, "ctl.sock")
    ns, npath = notify_socket(work)
    out = open(os.path.join(work, "d.out"), "w")
    d = subprocess.Popen([hugelinkd, "--foreground", "--ctl", ctl, "--pool-mb", "32", "--buffers", "1024",
                          "--name", TAG, "--run-dir", os.path.join(work, "run")],
                         env=dict(os.environ, NOTIFY_SOCKET=npath), stdout=out, stderr=subprocess.STDOUT)
    try:
        got = recv_until(ns, "READY=1", 30)
        ping = run([hlctl, "--ctl", ctl, "ping"])
        t.check(got and "READY=1" in got[-1] and f"MAINPID={d.pid}" in got[-1] and ping.returncode == 0,
                "the installed hugelinkd sends READY=1 (MAINPID its own) to NOTIFY_SOCKET when it serves",
                f"{got} ping {ping.returncode}")
        r = run([exe, os.path.join(work, "run", f"{TAG}.meta")], env=env)
        t.check(r.returncode == 0 and f"pool {TAG}: 32 MiB" in r.stdout,
                "the example maps the installed hugelinkd's pool through its record", r.stdout + r.stderr)
        d.send_signal(signal.SIGTERM)
        rc = d.wait(30)
        got = recv_until(ns, "STOPPING=1", 5)
        t.check(rc == 0 and any("STOPPING=1" in g for g in got), "STOPPING=1 when it stops", f"{rc} {got}")
    finally:
        stop(d)  # a clean stop leaves no pool file behind
        ns.close()
        out.close()


def default_config(t, dest, dirs, work):
    """The default config, in a private mount namespace over sysconfdir."""
    hugelinkd, hlctl = dest + dirs["sbindir"] + "/hugelinkd", dest + dirs["bindir"] + "/hlctl"
    etc = dirs["sysconfdir"]
    ctl = os.path.join(work, "cfg.sock")
    vsock = os.path.join(work, "cfgvm.sock")
    helptext = run([hugelinkd, "--help"]).stdout
    script = (f"set -e; mkdir -p {etc}; mount -t tmpfs {TAG} {etc}; mkdir {etc}/hugelink; "
              f"echo '{{\"ports\":[{{\"kind\":\"vhost\",\"name\":\"fromcfg\",\"path\":\"{vsock}\","
              f"\"mode\":\"server\"}}]}}' > {etc}/hugelink/hugelinkd.json; "
              f"exec {hugelinkd} --foreground --ctl {ctl} --pool-mb 32 --buffers 1024 --name {TAG}c "
              f"--run-dir {work}/runc")
    out = open(os.path.join(work, "c.out"), "w")
    d = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], stdout=out,
                         stderr=subprocess.STDOUT)
    try:
        r = run([hlctl, "--ctl", ctl, "wait-ready", "--timeout", "20"])
        ports = run([hlctl, "--ctl", ctl, "port", "list"]).stdout
        t.check(r.returncode == 0 and "fromcfg" in ports and f"{etc}/hugelink/hugelinkd.json" in helptext,
                f"with no --config it reads {etc}/hugelink/hugelinkd.json (and --help says so)",
                ports + r.stderr + open(os.path.join(work, "c.out")).read()[-300:])
    finally:
        stop(d, secs=30)
        out.close()
    with open("/proc/self/mounts") as f:
        t.check(TAG not in f.read(), "the host's mounts are as they were (the config lived in the namespace)")


def unit(t, dest, prefix, dirs, work):
    text = open(dest + prefix + "/lib/systemd/system/hugelinkd.service").read()
    # paths into the DESTDIR, so verify finds the programs and man pages it names
    local = os.path.join(work, "hugelinkd.service")
    with open(local, "w") as f:
        f.write(text.replace(prefix + "/", dest + prefix + "/"))
    env = dict(os.environ, MANPATH=dest + dirs["mandir"])
    r = run(["systemd-analyze", "verify", local], env=env)
    t.check(r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "",
            "systemd-analyze verify accepts hugelinkd.service", r.stdout + r.stderr)
    broken = os.path.join(work, "broken", "hugelinkd.service")
    os.makedirs(os.path.dirname(broken))
    with open(broken, "w") as f:
        f.write(open(local).read().replace("/sbin/hugelinkd ", "/sbin/hugelinkd-missing "))
    r = run(["systemd-analyze", "verify", broken], env=env)
    t.check(r.returncode != 0 and "hugelinkd-missing" in r.stderr, "and refuses a copy naming a missing program",
            r.stderr)
    t.check("Type=notify" in text and "--foreground" in text and "ExecStartPre=" in text and
            "hugelink-hugepages" in text and "--log syslog" in text,
            "the unit: Type=notify, foreground, hugepages set up before start, logs to syslog", text)
    hp = dest + dirs["libexecdir"] + "/hugelink/hugelink-hugepages"
    before = open("/proc/sys/vm/nr_hugepages").read().strip()
    r = run([hp, "1"])
    after = open("/proc/sys/vm/nr_hugepages").read().strip()
    t.check(r.returncode == 0 and before == after and f"{after} hugepages" in r.stdout,
            "hugelink-hugepages N never lowers the reservation, and says what there is", r.stdout + r.stderr)


def man_pages(t, dest, dirs):
    mandir = dest + dirs["mandir"]
    pages = {"hugelinkd.8": dirs["sbindir"] + "/hugelinkd", "hlctl.8": dirs["bindir"] + "/hlctl",
             "hlbench.1": dirs["bindir"] + "/hlbench"}
    for page, prog in pages.items():
        path = f"{mandir}/man{page[-1]}/{page}"
        r = run(["man", "--warnings", "-l", path], env=dict(os.environ, MANWIDTH="100", MANPAGER="cat",
                                                            PAGER="cat"))
        text = re.sub(r".\x08", "", r.stdout)
        helptext = run([dest + prog, "--help"]).stdout + run([dest + prog, "--help"]).stderr
        if page == "hlctl.8":
            # commands: the first word of each usage line (not a line that goes on with a command's options)
            want = sorted({l.split()[0] for l in helptext.splitlines()[1:]
                           if l.startswith("  ") and not l.split()[0].startswith(("[", "-"))})
        else:
            want = sorted(set(re.findall(r"--[a-z][a-z-]+", helptext)))
        flat = text.replace("\u2010", "-").replace("\u2212", "-")
        missing = [w for w in want if w not in flat]
        t.check(r.returncode == 0 and r.stderr.strip() == "" and "NAME" in text and "SYNOPSIS" in text and
                not missing and len(want) >= 3,
                f"man -l {page} renders without a warning and names all {len(want)} options/commands of --help",
                f"missing {missing}; {r.stderr[-300:]}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for tool in ("pkg-config", "systemd-analyze", "man", "unshare", "cc"):
        if shutil.which(tool) is None:
            print(f"Bail out! {tool} is missing (scripts/setup-host.sh installs it)")
            return 1
    t = Tap(19)
    prefix, dirs = meson_dirs(build)
    with tempfile.TemporaryDirectory(prefix=f"{TAG}-") as work:
        dest = os.path.join(work, "dest")
        r = run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest])
        t.check(r.returncode == 0, "meson install --destdir", r.stdout[-500:] + r.stderr[-500:])
        layout(t, src, dest, prefix, dirs, "meson install")
        dest2 = os.path.join(work, "dest2")
        r = run(["make", "-s", "-C", src, "install", f"BUILD={build}", f"DESTDIR={dest2}"])
        t.check(r.returncode == 0, "make install DESTDIR=...", r.stdout[-500:] + r.stderr[-500:])
        layout(t, src, dest2, prefix, dirs, "make install")
        exe, env = build_example(t, src, dest, dirs, work)
        installed_daemon(t, dest, dirs, work, exe, env)
        default_config(t, dest, dirs, work)
        unit(t, dest, prefix, dirs, work)
        man_pages(t, dest, dirs)
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
