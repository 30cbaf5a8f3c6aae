# zeroauth: two commands on a fresh machine.
#   make demo   creates .venv, installs zeroauth, runs `zeroauth demo`
#   make test   creates .venv, installs dev deps + the Node test bed, runs ruff, mypy, pytest
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP := $(VENV)/.installed-dev-$(SUM)
DEMO_STAMP := $(VENV)/.installed-demo-$(SUM)
NPM_FLAGS := --no-audit --no-fund --loglevel=error
# Node projects of the test bed (each with package.json + package-lock.json).
NODE_PROJECTS := $(patsubst %/package.json,%,$(wildcard tests/realas/package.json tests/conformance/package.json))
NODE_STAMPS := $(addsuffix /node_modules/.installed,$(NODE_PROJECTS))

.PHONY: all venv node demo test lint typecheck pytest conformance bench clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@ $(DEMO_STAMP)

# The demo needs only zeroauth and the official MCP SDK (a dev venv already has both).
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[mcp]'
	rm -f $(VENV)/.installed-demo-*
	touch $@

venv: $(STAMP)

%/node_modules/.installed: %/package.json %/package-lock.json
	cd $* && npm ci $(NPM_FLAGS)
	touch $@

node: $(NODE_STAMPS)

demo: $(DEMO_STAMP)
	$(BIN)/zeroauth demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy --strict src

pytest: venv node
	$(BIN)/python -m pytest

test: lint typecheck pytest

conformance: venv node
	$(BIN)/python tests/conformance/run.py

bench: venv node
	$(BIN)/python bench/client.py --quick
	$(BIN)/python bench/server_auth.py --quick
	$(BIN)/python bench/gateway.py --quick
	$(BIN)/python bench/fleet.py --quick

clean:
	rm -rf $(VENV) tests/realas/node_modules tests/conformance/node_modules tests/conformance/.node
