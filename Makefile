# wshub: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need (npm packages, a Python venv, Debian's chromium).

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
NODE_DEPS := node_modules/.package-lock.json

.PHONY: demo test test-rust test-js test-python test-e2e test-c build examples deps chromium clean install lib

## demo: the chat room on http://127.0.0.1:3000 (PORT overrides)
demo: $(NODE_DEPS)
	$(CARGO) run --example chat

## test: every test of the project
test: deps examples test-rust test-c test-js test-python test-e2e test-node-binding test-python-binding

deps: $(NODE_DEPS) $(VENV)/.installed chromium

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund

$(VENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/python/requirements.txt
	touch $@

chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

## examples: the Rust examples, and the C and C++ ones (against the in-tree
## library, or an installed one with WSHUB_PREFIX=/usr/local)
examples: lib
	$(CARGO) build --examples
	mkdir -p target/examples
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(EX_CFLAGS) examples/c/echo.c $(EX_LIBS) -o target/examples/c-echo
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(EX_CFLAGS) examples/c/chat.c $(EX_LIBS) -o target/examples/c-chat
	$(CXX) -std=c++17 $(CWARN) $(EX_CFLAGS) examples/cpp/chat.cpp $(EX_LIBS) -o target/examples/cpp-chat

test-rust:
	$(CARGO) test

test-js: examples $(NODE_DEPS)
	node --test --test-concurrency=2 tests/js/

test-python: examples $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/python

test-e2e: examples $(NODE_DEPS) chromium
	node --test --test-concurrency=1 tests/e2e/

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

lib:
	$(CARGO) build --lib

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
## the whole Node suite against the C version of the test server.
test-c: lib $(CTEST) $(NODE_DEPS)
	$(CC) -std=c99 $(CWARN) -Iinclude -x c -fsyntax-only tests/c/header_check.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -x c++ -fsyntax-only tests/c/header_check.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -fsyntax-only tests/c/wrapper_check.cpp
	tests/c/readme_example.sh
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(SAN) -Iinclude tests/c/test_api.c target/debug/libwshub.a $(LIBS) -o $(CTEST)/test_api
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) $(SAN) -Iinclude tests/c/c_server.c target/debug/libwshub.a $(LIBS) -o $(CTEST)/c_server
	$(CTEST)/test_api
	WSHUB_TEST_SERVER=$(CTEST)/c_server node --test --test-concurrency=2 tests/js/
	rm -rf $(CTEST)/prefix
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(CTEST)/prefix PROFILE=debug
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(CWARN) examples/c/echo.c \
	  $$(PKG_CONFIG_PATH=$(CTEST)/prefix/lib/pkgconfig pkg-config --cflags --libs wshub) \
	  -Wl,-rpath,$(CURDIR)/$(CTEST)/prefix/lib -o $(CTEST)/echo-installed
	tests/c/run_installed_echo.sh $(CTEST)/echo-installed

clean:
	$(CARGO) clean
	rm -rf node_modules $(VENV)

.PHONY: bench
## bench: wshub against its peers (socket.io, socketioxide, raw tokio-tungstenite, ws), server pinned
## to CPU 0 and load generator to CPU 1, medians of 3 runs; writes bench/RESULTS.md and bench/ratios.svg
## (about 10 minutes; needs taskset, node and npm). BENCH_RUNS, BENCH_SERVERS, BENCH_SCENARIOS narrow it.
bench:
	$(PYTHON) bench/run.py

# ---- the Node binding (bindings/node) ----
## test-node-binding: `npm install` in bindings/node builds libwshub (cargo build --release --lib)
## and the N-API addon (node-gyp, local Node headers), then runs its node --test suite with socket.io-client.
.PHONY: test-node-binding
test-node-binding:
	cd bindings/node && npm install --no-audit --no-fund
	cd bindings/node && node --test --test-concurrency=2 test/*.test.js

# ---- the Python binding (bindings/python) ----
## test-python-binding: a venv (.venv-binding) with `pip install ./bindings/python` (which builds libwshub
## with cargo build --release --lib and puts it inside the package) and the test requirements, then its
## pytest suite against python-socketio's client and socket.io-client (node_modules).
PYBIND_VENV := .venv-binding
.PHONY: test-python-binding
test-python-binding: $(NODE_DEPS)
	test -x $(PYBIND_VENV)/bin/python || $(PYTHON) -m venv $(PYBIND_VENV)
	echo "*" > $(PYBIND_VENV)/.gitignore
	$(PYBIND_VENV)/bin/pip install --quiet -r bindings/python/requirements-test.txt
	$(PYBIND_VENV)/bin/pip install --quiet --force-reinstall --no-deps ./bindings/python
	cd bindings/python/tests && ../../../$(PYBIND_VENV)/bin/python -m pytest -q .
