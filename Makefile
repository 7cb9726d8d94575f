# Two commands for a new user: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= data/cdp.duckdb
DEMO_PROFILES ?= 100000
DEMO_SEED ?= 42
DEMO_DIR := data/demo

.PHONY: install demo test test-fast browser postgres lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-installs whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cdp workbench)" >/dev/null
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/cdp --db $(DB) init
	$(BIN)/cdp demo-data --profiles $(DEMO_PROFILES) --seed $(DEMO_SEED) --out $(DEMO_DIR)
	$(BIN)/cdp --db $(DB) ingest catalog $(DEMO_DIR)/catalog.parquet
	$(BIN)/cdp --db $(DB) ingest profiles $(DEMO_DIR)/profiles.parquet
	$(BIN)/cdp --db $(DB) ingest events $(DEMO_DIR)/events.parquet
	$(BIN)/cdp --db $(DB) info
	@echo
	@echo "Next: '$(BIN)/jupyter lab notebooks/' to explore, or '$(BIN)/cdp --help' for every command."

# Browser tests drive Debian's Chromium; install it when missing (root on CI and here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not root: browser tests will report why they cannot run"; fi; }

# Sync and import tests start a real PostgreSQL server from Debian's postgresql package.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql missing and not root: the postgres tests will report why they cannot run"; fi; }

test: install browser postgres
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not spark and not notebook and not postgres"

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DB) $(DB).wal
