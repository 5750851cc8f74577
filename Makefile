# hugelink: the two commands a newcomer needs are `make demo` and `make test`.
# Both prepare the machine themselves (packages, hugepages; root needed the
# first time) and build what they run.

SHELL      := /bin/bash
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all demo test bench setup clean install

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	@command -v meson >/dev/null && command -v ninja >/dev/null || bash scripts/setup-host.sh --build
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN_BUILD)/build.ninja:
	@command -v meson >/dev/null && command -v ninja >/dev/null || bash scripts/setup-host.sh --build
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Ddefault_library=static --buildtype=debugoptimized

setup:
	bash scripts/setup-host.sh

# The switch with two vhost-user ports and traffic both ways for ~10 s;
# VM=1 boots two small Linux guests (QEMU, TCG) that ping through it instead.
demo: setup all
	python3 scripts/demo.py $(BUILD) $(if $(VM),--vm)

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer, then
# each fuzz harness for a bounded time. The optimised build is compiled too,
# so every configuration stays warning-free.
test: setup $(BUILD)/build.ninja $(ASAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(BUILD)
	ninja -C $(ASAN_BUILD)
	ninja -C $(FUZZ_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		python3 tests/run_tests.py $(ASAN_BUILD) $(FUZZ_BUILD):fuzz

# Also compares the switch with Open vSwitch (DPDK), which --bench installs;
# the last steps, TCP between two guests (iperf3) and a guest's live
# migration, are not drawn in the chart.
bench: all
	bash scripts/setup-host.sh --bench
	rm -f $(BUILD)/bench.jsonl
	./$(BUILD)/tools/hlbench xlate
	./$(BUILD)/tools/hlbench vhost --dir g2h --size 64,512,1518 --vs-dpdk --rounds 3
	for r in split packed best; do for d in g2h h2g; do ./$(BUILD)/tools/hlbench vhost --dir $$d --size 64,512,1518 \
		--vs-dpdk --rounds 3 --seconds 2 --ring $$r || exit 1; done; done
	./$(BUILD)/tools/hlbench vhost --dir g2h --size 1518 --mode copy,zcopy --vs-dpdk --rounds 3 --seconds 2 --ring packed
	set -o pipefail; ./$(BUILD)/tools/hlbench vhost --dir g2h --size 64,256,512,1024,1518,2048,4096,9000 \
		--mode copy,zcopy,auto --vs-dpdk --rounds 3 | tee -a $(BUILD)/bench.jsonl
	for s in 64 512 1518; do ./$(BUILD)/tools/hlbench vhost --dir h2g --size $$s --vs-dpdk || exit 1; done
	for s in 64 1518; do ./$(BUILD)/tools/hlbench dirtylog --size $$s --rounds 20 || exit 1; done
	./$(BUILD)/tools/hlbench vhost --dir h2g --size 64,1518 --seconds 3 --rounds 5 --dirty-log
	./$(BUILD)/tools/hlbench vhost --dir g2h --size 64,1518 --mode copy,zcopy --seconds 3 --rounds 5 --dirty-log
	set -o pipefail; ./$(BUILD)/tools/hlbench switch --size 64,512,1518 --seconds 10 --vs-ovs | tee -a $(BUILD)/bench.jsonl
	for z in off on; do set -o pipefail; ./$(BUILD)/tools/hlbench switch --tso --zcopy $$z --seconds 10 --vs-ovs \
		| tee -a $(BUILD)/bench.jsonl || exit 1; done
	set -o pipefail; ./$(BUILD)/tools/hlbench shm --size 64,256,512,1024,1518 --seconds 1 --rounds 10 --vs-ring | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; ./$(BUILD)/tools/hlbench shm --size 64,4096,9000 --room 9216 --seconds 1 --rounds 8 | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; ./$(BUILD)/tools/hlbench shm --size 1518,9000,65000 --seconds 2 --rounds 2 | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; ./$(BUILD)/tools/hlbench afxdp --size 64 --seconds 2 --rounds 6 | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; ./$(BUILD)/tools/hlbench vxlan --size 64 --seconds 2 --rounds 6 | tee -a $(BUILD)/bench.jsonl
	for z in "" --zero-copy; do set -o pipefail; ./$(BUILD)/tools/hlbench memif --size 64,1518 --seconds 3 --rounds 6 $$z \
		| tee -a $(BUILD)/bench.jsonl || exit 1; done
	./$(BUILD)/tools/hlbench plot --best --out $(BUILD)/throughput.svg $(BUILD)/bench.jsonl
	set -o pipefail; python3 scripts/bench/iperf_guests.py $(BUILD) --rounds 3 --seconds 10 | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; python3 scripts/bench/migrate_guests.py $(BUILD) --rounds 3 | tee -a $(BUILD)/bench.jsonl
	set -o pipefail; python3 scripts/metrics_plot.py $(BUILD) --out $(BUILD)/metrics.svg | tee -a $(BUILD)/bench.jsonl

# The library, headers, hugelink.pc, the tools, man pages and hugelinkd.service,
# under PREFIX (the build's, /usr/local unless set up otherwise), in DESTDIR if given.
install: all
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
