# SPDX-License-Identifier: BSD-3-Clause
"""A memif client in Python, for tests: the real protocol, and every way to break it.

It lays out one region (a memfd) as memif clients do: the S2M rings, then
the M2S rings, then one buffer per slot of every ring. Each message is
built field by field here (include/hugelink/memif_abi.h gives the same
layout in C), so a test can send any of them wrong: sizes, order, fields,
fds. The data path writes rings and descriptors directly, so a test can
also break those: heads past the ring, descriptors outside the region,
chains that never end.
"""
import fcntl
import mmap
import os
import select
import socket
import struct

MSG_SIZE = 128
ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED, DISCONNECT = 1, 2, 3, 4, 5, 6, 7, 8
VERSION = 0x0200
COOKIE = 0x3E31F20
DESC_NEXT = 1
MASK_INT = 1
RING_HDR = 128
DESC = 16


def msg(mtype, body=b""):
    m = struct.pack("<H", mtype) + body
    return m + bytes(MSG_SIZE - len(m))


def m_init(id_=0, version=VERSION, mode=0, secret=b"", name=b"pytest"):
    return msg(INIT, struct.pack("<HIB24s32s", version, id_, mode, secret, name))


def m_add_region(index, size):
    return msg(ADD_REGION, struct.pack("<HQ", index, size))


def m_add_ring(s2m, index, region, offset, log2, priv=0):
    return msg(ADD_RING, struct.pack("<HHHIBH", 1 if s2m else 0, index, region, offset, log2, priv))


def m_connect(name=b"py0"):
    return msg(CONNECT, struct.pack("<32s", name))


def m_disconnect(reason=b"bye"):
    return msg(DISCONNECT, struct.pack("<I96s", 0, reason))


class Peer:
    """One client connection. Nothing happens until connect() and handshake()."""

    def __init__(self, path, queues=1, log2=8, bufsize=2048, id_=0, secret=b"", seal=True):
        self.path, self.queues, self.log2, self.bufsize, self.seal = path, queues, log2, bufsize, seal
        self.id, self.secret = id_, secret
        self.size = 1 << log2
        self.ring_bytes = RING_HDR + DESC * self.size
        self.buf_base = (2 * queues * self.ring_bytes + 4095) & ~4095
        self.region_size = self.buf_base + 2 * queues * self.size * bufsize
        self.region_size = (self.region_size + 4095) & ~4095
        self.sock = None
        self.mfd = -1
        self.mm = None
        self.efds = []
        self.hello = None
        self.m2s_pos = [0] * queues   # next M2S slot to read
        self.s2m_head = [0] * queues  # our S2M head

    # ---- the socket
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(self.path)
        self.hello = self.recv()
        return self.hello

    def send(self, data, fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
        return self.sock.sendmsg([data], anc)

    def recv(self, timeout=3.0):
        """(type, body) of the next message; None on EOF or silence."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        try:
            data = self.sock.recv(4096)
        except OSError:
            return None
        if not data:
            return None
        return struct.unpack_from("<H", data)[0], data[2:]

    def expect(self, mtype, timeout=3.0):
        r = self.recv(timeout)
        return r is not None and r[0] == mtype

    def closed(self, timeout=3.0):
        """True once the server has hung up (a DISCONNECT first is fine)."""
        for _ in range(4):
            r = self.recv(timeout)
            if r is None:
                return True
            if r[0] != DISCONNECT:
                return False
        return False

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.mm is not None:
            self.mm.close()
            self.mm = None
        if self.mfd >= 0:
            os.close(self.mfd)
            self.mfd = -1
        for fd in self.efds:
            os.close(fd)
        self.efds = []

    # ---- memory
    def make_region(self, size=None, file_size=None, seal=True):
        self.mfd = os.memfd_create("memif-peer", os.MFD_ALLOW_SEALING)
        os.ftruncate(self.mfd, file_size if file_size is not None else (size or self.region_size))
        if seal:
            # as DPDK does for the memfds it passes
            fcntl.fcntl(self.mfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        self.mm = mmap.mmap(self.mfd, file_size if file_size is not None else (size or self.region_size))
        for q in range(self.queues):
            for s2m in (True, False):
                off = self.ring_off(s2m, q)
                if off + self.ring_bytes > len(self.mm):
                    continue
                struct.pack_into("<IHH", self.mm, off, COOKIE, 0, 0)
                struct.pack_into("<H", self.mm, off + 64, 0)
                for s in range(self.size):
                    self.set_desc(s2m, q, s, 0, 0, self.bufsize, self.buf_off(s2m, q, s))
                if not s2m:
                    # every M2S slot offered to the server at once
                    struct.pack_into("<H", self.mm, off + 6, self.size & 0xffff)
        return self.mfd

    def ring_off(self, s2m, q):
        return (q if s2m else self.queues + q) * self.ring_bytes

    def buf_off(self, s2m, q, slot):
        return self.buf_base + ((q if s2m else self.queues + q) * self.size + slot) * self.bufsize

    def desc_off(self, s2m, q, slot):
        return self.ring_off(s2m, q) + RING_HDR + (slot & (self.size - 1)) * DESC

    def set_desc(self, s2m, q, slot, flags, region, length, offset):
        struct.pack_into("<HHIII", self.mm, self.desc_off(s2m, q, slot), flags, region, length, offset, 0)

    def desc(self, s2m, q, slot):
        return struct.unpack_from("<HHIII", self.mm, self.desc_off(s2m, q, slot))

    def head(self, s2m, q):
        return struct.unpack_from("<H", self.mm, self.ring_off(s2m, q) + 6)[0]

    def set_head(self, s2m, q, v):
        struct.pack_into("<H", self.mm, self.ring_off(s2m, q) + 6, v & 0xffff)

    def tail(self, s2m, q):
        return struct.unpack_from("<H", self.mm, self.ring_off(s2m, q) + 64)[0]

    def flags(self, s2m, q):
        return struct.unpack_from("<H", self.mm, self.ring_off(s2m, q) + 4)[0]

    def set_flags(self, s2m, q, v):
        struct.pack_into("<H", self.mm, self.ring_off(s2m, q) + 4, v)

    # ---- the handshake, done right
    def handshake(self, name=b"py0"):
        """HELLO .. CONNECTED; True when connected."""
        if self.hello is None and self.connect() is None:
            return False
        if self.mfd < 0:
            self.make_region(seal=self.seal)
        self.send(m_init(self.id, secret=self.secret))
        if not self.expect(ACK):
            return False
        self.send(m_add_region(0, self.region_size), [self.mfd])
        if not self.expect(ACK):
            return False
        for s2m in (True, False):
            for q in range(self.queues):
                efd = os.eventfd(0, os.EFD_NONBLOCK)
                self.efds.append(efd)
                self.send(m_add_ring(s2m, q, 0, self.ring_off(s2m, q), self.log2), [efd])
                if not self.expect(ACK):
                    return False
        self.send(m_connect(name))
        return self.expect(CONNECTED)

    def eventfd(self, s2m, q):
        return self.efds[(0 if s2m else self.queues) + q]

    # ---- frames
    def send_frame(self, data, q=0, seg=None, kick=True):
        """One frame on S2M ring q, in buffers of seg bytes (a chain when it needs more than one)."""
        seg = seg or self.bufsize
        parts = [data[i:i + seg] for i in range(0, len(data), seg)] or [b""]
        head = self.s2m_head[q]
        if ((head - self.tail(True, q)) & 0xffff) + len(parts) > self.size:
            return False
        for i, part in enumerate(parts):
            slot = head + i
            off = self.buf_off(True, q, slot & (self.size - 1))
            self.mm[off:off + len(part)] = part
            self.set_desc(True, q, slot, DESC_NEXT if i + 1 < len(parts) else 0, 0, len(part), off)
        self.s2m_head[q] = (head + len(parts)) & 0xffff
        self.set_head(True, q, self.s2m_head[q])
        if kick and not (self.flags(True, q) & MASK_INT):
            os.eventfd_write(self.eventfd(True, q), 1)
        return True

    def recv_frames(self, q=0):
        """Every frame the server put on M2S ring q since the last call; the slots are offered again."""
        frames, cur = [], b""
        tail = self.tail(False, q)
        pos = self.m2s_pos[q]
        while pos != tail:
            flags, region, length, offset, _ = self.desc(False, q, pos)
            off = self.buf_off(False, q, pos & (self.size - 1))
            cur += bytes(self.mm[off:off + min(length, self.bufsize)])
            if not flags & DESC_NEXT:
                frames.append(cur)
                cur = b""
            # offer the slot again, as it was
            self.set_desc(False, q, pos, 0, 0, self.bufsize, off)
            pos = (pos + 1) & 0xffff
        self.m2s_pos[q] = pos
        self.set_head(False, q, (pos + self.size) & 0xffff)
        return frames


def m_hello(name=b"pyserver", min_v=VERSION, max_v=VERSION, max_region=255, max_ring=7, max_log2=14):
    return msg(HELLO, struct.pack("<32sHHHHHB", name, min_v, max_v, max_region, max_ring, max_ring, max_log2))


class Server:
    """A memif server in Python: hugelinkd's client ports connect to it, and it can break every rule."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lsock.bind(path)
        self.lsock.listen(4)
        self.sock = None
        self.regions = []   # (fd, size, mmap)
        self.rings = {}     # (s2m, index) -> (region, offset, log2, eventfd)

    def accept(self, timeout=10.0):
        r, _, _ = select.select([self.lsock], [], [], timeout)
        if not r:
            return False
        self.sock, _ = self.lsock.accept()
        return True

    def recv(self, timeout=3.0):
        """(type, body, fds) of the next message; None on EOF or silence."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(4 * 4))
        except OSError:
            return None
        if not data:
            return None
        fds = []
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += list(struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]))
        return struct.unpack_from("<H", data)[0], data[2:], fds

    def send(self, data, fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
        return self.sock.sendmsg([data], anc)

    def handshake(self, hello=None):
        """HELLO, then ACK everything up to CONNECT; True once CONNECTED is sent."""
        self.send(hello or m_hello())
        while True:
            r = self.recv()
            if r is None:
                return False
            t, body, fds = r
            if t == INIT:
                self.send(msg(ACK))
            elif t == ADD_REGION:
                index, size = struct.unpack_from("<HQ", body)
                self.regions.append((fds[0], size, mmap.mmap(fds[0], size)))
                self.send(msg(ACK))
            elif t == ADD_RING:
                flags, index, region, offset, log2, _ = struct.unpack_from("<HHHIBH", body)
                self.rings[(bool(flags & 1), index)] = (region, offset, log2, fds[0])
                self.send(msg(ACK))
            elif t == CONNECT:
                # what a DPDK server does when it takes CONNECT: every index back to 0
                for (s2m, q), (region, offset, log2, _) in self.rings.items():
                    struct.pack_into("<H", self.regions[region][2], offset + 6, 0)
                    struct.pack_into("<H", self.regions[region][2], offset + 64, 0)
                self.send(msg(CONNECTED, struct.pack("<32s", b"pyserver0")))
                return True
            else:
                return False

    def ring(self, s2m, q=0):
        region, offset, log2, efd = self.rings[(s2m, q)]
        return self.regions[region][2], offset, 1 << log2

    def head(self, s2m, q=0):
        mm, off, _ = self.ring(s2m, q)
        return struct.unpack_from("<H", mm, off + 6)[0]

    def tail(self, s2m, q=0):
        mm, off, _ = self.ring(s2m, q)
        return struct.unpack_from("<H", mm, off + 64)[0]

    def set_tail(self, s2m, q, v):
        mm, off, _ = self.ring(s2m, q)
        struct.pack_into("<H", mm, off + 64, v & 0xffff)

    def desc(self, s2m, q, slot):
        mm, off, size = self.ring(s2m, q)
        return struct.unpack_from("<HHIII", mm, off + RING_HDR + (slot & (size - 1)) * DESC)

    def set_desc(self, s2m, q, slot, flags, length):
        """Only what a server may write in a descriptor: flags and length."""
        mm, off, size = self.ring(s2m, q)
        d = off + RING_HDR + (slot & (size - 1)) * DESC
        struct.pack_into("<H", mm, d, flags)
        struct.pack_into("<I", mm, d + 4, length)

    def buf(self, region, offset, length):
        return self.regions[region][2][offset:offset + length]

    def put(self, region, offset, data):
        self.regions[region][2][offset:offset + len(data)] = data

    def recv_frames(self, q=0):
        """Frames the client lent on S2M since the last call; their slots given back (tail = head)."""
        frames, cur, pos, head = [], b"", self.tail(True, q), self.head(True, q)
        while pos != head:
            flags, region, length, offset, _ = self.desc(True, q, pos)
            cur += bytes(self.buf(region, offset, length))
            if not flags & DESC_NEXT:
                frames.append(cur)
                cur = b""
            pos = (pos + 1) & 0xffff
        self.set_tail(True, q, pos)
        return frames

    def send_frame(self, data, q=0):
        """One frame into the buffers the client offered on M2S (chained when it needs more than one)."""
        pos, head = self.tail(False, q), self.head(False, q)
        slots, first = [], pos
        off = 0
        while off < len(data) or not slots:
            if pos == head:
                return False
            flags, region, room, offset, _ = self.desc(False, q, pos)
            part = data[off:off + room]
            self.put(region, offset, part)
            slots.append((pos, len(part)))
            off += len(part)
            pos = (pos + 1) & 0xffff
        for i, (s, n) in enumerate(slots):
            self.set_desc(False, q, s, DESC_NEXT if i + 1 < len(slots) else 0, n)
        self.set_tail(False, q, (first + len(slots)) & 0xffff)
        return True

    def close_conn(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for fd, _, mm in self.regions:
            mm.close()
            os.close(fd)
        for (_, _, _, efd) in self.rings.values():
            os.close(efd)
        self.regions, self.rings = [], {}

    def close(self):
        self.close_conn()
        self.lsock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
