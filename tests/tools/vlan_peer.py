#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The far end of a trunk, for test_vlan.py: 802.1Q in user space on a TAP
interface, for kernels built without 802.1Q devices.

usage: vlan_peer.py respond IF VID=IP...   answer ARP and ping for IP in VLAN VID
       vlan_peer.py bridge IF VID1 VID2    send every frame of VLAN VID1 back tagged VID2, and the other way

Runs until SIGINT, then prints {"rx": {VID: frames, ...}, "sent": N} on one
line ("0": untagged). The kernel hands a packet socket a received frame
with its tag taken out into the auxiliary data (PACKET_AUXDATA); a frame
sent is written with its tag in place.
"""
import json
import signal
import socket
import struct
import sys

SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID, PACKET_OUTGOING = 263, 8, 0x10, 4


def frames(s):
    """(VLAN id or 0, the frame without its tag) of each frame received; None on a quiet moment."""
    while True:
        try:
            data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(20))
        except socket.timeout:
            yield None
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        vid = 0
        for lvl, typ, d in anc:
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(d) >= 20:
                status, tci = struct.unpack_from("I", d)[0], struct.unpack_from("H", d, 16)[0]
                if status & TP_STATUS_VLAN_VALID:
                    vid = tci & 0xfff
        if vid == 0 and data[12:14] == b"\x81\x00":  # left in place
            vid, data = struct.unpack_from("!H", data, 14)[0] & 0xfff, data[:12] + data[16:]
        yield vid, data


def tag(frame, vid):
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def answer(f, mac, ip):
    """The reply to an ARP request or echo request for ip, or None."""
    typ = f[12:14]
    if typ == b"\x08\x06" and len(f) >= 42 and f[20:22] == b"\x00\x01" and f[38:42] == ip:
        return f[6:12] + mac + b"\x08\x06" + f[14:20] + b"\x00\x02" + mac + ip + f[22:32]
    if typ == b"\x08\x00" and len(f) >= 42 and f[23] == 1 and f[30:34] == ip:
        ihl = (f[14] & 15) * 4
        icmp = f[14 + ihl:]
        if icmp[0] != 8:
            return None
        iph = bytearray(f[14:14 + ihl])
        iph[12:16], iph[16:20], iph[10:12] = f[30:34], f[26:30], b"\0\0"
        iph[10:12] = struct.pack("!H", csum(bytes(iph)))
        rep = bytearray(icmp)
        rep[0], rep[2:4] = 0, b"\0\0"
        rep[2:4] = struct.pack("!H", csum(bytes(rep)))
        return f[6:12] + mac + b"\x08\x00" + bytes(iph) + bytes(rep)
    return None


def main():
    # stopped by SIGINT: also when started from a shell that ignores it (a background job), which Python keeps
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode, ifname = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((ifname, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.settimeout(0.2)
    mac = s.getsockname()[4][:6]
    if mode == "respond":
        ips = {int(v): socket.inet_aton(a) for v, a in (x.split("=") for x in sys.argv[3:])}
    else:
        other = {int(sys.argv[3]): int(sys.argv[4]), int(sys.argv[4]): int(sys.argv[3])}
    rx, sent = {}, 0
    try:
        for got in frames(s):
            if got is None:
                continue
            vid, f = got
            rx[vid] = rx.get(vid, 0) + 1
            if mode == "respond" and vid in ips:
                rep = answer(f, mac, ips[vid])
                out = tag(rep, vid) if rep else None
            else:
                out = tag(f, other[vid]) if mode == "bridge" and vid in other else None
            if out is not None:
                s.send(out)
                sent += 1
    except KeyboardInterrupt:
        pass
    print(json.dumps({"rx": {str(k): v for k, v in rx.items()}, "sent": sent}), flush=True)


if __name__ == "__main__":
    main()
