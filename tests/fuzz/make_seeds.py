#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the seed corpora of the fuzz harnesses whose inputs are made, not
found: valid inputs in each harness's own input format (see the comment at
the top of each fuzz_*.c), so that mutations start past the first checks.
usage: make_seeds.py [SEEDS_DIR]   (default: tests/fuzz/seeds beside it)"""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_vhost_msg: [len:2 LE][nfds:1][header + payload] per message ----------------------
def vu(req, payload=b"", nfds=0, flags=1):
    msg = struct.pack("<III", req, flags, len(payload)) + payload
    return struct.pack("<HB", len(msg), nfds) + msg


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


UA = 0x7F0000000000  # the front-end's address of the one region
FEATURES = (1 << 32) | (1 << 30) | (1 << 28) | (1 << 29)
setup = (vu(1) + vu(15) + vu(16, u64((1 << 3) | (1 << 15) | (1 << 0))) + vu(2, u64(FEATURES)) + vu(3)
         + vu(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 4096, UA, 0), nfds=1))
queue = b""
for q in (0, 1):
    queue += (vu(8, state(q, 64)) + vu(10, state(q, 0))
              + vu(9, struct.pack("<IIQQQQ", q, 0, UA, UA + 2048, UA + 1024, 0))
              + vu(12, u64(q), nfds=1) + vu(13, u64(q), nfds=1) + vu(18, state(q, 1)))
write("fuzz_vhost_msg", "seed-bring-up", setup + queue + vu(11, state(0, 0)) + vu(11, state(1, 0)))
# packed rings: a size that is not a power of two, bases with wrap counters (and a used half), event areas
packed = (vu(1) + vu(15) + vu(16, u64((1 << 3) | (1 << 0))) + vu(2, u64((1 << 32) | (1 << 34) | (1 << 30))) + vu(3)
          + vu(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 4096, UA, 0), nfds=1))
for q, base in ((0, 0x8000), (1, 0x80058007)):
    packed += (vu(8, state(q, 200)) + vu(10, state(q, base))
               + vu(9, struct.pack("<IIQQQQ", q, 0, UA, UA + 3204, UA + 3200, 0))
               + vu(12, u64(q), nfds=1) + vu(13, u64(q), nfds=1) + vu(18, state(q, 1)))
write("fuzz_vhost_msg", "seed-packed-bring-up", packed + vu(11, state(0, 0)) + vu(11, state(1, 0)))
write("fuzz_vhost_msg", "seed-mem-slots",
      vu(15) + vu(16, u64(1 << 15)) + vu(36)
      + vu(37, u64(0) + struct.pack("<QQQQ", 0x100000, 8192, UA, 0), nfds=2)
      + vu(38, u64(0) + struct.pack("<QQQQ", 0x100000, 8192, UA, 0)) + vu(34))
write("fuzz_vhost_msg", "seed-reply-ack", vu(15) + vu(16, u64(1 << 3)) + vu(3, flags=1 | 8) + vu(20, u64(1500), flags=9)
      + vu(39, u64(15)) + vu(40) + vu(17))

# ---- fuzz_vring_walk: [features << 28:1][start:2][pad:5] then region 0's bytes -----------------
NUM, G0, G1 = 64, 0x10000, 0x40000


def desc(addr, ln, flags, nxt):
    return struct.pack("<QIHH", addr, ln, flags, nxt)


mem = bytearray(0x3100)
d = [desc(G0 + 0x2000, 100, 1, 1), desc(G1, 200, 2, 0), desc(G0 + 0x3000, 32, 4, 0), desc(G0 + 0x2800, 60, 0, 0)]
for i, x in enumerate(d):
    mem[16 * i:16 * i + 16] = x
avail = struct.pack("<HHHHH", 0, 3, 0, 2, 3)
mem[16 * NUM:16 * NUM + len(avail)] = avail
mem[0x3000:0x3020] = desc(G0 + 0x2400, 64, 1, 1) + desc(G1 + 0x100, 512, 2, 0)
write("fuzz_vring_walk", "seed-chain-indirect", bytes([1, 0, 0, 0, 0, 0, 0, 0]) + bytes(mem))
write("fuzz_vring_walk", "seed-wrapped-index", bytes([3, 0xfe, 0xff, 0, 0, 0, 0, 0]) + bytes(mem))

# ---- fuzz_json: documents like the control plane's ------------------------------------------
for name, text in {
    "seed-request": '{"cmd":"port-add","kind":"vhost","name":"v0","path":"/run/hl/v0.sock","mode":"server","zcopy":"auto"}',
    "seed-values": '{"a":[1,-2,3.5e-7,18446744073709551615,-9223372036854775808,true,false,null],"s":"\\u00e9\\ud83d\\ude00\\n\\"x\\""}',
    "seed-nested": '{"ports":[{"kind":"shm","name":"s0","isolated":true},{"kind":"tap","name":"t0","ifname":"hl0"}]}',
    "seed-deep": "[" * 30 + "{}" + "]" * 30,
}.items():
    write("fuzz_json", name, text.encode())

# ---- fuzz_pool_meta: [flags:1] then the record (flags 3: seal it, fix its header) ------------
def record(shift, files, segs, pool_size, data_offset, name=b"fzpool", dirpath=b"/dev/hugepages"):
    hdr = struct.pack("<IHHIIIIIIQQQ32s192s", 0x4D504C48, 1, 280, 0, 280 + 72 * len(files) + 48 * len(segs),
                      shift, 1, len(files), len(segs), pool_size, data_offset, 123456789, name, dirpath)
    body = b"".join(struct.pack("<64sQ", n, s) for n, s in files)
    body += b"".join(struct.pack("<IIQQQQQ", f, 0, fo, ln, ph, io, po) for f, fo, ln, ph, io, po in segs)
    return hdr + body


P = 4096
write("fuzz_pool_meta", "seed-two-segs", bytes([3]) + record(
    12, [(b"fzpool.0", 2 * P)], [(0, 0, P, 0, 0x100000, 0), (0, P, P, 0, 0x200000, P)], 2 * P, P))
H = 2 << 20
write("fuzz_pool_meta", "seed-huge-unordered", bytes([3]) + record(
    21, [(b"fzpool.0", 2 * H), (b"fzpool.1", H)],
    [(1, 0, H, 0x40000000, 0x40000000, 2 * H), (0, 0, H, 0x80000000, 0x80000000, 0),
     (0, H, H, 0x1000000, 0x1000000, H)], 3 * H, H))
write("fuzz_pool_meta", "seed-raw-unsealed", bytes([0]) + record(
    12, [(b"fzpool.0", P)], [(0, 0, P, 0, 0, 0)], P, 0, dirpath=b"/dev/shm"))

# ---- fuzz_ctl_request: one request a line, one daemon through the lines ------------------------
for name, lines in {
    "seed-shm-ports": ['{"cmd":"ping"}',
                       '{"cmd":"port-add","kind":"shm","name":"s0"}',
                       '{"cmd":"port-add","kind":"shm","name":"s1","isolated":true}',
                       '{"cmd":"port-list"}', '{"cmd":"stats"}', '{"cmd":"mac"}',
                       '{"cmd":"qemu-args","name":"s1"}', '{"cmd":"port-del","name":"s0"}'],
    "seed-vhost-tap": ['{"cmd":"port-add","kind":"vhost","name":"v0","path":"/run/hl/v0.sock","mode":"server"}',
                       '{"cmd":"port-add","kind":"vhost","name":"v1","path":"/run/hl/v1.sock","mode":"client",'
                       '"zcopy":"on","offload":"off"}',
                       '{"cmd":"port-add","kind":"tap","name":"t0","ifname":"hlt0","offload":"on"}',
                       '{"cmd":"qemu-args","name":"v0"}', '{"cmd":"port-list"}',
                       '{"cmd":"port-add","kind":"vhost","name":"v2","path":"/run/hl/v0.sock","mode":"server"}'],
    "seed-vhost-mq": ['{"cmd":"port-add","kind":"vhost","name":"m0","path":"/run/hl/m0.sock","mode":"server",'
                      '"queues":4}',
                      '{"cmd":"port-add","kind":"vhost","name":"m1","path":"/run/hl/m1.sock","mode":"server",'
                      '"queues":17}',
                      '{"cmd":"port-add","kind":"vhost","name":"m2","path":"/run/hl/m2.sock","mode":"client",'
                      '"queues":"4"}',
                      '{"cmd":"qemu-args","name":"m0"}', '{"cmd":"libvirt-xml","name":"m0"}', '{"cmd":"stats"}',
                      '{"cmd":"port-list"}'],
    "seed-worker-map": ['{"cmd":"port-add","kind":"vhost","name":"w0","path":"/run/hl/w0.sock","mode":"server",'
                        '"queues":4,"worker_map":[1,1]}',
                        '{"cmd":"port-set","name":"w0","worker_map":[0,1,1,0]}',
                        '{"cmd":"port-set","name":"w0","worker_map":[2]}',
                        '{"cmd":"port-set","name":"w0","worker_map":[0,0,0,0,0]}',
                        '{"cmd":"port-set","name":"w0","worker_map":"1"}',
                        '{"cmd":"port-set","name":"w0"}', '{"cmd":"port-set","name":"nope","worker_map":[0]}',
                        '{"cmd":"port-add","kind":"vhost","name":"w1","path":"/run/hl/w1.sock","mode":"server",'
                        '"worker_map":[1]}',
                        '{"cmd":"port-add","kind":"shm","name":"s","worker_map":[0]}',
                        '{"cmd":"port-set","name":"w1","worker_map":"auto"}',
                        '{"cmd":"stats"}', '{"cmd":"port-list"}'],
    "seed-refused": ['{"cmd":"nope"}', '{"cmd":1}', '[1,2]', '{"cmd":"port-del"}', '{"cmd":"port-add","kind":"x"}',
                     '{"cmd":"port-add","kind":"shm","name":"bad/name"}', '{"cmd":"qemu-args","name":"none"}',
                     'not json'],
    "seed-vlan-ports": ['{"cmd":"port-add","kind":"shm","name":"a","vlan":10}',
                        '{"cmd":"port-add","kind":"shm","name":"t","trunk":[10,20,4094]}',
                        '{"cmd":"port-add","kind":"shm","name":"x","vlan":10,"trunk":[10]}',
                        '{"cmd":"port-add","kind":"shm","name":"y","vlan":4095}',
                        '{"cmd":"port-add","kind":"shm","name":"z","trunk":[]}',
                        '{"cmd":"port-add","kind":"shm","name":"w","trunk":[0,"10"]}',
                        '{"cmd":"port-list"}', '{"cmd":"mac"}', '{"cmd":"port-del","name":"t"}'],
    "seed-vlan-set": ['{"cmd":"port-add","kind":"shm","name":"a","vlan":10}',
                      '{"cmd":"port-add","kind":"shm","name":"t","trunk":[20],"native_vlan":10}',
                      '{"cmd":"port-set","name":"a","vlan":20}',
                      '{"cmd":"port-set","name":"a","trunk":[10,"30-40"],"native_vlan":30}',
                      '{"cmd":"port-set","name":"t","vlan":0}',
                      '{"cmd":"port-set","name":"t","vlan":10,"trunk":[20]}',
                      '{"cmd":"port-set","name":"t","vlan":4095}',
                      '{"cmd":"port-set","name":"nope","vlan":10}',
                      '{"cmd":"port-set","name":"a","native_vlan":10}',
                      '{"cmd":"port-set","name":"a"}',
                      '{"cmd":"port-list"}', '{"cmd":"port-del","name":"t"}'],
}.items():
    write("fuzz_ctl_request", name, "\n".join(lines).encode())
write("fuzz_ctl_request", "seed-starting", b"\xff\n" + b'{"cmd":"ping"}')

# ---- fuzz_offload: the found seeds again with an 802.1Q tag pushed (byte 13: 0x10), pushed and popped
# (0x30), pushed into a shared frame (0x50) on the way to the egress port -----------------------------
for src, flags in (("seed-v4", 0x10), ("seed-v6", 0x30), ("seed-csum-v4", 0x50)):
    with open(os.path.join(OUT, "fuzz_offload", src), "rb") as f:
        b = bytearray(f.read())
    b[13] = (b[13] & 0x0f) | flags
    write("fuzz_offload", f"{src}-vlan-{flags:02x}", bytes(b))
