# One-command install, run and test. Everything a fresh machine needs is installed from here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/data/dagster_home
export MONITORING_CONFIG ?= $(CURDIR)/monitors.yaml
PORT ?= 3000
## How seed-demo writes the demo logs: hive, or firehose as Kinesis Data Firehose delivers them.
DEMO_LAYOUT ?= hive

.PHONY: run test lint format install seed-demo clean-data backfill system-packages

## Bootstrap .venv from the lock file (uv when it can be had, plain pip otherwise). Bytecode is compiled
## at install (pip does, uv only when asked): where PYTHONDONTWRITEBYTECODE is set, as on this machine,
## every process would otherwise compile what it imports from source, each time (Great Expectations:
## 12 s instead of 6; each run, code server and daemon pays for Dagster and pandas).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9 \
	  && $(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r requirements.lock \
	  && $(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e . \
	  || { $(BIN)/python -m pip install -q -r requirements.lock && $(BIN)/python -m pip install -q --no-deps -e .; }
	touch $@

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## First start: seed the demo logs and backfill the demo window (runs of 24 hours on the instance,
## so the UI shows them and the alert sensor turns their failed checks into alerts). Then start the
## Dagster UI + daemon on 127.0.0.1:3000.
run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/monitoring-pipeline seed-demo --if-empty --layout $(DEMO_LAYOUT)
	$(BIN)/monitoring-pipeline backfill --demo
	$(BIN)/monitoring-pipeline serve --port $(PORT)

## Backfill a window: make backfill MODEL=fraud_classifier FROM=2026-11-20-00:00 TO=2026-11-20-23:00
backfill: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/monitoring-pipeline backfill $(if $(MODEL),--model $(MODEL)) --from $(FROM) --to $(TO)

seed-demo: $(STAMP)
	$(BIN)/monitoring-pipeline seed-demo --layout $(DEMO_LAYOUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## What the tests start for real, from Debian packages, installed only where missing: PostgreSQL (the
## Dagster instance on PostgreSQL) and Chromium (the browser test). apt-get needs root (or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing (apt-get)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

## The whole suite: lint, format check, then every test layer, on three workers (a module's tests stay on
## one worker, so a module-scoped fixture such as the demo's whole pipeline run is built once). Three on
## two cores: many tests wait on subprocesses (dagster dev, the daemon, servers), and the third fills in.
## Modules are handed out in collection order, where the heavy ones come first (conftest.py), not by
## their number of tests (xdist's default).
test: lint system-packages
	$(BIN)/python -m pytest -n 3 --dist loadscope --no-loadscope-reorder

clean-data:
	find data -mindepth 1 -not -name README.md -delete
