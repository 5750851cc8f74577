#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# hugelinkd's ExecStartPre: have at least N 2 MiB hugepages reserved and a
# hugetlbfs mounted. Never lowers a reservation others may rely on.
#   hugelink-hugepages N [MOUNT]      (MOUNT default /dev/hugepages)
set -eu
want=${1:-512}
mnt=${2:-/dev/hugepages}
case $want in ''|*[!0-9]*) echo "hugelink-hugepages: N must be a number, not '$want'" >&2; exit 2;; esac
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
have=$(cat "$nr")
if [ "$have" -lt "$want" ]; then
	echo "$want" > "$nr"
	have=$(cat "$nr")
	[ "$have" -ge "$want" ] || echo "hugelink-hugepages: asked for $want hugepages, the kernel gave $have" >&2
fi
if ! grep -q " hugetlbfs " /proc/mounts; then
	mkdir -p "$mnt"
	mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi
echo "hugelink-hugepages: $have hugepages of 2 MiB reserved, hugetlbfs at $(awk '$3=="hugetlbfs"{print $2; exit}' /proc/mounts)"
