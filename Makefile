# hugelink: the two commands a newcomer needs are `make demo` and `make test`.
# Both prepare the machine themselves (packages, hugepages; root needed the
# first time) and build what they run.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all demo test bench setup clean

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

demo: setup all
	./$(BUILD)/examples/pool-demo

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer, then
# each fuzz harness for a bounded time. The optimised build is compiled too,
# so every configuration stays warning-free.
test: setup $(BUILD)/build.ninja $(ASAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(BUILD)
	ninja -C $(ASAN_BUILD)
	ninja -C $(FUZZ_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		python3 tests/run_tests.py $(ASAN_BUILD) $(FUZZ_BUILD):fuzz

bench: setup all
	./$(BUILD)/tools/hlbench xlate

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
