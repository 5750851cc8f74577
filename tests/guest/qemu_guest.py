#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Boot small Linux guests under QEMU (TCG) for hugelink's tests.

The kernel and base initramfs come from scripts/guest/build-guest.sh. Each
guest gets its own script as /guest.sh (plus any helper files) in a second
cpio archive appended to the base one, so nothing is rebuilt per test. The
base /init runs /guest.sh, prints "HUGELINK-GUEST-DONE status=N" and powers
off.

Guest RAM is a shared memory-backend-file (hugetlbfs if hugepage_dir is
given, else /dev/shm), or with memfd=True an anonymous shared memfd that
takes no hugepages, so vhost-user back-ends can map it. Network ports are
virtio-net-pci devices on vhost-user sockets (vectors=0: QEMU 7.2 under TCG
crashes when a vhost-user device starts with MSI-X). An ivshmem-plain device
can expose a host file to the guest as PCI BAR 2.

Every QEMU started here dies with the process that started it
(PR_SET_PDEATHSIG), and kill() / the context manager / exit stop it too.

Library use:
    g = Guest("g1", workdir, kernel, initramfs, "ip addr add ...",
              vhost_sockets=[("/tmp/a.sock", "52:54:00:00:00:01", "client", 0)])
    g.start()
    console = g.wait(120)      # console text; g.status is /guest.sh's status
    g.kill()

Command line (one guest, console to stdout, exit status of /guest.sh):
    qemu_guest.py --guest-dir BUILD/guest --script guest.sh \\
        [--extra FILE[:GUESTPATH]]... [--vhost PATH,MAC,client|server[,RECONNECT]]... \\
        [--ivshmem FILE] [--mem MB] [--hugepage-dir DIR] [--timeout S] [--workdir D] NAME
"""
import argparse
import atexit
import ctypes
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

MARKER = "HUGELINK-GUEST-DONE"
QBOOT = "/usr/share/qemu/qboot.rom"
QEMU = "qemu-system-x86_64"
KERNEL_ARGS = "console=ttyS0 panic=-1 quiet"

_running = set()


class MissingPrerequisite(Exception):
    """Something the guest needs (QEMU, the kernel, a file) is not there."""


def qemu_binary():
    """Path of qemu-system-x86_64, or raise MissingPrerequisite."""
    path = shutil.which(QEMU)
    if not path:
        raise MissingPrerequisite(f"{QEMU} not found (install qemu-system-x86)")
    return path


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the process that started it dies."""
    ppid = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != ppid:
        os._exit(1)


def spawn(cmd, log_path, **kw):
    """Start cmd in its own session with stdout+stderr to log_path.

    The child dies with this process (PR_SET_PDEATHSIG).
    """
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent, **kw)
    finally:
        log.close()


def stop(proc, sig=signal.SIGTERM, grace=5.0):
    """Send sig to proc's process group, then SIGKILL after grace seconds; reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def newc(entries):
    """A cpio archive ("newc" format, as the kernel reads it) of entries.

    entries: (path, mode, data) with path relative to / and mode including
    the file type (e.g. 0o100755, 0o040755). Parent directories must come
    first or already exist in the archive it is appended to.
    """
    out = bytearray()

    def put(name, mode, data, ino):
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(name_b)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for i, (name, mode, data) in enumerate(entries, start=1):
        put(name.lstrip("/"), mode, data, 1000 + i)
    put("TRAILER!!!", 0, b"", 0)
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def guest_archive(script_text, extra_files=()):
    """gzip'ed cpio with /guest.sh and the extra files.

    extra_files: host paths (copied to /bin/<name>) or (host_path, guest_path).
    """
    entries = [("guest.sh", 0o100755, script_text.encode())]
    dirs = set()
    for item in extra_files:
        src, dst = (item, "/bin/" + os.path.basename(item)) if isinstance(item, str) else item
        if not os.path.isfile(src):
            raise MissingPrerequisite(f"guest file {src} not found")
        parts = dst.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entries.append((d, 0o040755, b""))
        with open(src, "rb") as f:
            data = f.read()
        entries.append(("/".join(parts), 0o100000 | (os.stat(src).st_mode & 0o7777), data))
    # directories before files, in path order, so every parent exists
    entries.sort(key=lambda e: (e[1] & 0o170000 != 0o040000, e[0]))
    return gzip.compress(newc(entries), mtime=0)


class Guest:
    """One QEMU guest running a script; see the module documentation."""

    def __init__(self, name, workdir, kernel, initramfs, script_text, extra_files=(),
                 vhost_sockets=(), ivshmem_file=None, mem_mb=256, hugepage_dir=None,
                 kernel_args="", ivshmem_size=None, memfd=False, qemu_args=None, packed=False):
        self.name = name
        self.workdir = workdir
        self.kernel = kernel
        self.initramfs = initramfs
        self.script_text = script_text
        self.extra_files = list(extra_files)
        self.vhost_sockets = list(vhost_sockets)
        self.ivshmem_file = ivshmem_file
        self.ivshmem_size = ivshmem_size
        self.mem_mb = mem_mb
        self.hugepage_dir = hugepage_dir
        self.memfd = memfd
        self.packed = packed  # virtio-net devices with packed=on (packed virtqueues)
        self.kernel_args = kernel_args
        # options that bring their own -m, memory backend and network devices (hlctl qemu-args)
        self.qemu_args = list(qemu_args) if qemu_args is not None else None
        self.log_path = os.path.join(workdir, f"{name}.console.log")
        self.initrd_path = os.path.join(workdir, f"{name}.initrd")
        self.proc = None
        self.timed_out = False
        self.status = None  # exit status of /guest.sh, from the marker line

    def _initrd(self):
        """Base initramfs + per-guest archive, the second one 4-byte aligned."""
        with open(self.initramfs, "rb") as f:
            base = f.read()
        with open(self.initrd_path, "wb") as f:
            f.write(base)
            f.write(b"\0" * (-len(base) % 4))
            f.write(guest_archive(self.script_text, self.extra_files))
        return self.initrd_path

    def command(self):
        """The QEMU command line (builds the per-guest initrd)."""
        for path, what in ((self.kernel, "guest kernel"), (self.initramfs, "guest initramfs")):
            if not os.path.isfile(path):
                raise MissingPrerequisite(f"{what} {path} not found (run scripts/guest/build-guest.sh)")
        if self.memfd:
            backend = f"memory-backend-memfd,id=mem,size={self.mem_mb}M,share=on"
        else:
            backend = (f"memory-backend-file,id=mem,size={self.mem_mb}M,"
                       f"mem-path={self.hugepage_dir or '/dev/shm'},share=on")
        memory = ["-m", f"{self.mem_mb}M", "-object", backend, "-numa", "node,memdev=mem"]
        cmd = [qemu_binary(), "-name", self.name, "-accel", "tcg", "-smp", "1",
               *(memory if self.qemu_args is None else self.qemu_args),
               "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
               "-nodefaults", "-no-user-config",
               "-kernel", self.kernel, "-initrd", self._initrd(),
               "-append", f"{KERNEL_ARGS} {self.kernel_args}".strip()]
        if os.path.exists(QBOOT):
            cmd += ["-bios", QBOOT]
        for i, port in enumerate(self.vhost_sockets):
            path, mac, mode, reconnect = (tuple(port) + (0,))[:4]
            chardev = f"socket,id=chr{i},path={path}"
            if mode == "server":
                # the back-end connects to QEMU (a vhost-user client port, OVS's
                # dpdkvhostuserclient); wait=off spares the chardev's own wait, as
                # the vhost-user netdev holds the guest until a back-end is there
                chardev += ",server=on,wait=off"
            elif mode != "client":
                raise ValueError(f"vhost-user socket mode must be client or server, not {mode!r}")
            elif reconnect:
                chardev += f",reconnect={int(reconnect)}"
            cmd += ["-chardev", chardev,
                    "-netdev", f"vhost-user,id=net{i},chardev=chr{i}",
                    "-device", f"virtio-net-pci,netdev=net{i},mac={mac},vectors=0" + (",packed=on" if self.packed else "")]
        if self.ivshmem_file:
            if not os.path.exists(self.ivshmem_file):
                raise MissingPrerequisite(f"ivshmem file {self.ivshmem_file} not found")
            size = self.ivshmem_size or os.path.getsize(self.ivshmem_file)
            if size <= 0:
                raise ValueError(f"ivshmem file {self.ivshmem_file} is empty")
            cmd += ["-object", f"memory-backend-file,id=ivshm,size={size},"
                               f"mem-path={self.ivshmem_file},share=on",
                    "-device", "ivshmem-plain,memdev=ivshm"]
        return cmd

    def start(self):
        """Start QEMU; the console goes to self.log_path."""
        os.makedirs(self.workdir, exist_ok=True)
        cmd = self.command()
        with open(os.path.join(self.workdir, f"{self.name}.cmdline"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.proc = spawn(cmd, self.log_path)
        _running.add(self)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """The console (and QEMU's own messages) so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout):
        """Wait until the guest powers off (or timeout seconds, then kill it).

        Returns the console output; sets self.status (None if /init never
        printed its marker) and self.timed_out.
        """
        if self.proc is not None:
            try:
                self.proc.wait(timeout=max(timeout, 0))
            except subprocess.TimeoutExpired:
                self.timed_out = True
                self.kill()
        out = self.output()
        m = re.search(MARKER + r" status=(\d+)", out)
        self.status = int(m.group(1)) if m else None
        return out

    def kill(self):
        """Stop QEMU (no-op if it has already exited) and drop the initrd copy."""
        stop(self.proc, signal.SIGTERM, grace=3.0)
        _running.discard(self)
        try:
            os.unlink(self.initrd_path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


@atexit.register
def _kill_all():
    for g in list(_running):
        g.kill()


def main():
    ap = argparse.ArgumentParser(description="Boot one test guest and print its console.")
    ap.add_argument("name")
    ap.add_argument("--guest-dir", help="output directory of scripts/guest/build-guest.sh")
    ap.add_argument("--kernel")
    ap.add_argument("--initramfs")
    ap.add_argument("--script", help="file to run as /guest.sh (default: nothing)")
    ap.add_argument("--extra", action="append", default=[], metavar="FILE[:GUESTPATH]")
    ap.add_argument("--vhost", action="append", default=[], metavar="PATH,MAC,client|server[,RECONNECT]")
    ap.add_argument("--ivshmem", metavar="FILE")
    ap.add_argument("--mem", type=int, default=256, metavar="MB")
    ap.add_argument("--hugepage-dir")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--workdir")
    a = ap.parse_args()

    kernel = a.kernel or (a.guest_dir and os.path.join(a.guest_dir, "vmlinuz"))
    initramfs = a.initramfs or (a.guest_dir and os.path.join(a.guest_dir, "initramfs.cpio.gz"))
    if not kernel or not initramfs:
        ap.error("give --guest-dir, or --kernel and --initramfs")
    script = ""
    if a.script:
        with open(a.script) as f:
            script = f.read()
    extra = [tuple(e.split(":", 1)) if ":" in e else e for e in a.extra]
    vhost = []
    for v in a.vhost:
        parts = v.split(",")
        if len(parts) not in (3, 4):
            ap.error(f"--vhost {v}: want PATH,MAC,client|server[,RECONNECT]")
        vhost.append((parts[0], parts[1], parts[2], int(parts[3]) if len(parts) == 4 else 0))
    workdir = a.workdir or tempfile.mkdtemp(prefix="hl-guest-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    g = Guest(a.name, workdir, kernel, initramfs, script, extra_files=extra, vhost_sockets=vhost,
              ivshmem_file=a.ivshmem, mem_mb=a.mem, hugepage_dir=a.hugepage_dir)
    try:
        g.start()
        out = g.wait(a.timeout)
    except MissingPrerequisite as e:
        print(f"MISSING PREREQUISITE: {e}", file=sys.stderr)
        return 2
    finally:
        g.kill()
    sys.stdout.write(out)
    if g.timed_out:
        print(f"qemu_guest: {a.name} timed out after {a.timeout}s", file=sys.stderr)
        return 124
    if g.status is None:
        print(f"qemu_guest: {a.name} stopped without the {MARKER} line", file=sys.stderr)
        return 1
    if not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return g.status


if __name__ == "__main__":
    sys.exit(main())
