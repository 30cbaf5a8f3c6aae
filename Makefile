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

PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
UV_BOOT := $(VENV)/.uv
# Installs into the venv with uv when it can be had (it resolves and installs several times
# faster than pip): a `uv` on PATH, else uv pip-installed once into $(UV_BOOT); pip (put into
# the venv by ensurepip) when neither works: no uv wheel for the platform, an index only pip is
# configured for. ZEROAUTH_NO_UV=1 uses pip only. uv also installs pip, so the venv has one.
define install
	uv=$$( [ -n "$$ZEROAUTH_NO_UV" ] && exit; [ -x $(UV_BOOT)/bin/uv ] && echo $(UV_BOOT)/bin/uv && exit; \
	  command -v uv && exit; $(PY) -m pip install -q --disable-pip-version-check --target \
	  $(UV_BOOT) uv >/dev/null 2>&1 && echo $(UV_BOOT)/bin/uv ); \
	if [ -n "$$uv" ] && $$uv pip install -q --python $(BIN)/python pip $(1); then :; \
	else $(BIN)/python -m ensurepip >/dev/null && $(PIP) $(1); fi
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv --without-pip $(VENV)
	$(call install,-e '.[dev]')
	rm -f $(VENV)/.installed-*
	touch $@ $(DEMO_STAMP)

# The demo needs only zeroauth and the official MCP SDK (a dev venv already has both).
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv --without-pip $(VENV)
	$(call install,-e '.[mcp]')
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
	$(BIN)/python bench/bridge.py --quick

clean:
	rm -rf $(VENV) tests/realas/node_modules tests/conformance/node_modules tests/conformance/.node
