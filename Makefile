# Two entry points do all set-up on a fresh machine:
#   make serve   start the gateway on its embedded defaults (the built-in simulator: no key, no network)
#   make test    lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Browser tests drive Debian's chromium (scripts/ensure-chromium); Playwright never fetches its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: serve test lint typecheck unit bench install clean services chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Node tools used by the conformance tests (Claude Code, the openai npm client).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

serve: $(STAMP)
	$(BIN)/claudegate serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy examples

# PostgreSQL and Redis on loopback, for the distributed-mode tests (started when not running).
services:
	@scripts/ensure-services

# Debian's chromium for the browser tests (installed with apt-get when /usr/bin/chromium is missing).
chromium:
	@scripts/ensure-chromium

unit: $(STAMP) $(NODE_STAMP) services chromium
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/client.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/websocket.py
	$(BIN)/python bench/tools.py
	$(BIN)/python bench/jwt_auth.py
	$(BIN)/python bench/socketio_streams.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/retrieval_route.py
	$(BIN)/python bench/jobs.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache
