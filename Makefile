# Customer Radar: two commands for a new machine.
#   make run   - virtualenv, pinned requirements, demo data + model if missing, app on :8501
#   make test  - the same set-up, then the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
API_PORT ?= 8000
export RADAR_DATA_DIR ?= $(CURDIR)/data
export PYTHONPATH := $(CURDIR)

.PHONY: run api test lint format bench demo install install-dev browser clean-data

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps fightchurn==1.2.0  # stale pins (pandas 2); see requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps sktime==1.2.0  # its data files only; pins pandas<3.1
	@touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## Demo warehouse, model and users, built only when missing.
demo: install
	$(PY) -m engine demo

run: demo
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

## The HTTP API on http://localhost:$(API_PORT)/v1 (docs at /docs); keys: `engine keys create`.
api: demo
	$(PY) -m engine api --port $(API_PORT)

## Debian's chromium for the end-to-end test (no browser downloads).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## Two workers on two cores, each computing on one thread: more threads than cores spin
## against each other (LightGBM's OpenMP, OpenBLAS) and a seconds-long fit takes minutes.
TEST_WORKERS ?= 2
test: install-dev browser
	RADAR_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	  $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

## Style, import layers (.importlinter) and types (mypy, configured in pyproject.toml).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean-data:
	rm -rf data/*.duckdb data/*.duckdb.wal data/models data/state.db
