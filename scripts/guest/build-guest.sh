#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build a minimal Linux guest for QEMU: a kernel and a base initramfs.
#
#   scripts/guest/build-guest.sh OUTDIR
#
# Results in OUTDIR:
#   vmlinuz               the Debian cloud kernel
#   initramfs.cpio.gz     busybox-static, the virtio-net / virtio-pci modules,
#                         /dev/console, an /init (see below), and the host's
#                         iperf3 and ethtool with the libraries they load
#   kernel-version        the kernel release (uname -r inside the guest)
#   modules.order         the modules /init loads, in load order
#   programs              the host programs copied in, one "path package version"
#                         a line (tests that need one look it up here)
#   cache/                the downloaded .deb files
#
# /init mounts proc, sys and dev, loads the modules, brings up lo, runs
# /guest.sh if the initramfs has one, prints
#   HUGELINK-GUEST-DONE status=<exit status of /guest.sh>
# and powers the machine off. /guest.sh (and any helper binaries) come from a
# second cpio archive appended to this one at boot time
# (tests/guest/qemu_guest.py does that), so the base is built only once.
#
# Idempotent: when OUTDIR already holds a build for the same kernel package
# version, the same versions of the copied programs and the same version of
# this script, nothing is done.
#
# Environment:
#   HL_GUEST_KERNEL_PKG   kernel metapackage (default linux-image-cloud-amd64)
#   HL_BUSYBOX            static busybox binary (default /bin/busybox)
#
# Needs: apt-get/apt-cache with Debian package lists (apt-get update),
# dpkg-deb, busybox-static, gzip; xz-utils or zstd only if the kernel
# package ships compressed modules. iperf3 and ethtool are copied when the
# host has them (scripts/setup-host.sh installs both); a guest built without
# them still boots, and the tests that run them say what is missing.
set -euo pipefail

say() { echo "build-guest: $*"; }
die() { echo "build-guest: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
meta=${HL_GUEST_KERNEL_PKG:-linux-image-cloud-amd64}
busybox=${HL_BUSYBOX:-/bin/busybox}
# The modules for virtio-pci and virtio-net, in the order they load; any
# further dependency a kernel adds is loaded before the module needing it.
# ivshmem-plain is a plain PCI device and needs no driver.
want_modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
# Dynamically linked host programs the guest gets at the same paths, each with
# the libraries ldd names: TCP throughput (iperf3) and the offloads the guest
# negotiated (ethtool -k). Debian's are used as they are, not rebuilt static.
want_programs="/usr/bin/iperf3 /usr/sbin/ethtool"

mkdir -p "$out"
out=$(cd "$out" && pwd)
self_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

have_build() {
	[ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ] && [ -s "$out/kernel-version" ] &&
		[ -s "$out/stamp" ]
}

# --- which kernel package: resolve the metapackage to its versioned image
command -v apt-cache >/dev/null || die "apt-cache not found (a Debian host is needed)"
# no package lists yet (a fresh machine or container): fetch them if we may
if ! apt-cache show --no-all-versions "$meta" >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! have_build; then
	say "apt-cache does not know $meta: running apt-get update"
	apt-get update -qq >/dev/null || say "WARNING: apt-get update failed"
fi
meta_ver=$(apt-cache show --no-all-versions "$meta" 2>/dev/null | sed -n 's/^Version: //p' | head -n1 || true)
image_pkg=$(apt-cache show --no-all-versions "$meta" 2>/dev/null |
	sed -n 's/^Depends: //p' | head -n1 | tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n1 || true)
if [ -z "$meta_ver" ] || [ -z "$image_pkg" ]; then
	if have_build; then
		say "WARNING: cannot resolve $meta with apt-cache; reusing the build in $out ($(cat "$out/kernel-version"))"
		exit 0
	fi
	die "cannot resolve package $meta with apt-cache (run 'apt-get update' as root, and check that Debian's main archive is in the apt sources)"
fi
image_ver=$(apt-cache show --no-all-versions "$image_pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1 || true)
[ -n "$image_ver" ] || die "$meta depends on $image_pkg, which apt-cache does not know (run 'apt-get update' as root)"
# each program's package version is part of the stamp, so installing or
# upgrading one rebuilds the guest instead of leaving it without
pkg_of() { # PATH -> "package version", or "- -"; dpkg may know the file by its pre-/usr-merge path
	local q pkg
	for q in "$1" "${1#/usr}"; do
		pkg=$(dpkg-query -S "$q" 2>/dev/null | head -n1 | cut -d: -f1 || true)
		if [ -n "$pkg" ]; then
			echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo -)"
			return 0
		fi
	done
	echo "- -"
}
programs_key=""
for p in $want_programs; do
	v=absent
	[ -x "$p" ] && v=$(pkg_of "$p" | tr ' ' :)
	programs_key="$programs_key $p=$v"
done
stamp="$meta $meta_ver $image_pkg $image_ver $self_sum$programs_key"

if have_build && [ "$(cat "$out/stamp")" = "$stamp" ]; then
	say "up to date: kernel $(cat "$out/kernel-version") ($image_pkg $image_ver) in $out"
	exit 0
fi

for tool in apt-get dpkg-deb gzip sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x "$busybox" ] || die "$busybox not found (install busybox-static)"
if LC_ALL=C ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; the guest needs a static busybox (install busybox-static)"
fi

# --- download (cached by exact version)
cache=$out/cache
mkdir -p "$cache"
deb_glob="${image_pkg}_${image_ver//:/%3a}_*.deb"
deb=$(find "$cache" -maxdepth 1 -name "$deb_glob" -print -quit)
if [ -z "$deb" ]; then
	say "downloading $image_pkg=$image_ver"
	apt_opts=()
	# apt drops to user _apt for downloads, which cannot write a root-owned cache
	[ "$(id -u)" = 0 ] && apt_opts=(-o APT::Sandbox::User=root)
	if ! (cd "$cache" && apt-get download -q "${apt_opts[@]}" "$image_pkg=$image_ver"); then
		if have_build; then
			say "WARNING: apt-get download $image_pkg=$image_ver failed; reusing the build in $out ($(cat "$out/kernel-version"))"
			exit 0
		fi
		die "apt-get download $image_pkg=$image_ver failed (is a Debian mirror reachable?)"
	fi
	deb=$(find "$cache" -maxdepth 1 -name "$deb_glob" -print -quit)
	[ -n "$deb" ] || die "apt-get download did not leave $deb_glob in $cache"
	# older kernels are not needed any more
	find "$cache" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$deb")" -delete
fi

# --- unpack
work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg" || die "dpkg-deb -x $deb failed"
moddir=$(find "$work/pkg/lib/modules" "$work/pkg/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d \
	-print -quit 2>/dev/null || true)
[ -n "$moddir" ] || die "no lib/modules/<version> in $deb"
kver=$(basename "$moddir")
vmlinuz=$work/pkg/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$kver in $deb"

# --- modules: find, uncompress, order by their dependencies
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules}

find_ko() { # NAME -> path of NAME.ko[.xz|.zst|.gz] (also with - for _)
	local alt=${1//_/-}
	find "$moddir" \( -name "$1.ko" -o -name "$1.ko.*" -o -name "$alt.ko" -o -name "$alt.ko.*" \) -print -quit
}

builtin() { # NAME -> true if built into the kernel
	[ -f "$moddir/modules.builtin" ] && grep -Eq "/($1|${1//_/-})\.ko\$" "$moddir/modules.builtin"
}

get_ko() { # NAME -> uncompressed copy in the initramfs (prints its path)
	local src dst=$root/lib/modules/$1.ko
	if [ ! -f "$dst" ]; then
		src=$(find_ko "$1")
		[ -n "$src" ] || die "module $1 is neither in $deb nor built in"
		case "$src" in
		*.ko) cp "$src" "$dst" ;;
		*.ko.xz) command -v xz >/dev/null || die "$src is xz-compressed: install xz-utils"
			xz -dc "$src" >"$dst" ;;
		*.ko.zst) command -v zstd >/dev/null || die "$src is zstd-compressed: install zstd"
			zstd -q -dc "$src" >"$dst" ;;
		*.ko.gz) gzip -dc "$src" >"$dst" ;;
		*) die "unknown module compression: $src" ;;
		esac
	fi
	echo "$dst"
}

order=()
declare -A seen=()
add_module() { # depth-first: dependencies before the module itself
	local m=${1//-/_} ko deps d
	[ -n "${seen[$m]:-}" ] && return 0
	seen[$m]=1
	if [ -z "$(find_ko "$m")" ] && builtin "$m"; then
		return 0
	fi
	ko=$(get_ko "$m")
	deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -n1)
	for d in ${deps//,/ }; do
		add_module "$d"
	done
	order+=("$m")
}
for m in $want_modules; do
	add_module "$m"
done
printf '%s\n' "${order[@]}" >"$root/etc/modules.order"
say "kernel $kver, modules: ${order[*]}"

# --- host programs and every library they load, at the paths ldd gives
# (the interpreter too: it is what the program's ELF header names)
: >"$work/programs"
for p in $want_programs; do
	if [ ! -x "$p" ]; then
		say "WARNING: $p not on this host: the guest will not have it (run scripts/setup-host.sh)"
		continue
	fi
	libs=$(LC_ALL=C ldd "$p" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p') ||
		die "ldd $p failed"
	for f in "$p" $libs; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	echo "$p $(pkg_of "$p")" >>"$work/programs"
	say "added $p with $(echo $libs | wc -w) libraries"
done

# --- busybox, /init
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# hugelink test guest: set up, run /guest.sh, power off.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
echo "hugelink-guest: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s)"
for m in $(cat /etc/modules.order); do
	insmod "/lib/modules/$m.ko" || echo "hugelink-guest: insmod $m failed"
done
ip link set lo up
status=0
if [ -f /guest.sh ]; then
	echo "hugelink-guest: running /guest.sh"
	sh /guest.sh
	status=$?
else
	echo "hugelink-guest: no /guest.sh"
fi
sync
echo "HUGELINK-GUEST-DONE status=$status"
poweroff -f
EOF
chmod 0755 "$root/init"

# --- the archive: busybox cpio, plus a hand-made entry for /dev/console
# (the kernel opens it for /init's output; mknod would need root)
newc_entry() { # NAME MODE(octal) RDEVMAJOR RDEVMINOR -> one newc header with no data
	local name=$1 mode=$2 namesize=$((${#1} + 1)) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		0 $((8#$mode)) 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0 "$name"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}
(
	cd "$root"
	find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null
	newc_entry dev/console 020600 5 1
	newc_entry TRAILER!!! 0 0 0
) | gzip -9n >"$work/initramfs.cpio.gz"
cp "$vmlinuz" "$work/vmlinuz"

mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
printf '%s\n' "${order[@]}" >"$out/modules.order"
mv -f "$work/programs" "$out/programs"
echo "$kver" >"$out/kernel-version"
echo "$stamp" >"$out/stamp"
say "built $out/vmlinuz and $out/initramfs.cpio.gz ($(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB) for kernel $kver"
