# Two entry points: `make demo` (the main job) and `make test` (what CI runs).
PYTHON ?= python3
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# This machine's pip configuration names local mirrors that may be absent; pip says so
# once per package. Those lines are noise, every other line is kept.
QUIET_PIP := { grep -v "^WARNING: Location 'file:" || true; }
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-lock
DEMO   := seid-demo

.PHONY: install test test-quick lint typecheck demo lock clean

install: $(STAMP)

# Everything comes from the hashed lock; the project itself is installed without deps.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements.lock 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check seid tests tools
	$(BIN)/ruff format --check seid tests tools
	$(BIN)/lint-imports --no-logo --no-cache  # .importlinter: cli/daemon on top, formats at the bottom

typecheck: $(STAMP)
	$(BIN)/mypy seid

test: lint typecheck
	$(BIN)/pytest -q

test-quick: $(STAMP)
	$(BIN)/pytest -q -m "not slow" -x

# `seid demo` refuses a non-empty directory: each `make demo` starts from a fresh one.
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/seid demo $(DEMO)

# Developer-only: re-resolve the lock (needs network and uv).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra all --extra dev --python-version 3.11 \
		--generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
