#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Prepare this machine for building and testing hugelink: install the Debian
# packages that are missing, reserve 2 MiB hugepages, mount hugetlbfs.
#
#   scripts/setup-host.sh            everything
#   scripts/setup-host.sh --build    only what building needs
#   scripts/setup-host.sh --bench    everything, and what `make bench` compares against
#
# Idempotent: on a ready machine it changes nothing and says so in one line.
# Environment: HL_HUGEPAGES (default 1536) is the least number of 2 MiB pages
# to have reserved; HL_HUGEPAGE_MOUNT (default /dev/hugepages).
set -euo pipefail

BUILD_PKGS="meson ninja-build gcc pkg-config python3"
# the AF_XDP port: libxdp (XSK rings) and libbpf (its XDP program); without them it is left out
BUILD_PKGS="$BUILD_PKGS libxdp-dev libbpf-dev"
# clang + its runtimes for the libFuzzer harnesses
TEST_PKGS="clang libclang-rt-14-dev"
# QEMU guests on DPDK testpmd (tests/guest): the emulator and its qboot BIOS,
# busybox for the initramfs, testpmd, a static libc for guest helpers, and
# the decompressors scripts/guest/build-guest.sh needs if kernel modules come
# compressed
TEST_PKGS="$TEST_PKGS qemu-system-x86 qemu-system-data busybox-static dpdk-dev libc6-dev"
TEST_PKGS="$TEST_PKGS xz-utils zstd"
# TCP through the switch (tests/guest/test_guests_iperf.py): iperf3 and ethtool,
# which build-guest.sh copies into the guest, and ip for the test's namespace
TEST_PKGS="$TEST_PKGS iperf3 ethtool iproute2"
# running it as a service (tests/tools/test_metrics.py, test_install.py, test_libvirt.py):
# promtool and a Prometheus to scrape the metrics endpoint, libsystemd for
# sd_notify, systemd-analyze for the unit, man for the pages, virt-xml-validate
TEST_PKGS="$TEST_PKGS prometheus libsystemd-dev systemd man-db libvirt-clients"
# VXLAN and AF_XDP uplinks against the kernel (tests/tools/test_vxlan*.py,
# test_afxdp.py): ping between namespaces
TEST_PKGS="$TEST_PKGS iputils-ping"
# `hlbench switch --vs-ovs`: Open vSwitch with DPDK (ovs-vswitchd-dpdk, ovsdb, ovs-vsctl)
BENCH_PKGS="openvswitch-switch-dpdk"
want_pages=${HL_HUGEPAGES:-1536}
mnt=${HL_HUGEPAGE_MOUNT:-/dev/hugepages}

pkgs="$BUILD_PKGS"
[ "${1:-}" = "--build" ] || pkgs="$pkgs $TEST_PKGS"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs $BENCH_PKGS"

say() { echo "setup-host: $*"; }
die() { echo "setup-host: ERROR: $*" >&2; exit 1; }

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "packages missing:$missing (run as root, or install them)"
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "${1:-}" = "--build" ] && exit 0

nr=/proc/sys/vm/nr_hugepages
have=$(cat "$nr")
if [ "$have" -lt "$want_pages" ]; then
	[ "$(id -u)" = 0 ] || die "only $have hugepages reserved, $want_pages wanted (run as root)"
	echo "$want_pages" > "$nr"
	have=$(cat "$nr")
	[ "$have" -ge "$want_pages" ] || say "WARNING: asked for $want_pages hugepages, the kernel gave $have"
	say "reserved $have 2 MiB hugepages"
fi
if ! grep -q " hugetlbfs " /proc/mounts; then
	[ "$(id -u)" = 0 ] || die "no hugetlbfs mounted (run as root)"
	mkdir -p "$mnt"
	mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
	say "mounted hugetlbfs at $mnt"
fi
say "ready: $(cat $nr) hugepages ($(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free), hugetlbfs at $(awk '$3=="hugetlbfs"{print $2; exit}' /proc/mounts)"
