# Quarry's entry points. `make run` and `make test` install what is missing, build, and go.
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
JOBS       ?= 2
DATA_DIR   ?= ./data
LISTEN     ?= 127.0.0.1:8080
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps build run test test-asan fuzz bench bench-http bench-jobs bench-ingest bench-query fmt lint clean

all: build

deps:
	@bash scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./$(BUILD_DIR)/quarry serve --data-dir $(DATA_DIR) --listen $(LISTEN) --demo

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer, in their own build dir.
test-asan: deps
	cmake -S . -B $(ASAN_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DQUARRY_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 600

# The statement guard under libFuzzer for FUZZ_SECONDS (default 60), from the seed corpus in
# fuzz/corpus/guard; new inputs go to build-fuzz/corpus (kept between runs).
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUARRY_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target quarry_guard_fuzzer
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=0 ./$(FUZZ_DIR)/quarry_guard_fuzzer -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	  -rss_limit_mb=4096 -dict=fuzz/guard.dict -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus fuzz/corpus/guard

bench: bench-http bench-jobs bench-ingest bench-query

bench-http: build
	bash bench/http/run.sh $(BUILD_DIR)

bench-jobs: build
	bash bench/jobs/run.sh $(BUILD_DIR)

bench-ingest: build
	bash bench/ingest/run.sh $(BUILD_DIR)

bench-query: build
	bash bench/query/run.sh $(BUILD_DIR)

fmt:
	find src tests bench -name '*.cpp' -o -name '*.h' | xargs clang-format -i

lint: $(BUILD_DIR)/CMakeCache.txt
	find src -name '*.cpp' ! -name '*_test.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
