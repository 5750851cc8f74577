#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hlctl qemu-args and libvirt-xml for one guest with several ports.

usage: test_vm_config.py BUILD_DIR

A hugelinkd with a vhost server port, a vhost client port (its socket path
full of shell and XML characters) and an shm port. `hlctl libvirt-xml a b` must give what a domain needs:
virt-xml-validate (Debian libvirt-clients) accepts a whole domain made of
its two parts, each interface names its port's socket with the mode QEMU
takes (client with reconnect for a server port, server for a client port)
and the MAC qemu-args gives; a domain with one of them broken is refused.
`hlctl qemu-args a b s` has one guest memory backend, a -netdev/-device pair
per vhost port and the ivshmem BAR of the shm port. Hostile requests (no
such port, a port twice, two ports on one MAC, a multicast MAC, an shm port
for libvirt, sizes out of range) are refused with the reason, and the daemon
carries on. Prints TAP, plan first.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hltap import Tap  # noqa: E402
from hldaemon import Daemon, build_dir  # noqa: E402

TAG = f"ops-vm-{os.getpid()}"
MAC_A = "02:00:00:00:5a:0a"

DOMAIN = """<domain type='kvm'>
  <name>{tag}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
{domain}
  <devices>
{devices}
  </devices>
</domain>
"""


def validate(work, name, xml):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(xml)
    r = subprocess.run(["virt-xml-validate", path, "domain"], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def main():
    build = build_dir(__doc__)
    t = Tap(12)
    with tempfile.TemporaryDirectory(prefix=f"{TAG}-") as work:
        d = Daemon(build, work, "v", TAG)
        try:
            if not t.check(d.ready(), "hugelinkd starts", open(d.out).read()[-300:]):
                return 1
            sa, sb = os.path.join(work, "a.sock"), os.path.join(work, "b&'.sock")
            d.hlctl("port", "add", "vhost", "a", "--server", sa)
            d.hlctl("port", "add", "vhost", "b", "--client", sb)
            d.hlctl("port", "add", "shm", "s")

            rc, out, err = d.hlctl("libvirt-xml", f"a={MAC_A}", "b", "--mem", "512", "--vcpus", "2")
            dom, _, dev = out.partition("<!-- in <devices>: -->")
            xml = DOMAIN.format(tag=TAG, mem=512, vcpus=2, domain=dom, devices=dev)
            vrc, vout = validate(work, "domain.xml", xml)
            t.check(rc == 0 and vrc == 0, "virt-xml-validate accepts a domain made of hlctl libvirt-xml a b",
                    f"{err} {vout} {xml}")
            root = ET.fromstring(xml)
            ifs = root.findall("devices/interface")
            src = [(i.get("type"), i.find("source").get("path"), i.find("source").get("mode"),
                    i.find("source/reconnect") is not None, i.find("mac").get("address")) for i in ifs]
            qa = json.loads(d.hlctl("qemu-args", f"a={MAC_A}", "b", "--json")[1])
            macs = {p["name"]: p["mac"] for p in qa["ports"]}
            t.check(src == [("vhostuser", sa, "client", True, MAC_A), ("vhostuser", sb, "server", False, macs["b"])],
                    "each interface: its port's socket, the mode QEMU takes, the MAC qemu-args gives", str(src))
            mb = root.find("memoryBacking")
            cell = root.find("cpu/numa/cell")
            t.check(mb is not None and mb.find("access").get("mode") == "shared" and
                    mb.find("source").get("type") == "memfd" and cell.get("memAccess") == "shared" and
                    cell.get("memory") == "512" and cell.get("cpus") == "0-1",
                    "shared memfd guest memory, one NUMA cell of the guest's size and CPUs, memAccess shared",
                    dom)
            bad = xml.replace("<interface type='vhostuser'>", "<interface type='vhostuser'><bogus/>", 1)
            t.check(validate(work, "bad.xml", bad)[0] != 0, "and refuses that domain with an interface broken")

            rc, out, err = d.hlctl("qemu-args", f"a={MAC_A}", "b", "s", "--mem", "512")
            args = shlex.split(out)
            t.check(rc == 0 and out.count("memory-backend-file,id=hlmem,size=512M") == 1 and
                    args[:2] == ["-m", "512M"] and args.count("-netdev") == 2 and
                    out.count("virtio-net-pci") == 2 and out.count("ivshmem-plain") == 1 and f"mac={MAC_A}" in out
                    and "reconnect=1" in out and f"socket,id=chr-b,path={sb},server=on,wait=off" in args,
                    "qemu-args a b s: one guest memory backend, two -netdev/-device pairs, the shm port's BAR; "
                    "a path with shell characters quoted", out)
            rc1, out1, _ = d.hlctl("qemu-args", "a")
            again = d.hlctl("qemu-args", "a")[1]
            mac = json.loads(d.hlctl("qemu-args", "a", "--json")[1])["mac"]
            t.check(rc1 == 0 and out1 == again and f"mac={mac}" in out1 and mac.startswith("52:54:00:") and
                    out1.count("-netdev") == 1 and "id=hlmem" in out1,
                    "qemu-args NAME alone: one port, a MAC made from its name, the same every time", out1)

            refusals = [
                (["qemu-args", "a", "nosuch"], "no port nosuch"),
                (["qemu-args", "a", "a"], "named twice"),
                (["qemu-args", "a=02:00:00:00:00:01", "b=02:00:00:00:00:01"], "same MAC"),
                (["qemu-args", "a=01:00:5e:00:00:01"], "unicast MAC"),
                (["qemu-args", "a=02:00:00:00:00:0g"], "unicast MAC"),
                (["qemu-args", "a=02:00:00:00:00: 1"], "unicast MAC"),
                (["qemu-args", "a=02:00:00:00:00:-1"], "unicast MAC"),
                (["libvirt-xml", "a", "s"], "shm port"),
                (["qemu-args", "a", "b", "--mem", "1"], "mem_mb"),
            ]
            got = []
            for args_, why in refusals:
                rc, _, err = d.hlctl(*args_)
                got.append((rc, why in err))
            t.check(all(g == (1, True) for g in got), "hostile requests refused (exit 1) with the reason", str(got))
            raw = [
                '{"cmd":"qemu-args","ports":"a"}',
                '{"cmd":"qemu-args","ports":[]}',
                '{"cmd":"qemu-args","ports":[7]}',
                '{"cmd":"qemu-args","ports":[{"name":"a","mac":5}]}',
                '{"cmd":"qemu-args","ports":[{"name":"a"}],"vcpus":0}',
                '{"cmd":"libvirt-xml","ports":[{"name":"a"}],"mem_mb":-3}',
                '{"cmd":"qemu-args","ports":[' + ",".join('{"name":"a"}' for _ in range(40)) + ']}',
            ]
            codes = [d.hlctl("raw", r)[0] for r in raw]
            t.check(codes == [1] * len(raw), "malformed requests refused", str(codes))
            t.check(d.hlctl("ping")[0] == 0, "the daemon carries on")
            rc, out, _ = d.hlctl("libvirt-xml", "b", "--json")
            j = json.loads(out) if rc == 0 else {}
            t.check("b&amp;&apos;.sock" in j.get("devices", ""), "a socket path is escaped in the XML",
                    j.get("devices", ""))
            rc, out, _ = d.hlctl("qemu-args", "s")
            t.check(rc == 0 and "ivshmem-plain" in out and "hlmem" not in out,
                    "an shm port alone: its BAR, no guest memory backend", out)
        finally:
            d.stop()
    return t.exit_code()


if __name__ == "__main__":
    sys.exit(main())
