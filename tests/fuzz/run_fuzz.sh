#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run one libFuzzer harness for a bounded time from its seed corpus and
# report the result as one TAP case. usage: run_fuzz.sh FUZZER SECONDS [SEEDS]
set -u
fz=$1 secs=$2 seeds=${3:-}
name=$(basename "$fz")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$seeds" ] && [ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
echo "1..1"
if "$fz" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
	# a harness runs with logging off: a line of ours means a millions-of-lines run in a real one
	logged=$(grep -c '^hugelink[ []' "$work/log")
	if [ "$logged" -gt 0 ]; then
		echo "not ok 1 - $name logged $logged lines (hl_log_set_level(HL_LOG_OFF) missing?)"
		grep -m3 '^hugelink[ []' "$work/log" | sed 's/^/# /'
	elif [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
		echo "not ok 1 - $name ran no input"
	else
		echo "ok 1 - $name ran $runs inputs in ${secs}s without a finding, logging nothing"
	fi
else
	echo "not ok 1 - $name found a crash, leak or hang"
	grep -E 'ERROR|SUMMARY|Assertion|==[0-9]+==' "$work/log" | head -20 | sed 's/^/# /'
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -f "$a" ] && echo "# reproducer: $(od -An -tx1 "$a" | head -4 | tr -s ' ')"
	done
fi
