#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hugelinkd's log: where it goes, the rate limit, the level at run time.

usage: test_logs.py BUILD_DIR

A hostile control client sends thousands of refused requests from two
places in the code; the log must hold at most the burst per window of each,
plus one "last message repeated N times" line whose N, added to what was
written, is every request sent, and `hlctl stats --json` must count what was
held back. A hostile vhost-user front-end that connects 300 times with a bad
message is counted on its port and costs a few dozen lines. `hlctl log-level` changes what is written at once. Then the
targets: --log-file (the old name of --log FILE), syslog on a socket the test
listens on (severities in the syslog priority), and a detached daemon with
no --log, which logs to syslog. Prints TAP, plan first.
"""
import json
import os
import re
import socket
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hltap import Tap  # noqa: E402
from hldaemon import Daemon, build_dir, request  # noqa: E402

TAG = f"ops-log-{os.getpid()}"
BURST, WINDOW_S = 5, 2
FLOOD = 2000


def lines_with(path, text):
    with open(path) as f:
        got = [l for l in f if text in l]
    written = [l for l in got if "[last message repeated" not in l]
    repeated = [int(m.group(1)) for l in got for m in [re.search(r"last message repeated (\d+) times", l)] if m]
    return written, repeated


def flood_and_level(t, build, work):
    log = os.path.join(work, "a.log")
    d = Daemon(build, work, "a", TAG, "--log", log, "--log-rate", f"{BURST}/{WINDOW_S}")
    if not t.check(d.ready(), "hugelinkd --log FILE --log-rate 5/2 starts"):
        t.diag(open(d.out).read())
        return d
    sites = [('{"cmd":"port-add","name":"x"}', 'missing "kind"'),
             ('{"cmd":"port-add","kind":"warp","name":"x"}', 'unknown port kind "warp"')]
    start = time.monotonic()
    refused = 0
    for i in range(FLOOD):
        req, _ = sites[i % 2]
        refused += '"ok":false' in request(d.ctl, req)
    elapsed = time.monotonic() - start
    t.check(refused == FLOOD, f"all {FLOOD} hostile requests refused", f"{refused} refused")
    t.diag(f"{FLOOD} requests in {elapsed:.2f} s")
    t.check(d.hlctl("ping")[0] == 0, "the daemon still answers after the flood")
    # every window that began during the flood may write its burst
    allowed = BURST * (int(elapsed / WINDOW_S) + 2)
    counts = {}
    for _, text in sites:
        written, _ = lines_with(log, text)
        counts[text] = len(written)
    t.check(all(0 < n <= allowed for n in counts.values()),
            f"each of the two sites wrote at most {allowed} of its {FLOOD // 2} lines", str(counts))
    time.sleep(WINDOW_S + 1.5)  # the window ends; the main loop's flush writes the summary
    st = d.stats()
    held = 0
    good = True
    for _, text in sites:
        written, repeated = lines_with(log, text)
        held += sum(repeated)
        good &= len(written) + sum(repeated) == FLOOD // 2 and len(repeated) >= 1
        t.diag(f"{text}: {len(written)} written, repeated {repeated}")
    t.check(good, "written lines + 'last message repeated N times' add up to every request, per site")
    t.check(st.get("log", {}).get("suppressed") == held,
            "hlctl stats --json log.suppressed counts the lines held back", f"{st.get('log')} vs {held}")
    text = d.hlctl("stats")[1]
    t.check(f"{held} line(s) held back by the rate limit" in text, "and hlctl stats says so", text[-300:])
    with open(log) as f:
        total = len(f.readlines())
    t.check(total < 100, f"the whole log is {total} lines after {FLOOD} refusals")

    rc, out, _ = d.hlctl("log-level")
    t.check(rc == 0 and out.startswith("info"), "hlctl log-level shows info", out)
    probe = '{"cmd":"port-del","name":"ghost%d"}'
    rc, out, _ = d.hlctl("log-level", "err")
    request(d.ctl, probe % 1)
    time.sleep(0.2)
    t.check(rc == 0 and out.startswith("err") and not lines_with(log, "no port ghost1")[0],
            "at level err a refusal (a warning) is not written", out)
    rc, out, _ = d.hlctl("log-level", "warn", "--json")
    request(d.ctl, probe % 2)
    time.sleep(0.2)
    t.check(rc == 0 and json.loads(out).get("level") == "warn" and lines_with(log, "no port ghost2")[0],
            "back at warn it is, at once", out)
    rc_usage = d.hlctl("log-level", "loud")[0]
    rc_refused = d.hlctl("raw", '{"cmd":"log-level","level":"loud"}')[0]
    t.check(rc_usage == 2 and rc_refused == 1 and d.stats().get("log", {}).get("level") == "warn",
            "a level that is none: usage error in hlctl, refused by the daemon, level kept",
            f"{rc_usage} {rc_refused}")
    return d


def hostile_peer(t, build, work):
    """A vhost-user front-end that connects, sends an unknown request with a bogus size, and goes, many times."""
    log = os.path.join(work, "p.log")
    d = Daemon(build, work, "p", TAG, "--log", log, "--log-rate", f"{BURST}/{WINDOW_S}")
    if not d.ready():
        t.check(False, "hugelinkd for the hostile peer starts", open(d.out).read()[-300:])
        t.check(False, "not run")
        return d
    sock = os.path.join(work, "p-vm.sock")
    d.hlctl("port", "add", "vhost", "vm", "--server", sock)
    n = 300
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(sock)
        s.sendall(struct.pack("<III", 9999, 1, 0) + b"garbage garbage garbage")
        try:
            s.recv(64)
        except OSError:
            pass
        s.close()
    time.sleep(WINDOW_S + 1.5)
    st = d.stats()
    port = [p for p in st.get("ports", []) if p["name"] == "vm"]
    with open(log) as f:
        lines = f.readlines()
    t.check(port and port[0]["errors"] == n, f"the hostile front-end's {n} bad messages are counted on its port",
            str(port))
    t.check(len(lines) < 100 and any("last message repeated" in l for l in lines),
            f"{n} hostile connections (4 log lines each unlimited) leave {len(lines)} lines", "".join(lines[-5:]))
    return d


def targets(t, build, work):
    # the old option name still works
    f2 = os.path.join(work, "b.log")
    d = Daemon(build, work, "b", TAG, "--log-file", f2)
    ok = d.ready()
    d.stop()
    text = open(f2).read() if os.path.exists(f2) else ""
    t.check(ok and "ready: control" in text and re.search(r"^\d{4}-\d\d-\d\dT[0-9:.]+Z hugelink", text, re.M),
            "--log-file FILE: the ready line and time-stamped log lines in the file", text[-300:])

    # syslog on a socket of ours: a detached daemon
    path = os.path.join(work, "syslog.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(0.5)
    d = Daemon(build, work, "c", TAG, "--log", f"syslog:{path}", fg=False)
    ready = d.ready()
    request(d.ctl, '{"cmd":"port-add","name":"x"}')
    got = []
    end = time.time() + 5
    while time.time() < end and not any('missing "kind"' in g for g in got):
        try:
            got.append(rx.recv(4096).decode(errors="replace"))
        except socket.timeout:
            pass
    d.stop()
    rx.close()
    info = [g for g in got if g.startswith("<30>") and "ready: control" in g]
    warn = [g for g in got if g.startswith("<28>") and 'missing "kind"' in g]
    t.check(ready and info and re.match(r"<30>\w{3} [ \d]\d \d\d:\d\d:\d\d hugelinkd\[\d+\]: ", info[0]),
            "--log syslog:SOCKET, detached: the ready line arrives as daemon.info with tag hugelinkd[PID]",
            " | ".join(got[:4]))
    t.check(warn, "a refusal arrives as daemon.warning", " | ".join(got[-3:]))

    # detached with --log stderr: stderr stays (a service manager's stream), the terminal's stdin/stdout go
    d = Daemon(build, work, "e", TAG, "--log", "stderr", fg=False)
    ready = d.ready()
    request(d.ctl, '{"cmd":"port-add","name":"x"}')
    time.sleep(0.3)
    d.stop()
    text = open(d.out).read()
    t.check(ready and 'missing "kind"' in text, "detached with --log stderr, lines still reach its stderr",
            text[-300:])

    # detached, no --log: syslog, not /dev/null
    d = Daemon(build, work, "d", TAG, fg=False)
    st = d.stats() if d.ready() else {}
    d.stop()
    t.check(st.get("log", {}).get("target") == "syslog", "a detached daemon without --log logs to syslog",
            str(st.get("log")))


def main():
    build = build_dir(__doc__)
    # the level the daemons start at is part of what is tested, whatever the runner's $HL_LOG
    os.environ["HL_LOG"] = "info"
    t = Tap(19)
    with tempfile.TemporaryDirectory(prefix=f"{TAG}-") as work:
        d = flood_and_level(t, build, work)
        d.stop()
        hostile_peer(t, build, work).stop()
        targets(t, build, work)
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
