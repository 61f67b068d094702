# wshub: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need (npm packages, a Python venv, Debian's chromium).

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
NODE_DEPS := node_modules/.package-lock.json

.PHONY: demo test test-rust test-js test-python test-e2e build examples deps chromium conformance clean

## demo: the chat room on http://127.0.0.1:3000 (PORT overrides)
demo: $(NODE_DEPS)
	$(CARGO) run --example chat

## test: every test of the project
test: deps examples test-rust test-js test-python test-e2e

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

examples:
	$(CARGO) build --examples

test-rust:
	$(CARGO) test

test-js: examples $(NODE_DEPS)
	node --test --test-concurrency=2 tests/js/

test-python: examples $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/python

test-e2e: examples $(NODE_DEPS) chromium
	node --test --test-concurrency=1 tests/e2e/

clean:
	$(CARGO) clean
	rm -rf node_modules $(VENV)
