#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""iperf3 between test guests: what the guests run, and what their consoles tell.

A server guest puts its address on eth0, runs `iperf3 -s` and waits for a
"done" on TCP port 7777; a client guest runs a list of iperf3 tests (`-J`)
against servers in guests or in a host network namespace, then sends "done"
to its guest peers. Both print the offloads their virtio-net driver got
(`ethtool -k`) and, at the end, `/proc/net/snmp` with its InCsumErrors
counters, all between marker lines that parse_* below read back. Shared by
tests/guest/test_guests_iperf.py and scripts/bench/iperf_guests.py, which
boot the guests with the iperf3 that scripts/guest/build-guest.sh copies in.
"""
import json
import os
import re

DONE_PORT = 7777
# the features that decide whether TCP leaves a guest as 64 KiB frames or MTU-sized ones
OFFLOAD_FEATURES = ("rx-checksumming", "tx-checksumming", "scatter-gather", "tcp-segmentation-offload",
                    "generic-segmentation-offload", "generic-receive-offload")

# Prints the offloads, and /proc/net/snmp with a one-line InCsumErrors summary
# (the counters are per protocol; the header line of each names the columns).
_COMMON_SH = """\
PATH=/bin:/sbin:/usr/bin:/usr/sbin
show_offloads() {
	echo "OFFLOADS-BEGIN"
	ethtool -k eth0 2>&1 | grep -E '^(%(features)s):'
	echo "OFFLOADS-END"
}
show_snmp() {
	echo "SNMP-BEGIN"
	cat /proc/net/snmp
	echo "SNMP-END"
	awk '/^[A-Za-z]+:/ {
		p = substr($1, 1, length($1) - 1)
		if (!(p in head)) { head[p] = $0; next }
		n = split(head[p], f)
		for (i = 2; i <= n; i++)
			if (f[i] == "InCsumErrors")
				out = out " " p "=" $i
	}
	END { print "iperf-guest: InCsumErrors:" out }' /proc/net/snmp
}
command -v iperf3 >/dev/null || { echo "iperf-guest: NO-IPERF3 in this guest"; exit 3; }
ip link set eth0 up
ip addr add %(ip)s/24 dev eth0
echo "iperf-guest: eth0 is %(ip)s"
show_offloads
"""

_SERVER_SH = """\
iperf3 -s -B %(ip)s >/tmp/iperf-s.log 2>&1 &
srv=$!
echo "iperf-guest: iperf3 -s on %(ip)s"
msg=$(timeout %(wait)d nc -l -p %(done_port)d </dev/null)
kill $srv 2>/dev/null
echo "iperf-guest: the client said '$msg'"
[ "$msg" = done ] || tail -n 20 /tmp/iperf-s.log
show_snmp
[ "$msg" = done ]
"""

# A server that is not listening yet (its guest still booting) is retried;
# any other failure is reported as it is, never retried into a success.
_CLIENT_SH = """\
fails=0
run() { # LABEL HOST IPERF3-ARGS...
	label=$1; host=$2; shift 2
	n=0
	while :; do
		n=$((n + 1))
		iperf3 -c "$host" -J --connect-timeout 3000 "$@" >/tmp/iperf.json 2>&1
		rc=$?
		if [ $rc -ne 0 ] && [ $n -lt %(tries)d ] &&
			grep -q '"error":[[:space:]]*"unable to connect to server' /tmp/iperf.json; then
			sleep 1
			continue
		fi
		break
	done
	[ $rc -eq 0 ] || fails=$((fails + 1))
	echo "IPERF-BEGIN $label rc=$rc attempts=$n"
	cat /tmp/iperf.json
	echo "IPERF-END $label"
}
%(runs)s
show_snmp
for peer in %(peers)s; do
	i=0
	until echo done | nc -w 3 $peer %(done_port)d; do
		i=$((i + 1)); [ $i -lt 10 ] || break; sleep 1
	done
done
exit $fails
"""


def server_script(ip, wait_s):
    """/guest.sh of a guest that serves iperf3 on ip until a client says done (or wait_s pass)."""
    v = {"ip": ip, "wait": int(wait_s), "done_port": DONE_PORT, "features": "|".join(OFFLOAD_FEATURES)}
    return (_COMMON_SH + _SERVER_SH) % v


def client_script(ip, runs, peers, tries=40):
    """/guest.sh of a guest at ip running iperf3 clients, then telling `peers` it is done.

    runs: (label, server address, [iperf3 arguments]) in order; labels are
    single words. The script's exit status is the number of failed runs.
    """
    lines = []
    for label, host, args in runs:
        if not re.fullmatch(r"[\w.-]+", label):
            raise ValueError(f"run label {label!r} is not one word")
        lines.append(" ".join(["run", label, host] + [str(a) for a in args]))
    v = {"ip": ip, "runs": "\n".join(lines), "peers": " ".join(peers), "tries": tries,
         "done_port": DONE_PORT, "features": "|".join(OFFLOAD_FEATURES)}
    return (_COMMON_SH + _CLIENT_SH) % v


def guest_has_iperf3(guest_dir):
    """Whether build-guest.sh copied iperf3 into the guest build in guest_dir."""
    try:
        with open(os.path.join(guest_dir, "programs")) as f:
            return any(line.split()[:1] == ["/usr/bin/iperf3"] for line in f)
    except OSError:
        return False


def _clean(console):
    return console.replace("\r", "")


class IperfRun:
    """One iperf3 client run as the guest printed it."""

    def __init__(self, label, rc, attempts, text):
        self.label, self.rc, self.attempts, self.text = label, rc, attempts, text
        self.data, self.error = None, None
        try:
            self.data = json.loads(text[text.index("{"):text.rindex("}") + 1])
        except ValueError as e:
            self.error = f"no JSON: {e}"
        if self.data is not None and self.data.get("error"):
            self.error = self.data["error"]
        elif rc != 0 and self.error is None:
            self.error = f"iperf3 exited {rc}"

    def _end(self, key):
        return ((self.data or {}).get("end") or {}).get(key) or {}

    @property
    def sent_bps(self):
        return float(self._end("sum_sent").get("bits_per_second", 0) or 0)

    @property
    def received_bps(self):
        return float(self._end("sum_received").get("bits_per_second", 0) or 0)

    @property
    def retransmits(self):
        """The sender's TCP retransmits (the server's with -R), None when iperf3 gave none."""
        r = self._end("sum_sent").get("retransmits")
        return r if isinstance(r, int) else None

    @property
    def ok(self):
        return self.error is None and self.received_bps > 0 and self.sent_bps > 0

    def summary(self):
        if self.error:
            return f"{self.label}: FAILED ({self.error}) after {self.attempts} attempt(s)"
        return (f"{self.label}: {self.received_bps / 1e6:.0f} Mbit/s received "
                f"({self.sent_bps / 1e6:.0f} sent), {self.retransmits} retransmits")


def parse_iperf(console):
    """label -> IperfRun for every complete run block on the console."""
    runs = {}
    pat = re.compile(r"^IPERF-BEGIN (\S+) rc=(\d+) attempts=(\d+)\n(.*?)^IPERF-END \1$", re.M | re.S)
    for m in pat.finditer(_clean(console)):
        runs[m.group(1)] = IperfRun(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4))
    return runs


def parse_snmp_text(text):
    """/proc/net/snmp text -> {protocol: {field: int}}."""
    heads, out = {}, {}
    for line in _clean(text).splitlines():
        m = re.match(r"^(\w+):\s+(.*)$", line)
        if not m:
            continue
        proto, fields = m.group(1), m.group(2).split()
        if proto not in heads:
            heads[proto] = fields
        elif len(fields) == len(heads[proto]):
            try:
                out[proto] = dict(zip(heads[proto], (int(x) for x in fields)))
            except ValueError:
                pass
    return out


def parse_snmp(console):
    """The last /proc/net/snmp a guest printed, parsed (empty if none)."""
    blocks = re.findall(r"^SNMP-BEGIN\n(.*?)^SNMP-END$", _clean(console), re.M | re.S)
    return parse_snmp_text(blocks[-1]) if blocks else {}


def csum_errors(snmp):
    """{protocol: InCsumErrors} for every protocol that counts them."""
    return {p: f["InCsumErrors"] for p, f in snmp.items() if "InCsumErrors" in f}


def parse_offloads(console):
    """feature -> 'on'/'off' from the guest's first `ethtool -k` block."""
    m = re.search(r"^OFFLOADS-BEGIN\n(.*?)^OFFLOADS-END$", _clean(console), re.M | re.S)
    feats = {}
    for line in (m.group(1) if m else "").splitlines():
        k, _, v = line.partition(":")
        if v.strip():
            feats[k.strip()] = v.split()[0]
    return feats
