# Two entry points do all set-up on a fresh machine:
#   make serve   start the gateway on its embedded defaults (the built-in simulator: no key, no network)
#   make test    lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The dashboard's htmx and uPlot, copied from node_modules into the package (gitignored, shipped in the wheel).
VENDOR := src/claudegate/gateway/surfaces/dashboard/static/vendor/VERSIONS
# Browser tests drive Debian's chromium (scripts/ensure-chromium); Playwright never fetches its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: serve test lint typecheck unit bench install clean services chromium vendor

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Node tools used by the conformance tests (Claude Code, the openai npm client), and the dashboard's
# front-end libraries.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(VENDOR): $(NODE_STAMP) scripts/vendor-dashboard
	scripts/vendor-dashboard node_modules $(dir $(VENDOR))

vendor: $(VENDOR)

install: $(STAMP) $(NODE_STAMP) $(VENDOR)

serve: $(STAMP) $(VENDOR)
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

unit: $(STAMP) $(NODE_STAMP) $(VENDOR) services chromium
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
	rm -rf $(VENV) node_modules $(dir $(VENDOR)) .mypy_cache .pytest_cache .ruff_cache
