# wshub: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need (npm packages, a Python venv, Debian's chromium).

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
NODE_DEPS := node_modules/.package-lock.json

.PHONY: demo test test-layers test-rust test-js test-python test-e2e test-cluster test-c build examples deps chromium redis nginx clean install lib

## demo: the chat room on http://127.0.0.1:3000 (PORT overrides)
demo: $(NODE_DEPS)
	$(CARGO) run --example chat

## test: every test of the project, one target after the other, each timed: the seconds of each
## go to target/test-times.txt (and the output), so a slow CI run says where its time went.
## The first failing target stops it.
TEST_TARGETS := deps examples test-layers test-rust test-c test-c-tsan test-js test-python test-e2e test-cluster \
	test-node-binding test-python-binding fuzz-smoke test-autobahn
test:
	@mkdir -p target; : > target/test-times.txt; all=$$(date +%s); \
	for t in $(TEST_TARGETS); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$t || { echo "make test: $$t failed after $$(( $$(date +%s) - start )) s" >&2; exit 1; }; \
	  echo "$$t $$(( $$(date +%s) - start ))" >> target/test-times.txt; \
	done; \
	echo "total $$(( $$(date +%s) - all ))" >> target/test-times.txt; \
	echo "make test: every target passed; seconds per target (target/test-times.txt):"; \
	column -t target/test-times.txt 2>/dev/null || cat target/test-times.txt

## test-layers: the modules of src/ depend on each other one way only (no circle), and the check
## itself fails on a tree that has one
.PHONY: test-layers
test-layers:
	$(PYTHON) tests/layers/check.py
	$(PYTHON) -m unittest -q tests/layers/test_check.py

deps: $(NODE_DEPS) $(VENV)/.installed chromium redis nginx

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund

$(VENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/python/requirements.txt
	touch $@

# $(call apt-need,command,Debian package,who needs it): installs the package when the command is
# missing (as root with apt-get), else says how
apt-need = @command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
	  else echo "$(3) need Debian's $(2): sudo apt-get install $(2)" >&2; exit 1; fi; }

chromium:
	$(call apt-need,chromium,chromium,the browser tests)

redis:
	$(call apt-need,redis-server,redis-server,the cluster tests)

nginx:
	$(call apt-need,nginx,nginx,the cluster test behind nginx (examples/cluster/nginx.conf))

## examples: the Rust examples, and the C and C++ ones (against the in-tree
## library, or an installed one with WSHUB_PREFIX=/usr/local)
examples: lib
	mkdir -p target/examples
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(EX_CFLAGS) examples/c/echo.c $(EX_LIBS) -o target/examples/c-echo
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(EX_CFLAGS) examples/c/chat.c $(EX_LIBS) -o target/examples/c-chat
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(EX_CFLAGS) examples/c/hosted.c $(EX_LIBS) -o target/examples/c-hosted
	$(CXX) -std=c++17 $(CWARN) $(EX_CFLAGS) examples/cpp/chat.cpp $(EX_LIBS) -o target/examples/cpp-chat

test-rust:
	$(CARGO) test

test-js: examples $(NODE_DEPS)
	node --test --test-concurrency=2 tests/js/

test-python: examples $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/python

## test-e2e: the chat page in headless chromium, and the five chat servers (Rust, C, C++, and Python and
## Node on their bindings, hence those builds) through the same socket.io-client tests
test-e2e: examples $(NODE_DEPS) chromium node-binding python-binding
	node --test --test-concurrency=1 tests/e2e/

## test-autobahn: RFC 6455 conformance, the Autobahn|Testsuite fuzzing client (sections 1-10) against
## the raw /ws echo of examples/conformance.rs; the first run builds the suite (Python 2.7) in target/autobahn/
## conformance: the same with every case, permessage-deflate (12.*, 13.*) too: 15-30 minutes, mostly the suite's
## own CPU; an UNIMPLEMENTED case fails it like a FAILED one (subsets: tests/autobahn/run.py --cases 12.1.*,13.3.1)
.PHONY: test-autobahn conformance
test-autobahn:
	$(PYTHON) tests/autobahn/run.py

conformance:
	$(PYTHON) tests/autobahn/run.py --all

## fuzz-smoke: every libFuzzer target of fuzz/ for FUZZ_SECONDS (15) each, from its corpus if any.
## The targets are built by cargo itself with the flags cargo-fuzz would give them (coverage
## instrumentation, AddressSanitizer, --cfg fuzzing; RUSTC_BOOTSTRAP for -Z on stable), all in one
## cargo run: CI then needs no `cargo install cargo-fuzz`, which compiles for minutes. For long runs
## cargo-fuzz works on the same fuzz/ crate (see the README).
FUZZ_SECONDS ?= 15
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
FUZZ_HOST = $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
	-Cunsafe-allow-abi-mismatch=sanitizer -Cdebug-assertions -Coverflow-checks
.PHONY: fuzz-smoke
fuzz-smoke:
	cd fuzz && RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --quiet --release --bins --target $(FUZZ_HOST)
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p target corpus/$$t; \
	  target/$(FUZZ_HOST)/release/$$t corpus/$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    >target/smoke-$$t.log 2>&1; status=$$?; \
	  echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' target/smoke-$$t.log)"; \
	  [ $$status = 0 ] || { tail -40 target/smoke-$$t.log; exit $$status; }; \
	done

## test-cluster: wshub hubs, a Node Socket.IO server and the Redis emitter in
## one cluster over a real redis-server (each test file starts its own)
test-cluster: examples $(NODE_DEPS) redis nginx
	node --test --test-concurrency=1 tests/cluster/

# ---- the C ABI ----
CC ?= cc
CXX ?= c++
CWARN := -Wall -Wextra -Wpedantic -Werror
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -g
CTEST := target/c-tests
LIBS := -lpthread -ldl -lm

ifdef WSHUB_PREFIX
EX_CFLAGS := -I$(WSHUB_PREFIX)/include
EX_LIBS := $(WSHUB_PREFIX)/lib/libwshub.a $(LIBS)
else
EX_CFLAGS := -Iinclude
EX_LIBS := target/debug/libwshub.a $(LIBS)
endif

# The library (target/debug/libwshub.a) and the Rust examples, in one cargo run: built apart, the
# library's dependencies get other features (the dev-dependencies' join in only with the examples)
# and every switch between the two builds compiles wshub again.
lib:
	$(CARGO) build --lib --examples

## install: the static and shared library, the headers and wshub.pc under PREFIX
PREFIX ?= /usr/local
PROFILE ?= release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
install:
	$(CARGO) build --lib $(if $(filter release,$(PROFILE)),--release,)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 target/$(PROFILE)/libwshub.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 target/$(PROFILE)/libwshub.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/wshub.h include/wshub.hpp $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' wshub.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wshub.pc

$(CTEST):
	mkdir -p $@

## test-c: the header compiles as C99 and C++17; C tests under ASan/LSan/UBSan;
## the whole Node suite against the C version of the test server; the C host example
## (wshub inside a C HTTP server) to socket.io-client.
test-c: lib $(CTEST) $(NODE_DEPS)
	$(CC) -std=c99 $(CWARN) -Iinclude -x c -fsyntax-only tests/c/header_check.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -x c++ -fsyntax-only tests/c/header_check.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -fsyntax-only tests/c/wrapper_check.cpp
	tests/c/readme_example.sh
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(SAN) -Iinclude tests/c/test_api.c target/debug/libwshub.a $(LIBS) -o $(CTEST)/test_api
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(SAN) -Iinclude tests/c/c_server.c target/debug/libwshub.a $(LIBS) -o $(CTEST)/c_server
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(SAN) -Iinclude examples/c/hosted.c target/debug/libwshub.a $(LIBS) -o $(CTEST)/c_hosted
	$(CTEST)/test_api
	WSHUB_TEST_SERVER=$(CTEST)/c_server node --test --test-concurrency=2 tests/js/
	WSHUB_HOSTED_SERVER=$(CTEST)/c_hosted node --test tests/c/hosted.test.mjs
	rm -rf $(CTEST)/prefix
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(CTEST)/prefix PROFILE=debug
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) examples/c/echo.c \
	  $$(PKG_CONFIG_PATH=$(CTEST)/prefix/lib/pkgconfig pkg-config --cflags --libs wshub) \
	  -Wl,-rpath,$(CURDIR)/$(CTEST)/prefix/lib -o $(CTEST)/echo-installed
	tests/c/run_installed_echo.sh $(CTEST)/echo-installed

## test-c-tsan: tests/c/test_api.c, then the whole Node suite against tests/c/c_server.c, under
## ThreadSanitizer; any report fails, but for the known false ones tests/c/tsan.supp lists (and says why).
## libwshub and its dependencies are built with -Zsanitizer=thread (a debug build in target/tsan;
## RUSTC_BOOTSTRAP for the -Z flag on stable). The std stays the prebuilt, uninstrumented one (no
## -Zbuild-std without rust-src), hence -Cunsafe-allow-abi-mismatch; the explicit --target keeps build
## scripts and proc-macros uninstrumented. The C files are compiled with $(CC) -fsanitize=thread but
## linked with the TSan runtime that ships with rustc (LLVM's, which has the __tsan_* entry points
## rustc's code calls and gcc's libtsan may lack), not the C compiler's. The suppressions name functions,
## so reports must be symbolized (llvm-symbolizer, else binutils' addr2line). A report stops the program
## (exit 66); a server stopped so fails its test file with the report in the failure's log. The Node
## suite runs one file at a time: slowed down by TSan, two at once on two cores trip c_server's 300 ms pings.
TSAN_DIR := target/tsan
TSAN_HOST = $(shell rustc -vV | sed -n 's/^host: //p')
TSAN_RT = $(wildcard $(shell rustc --print sysroot)/lib/rustlib/$(TSAN_HOST)/lib/librustc-*_rt.tsan.a)
TSAN_SYMBOLIZER = $(firstword $(shell command -v llvm-symbolizer addr2line))
TSAN_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) -fsanitize=thread -g -O1 -Iinclude
TSAN_LINK = $(TSAN_DIR)/$(TSAN_HOST)/debug/libwshub.a -Wl,--whole-archive $(TSAN_RT) -Wl,--no-whole-archive $(LIBS) -lrt
TSAN_ENV = TSAN_OPTIONS="suppressions=$(CURDIR)/tests/c/tsan.supp halt_on_error=1 exitcode=66 external_symbolizer_path=$(TSAN_SYMBOLIZER)"
.PHONY: test-c-tsan
test-c-tsan: $(NODE_DEPS)
	@test -n "$(TSAN_RT)" || { echo "no ThreadSanitizer runtime (librustc-*_rt.tsan.a) in rustc's sysroot for $(TSAN_HOST)" >&2; exit 1; }
	@test -n "$(TSAN_SYMBOLIZER)" || { echo "ThreadSanitizer needs llvm-symbolizer or addr2line (binutils) to name functions" >&2; exit 1; }
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
	  CARGO_TARGET_DIR=$(TSAN_DIR) $(CARGO) build --lib --target $(TSAN_HOST)
	mkdir -p $(TSAN_DIR)/c
	$(CC) $(TSAN_CFLAGS) -c tests/c/test_api.c -o $(TSAN_DIR)/c/test_api.o
	$(CC) $(TSAN_DIR)/c/test_api.o $(TSAN_LINK) -o $(TSAN_DIR)/c/test_api
	$(CC) $(TSAN_CFLAGS) -c tests/c/c_server.c -o $(TSAN_DIR)/c/c_server.o
	$(CC) $(TSAN_DIR)/c/c_server.o $(TSAN_LINK) -o $(TSAN_DIR)/c/c_server
	$(TSAN_ENV) $(TSAN_DIR)/c/test_api
	WSHUB_TEST_SERVER=$(TSAN_DIR)/c/c_server WSHUB_TEST_HEARTBEAT_SCALE=2 $(TSAN_ENV) node --test --test-concurrency=1 tests/js/

clean:
	$(CARGO) clean
	rm -rf node_modules $(VENV)

.PHONY: bench
## bench: wshub against its peers (socket.io, socketioxide, raw tokio-tungstenite, ws), server pinned
## to CPU 0 and load generator to CPU 1, medians of 3 runs; writes bench/RESULTS.md and bench/ratios.svg
## (about 10 minutes; needs taskset, node and npm). BENCH_RUNS, BENCH_SERVERS, BENCH_SCENARIOS narrow it.
bench: redis
	$(PYTHON) bench/run.py

# ---- the Node binding (bindings/node) ----
## node-binding: `npm install` in bindings/node builds libwshub (cargo build --release --lib)
## and the N-API addon (node-gyp, local Node headers).
## test-node-binding: that, then its node --test suite with socket.io-client.
.PHONY: node-binding test-node-binding
node-binding:
	cd bindings/node && npm install --no-audit --no-fund

test-node-binding: node-binding
	cd bindings/node && node --test --test-concurrency=2 test/*.test.js

# ---- the Python binding (bindings/python) ----
## python-binding: a venv (.venv-binding) with `pip install ./bindings/python` (which builds libwshub
## with cargo build --release --lib and puts it inside the package).
## test-python-binding: that and the test requirements, then its pytest suite against python-socketio's
## client and socket.io-client (node_modules).
PYBIND_VENV := .venv-binding
.PHONY: python-binding test-python-binding
python-binding:
	test -x $(PYBIND_VENV)/bin/python || $(PYTHON) -m venv $(PYBIND_VENV)
	echo "*" > $(PYBIND_VENV)/.gitignore
	$(PYBIND_VENV)/bin/pip install --quiet --force-reinstall --no-deps ./bindings/python

test-python-binding: python-binding $(NODE_DEPS)
	$(PYBIND_VENV)/bin/pip install --quiet -r bindings/python/requirements-test.txt
	cd bindings/python/tests && ../../../$(PYBIND_VENV)/bin/python -m pytest -q .
