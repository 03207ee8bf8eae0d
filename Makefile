# Set-up is part of every target: a local .venv with the pinned CPU torch, built once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := -q $(if $(WHEELS),--find-links $(WHEELS),)
DATA ?= $(abspath ../shared/data)

.PHONY: demo test test-all lint browser postgres clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) "torch==2.13.0"
	$(BIN)/pip install $(PIP_FLAGS) -e ".[dev]"
	touch $@

demo: $(VENV)/.installed  ## the main job: the default arena on embedded data (no download)
	$(BIN)/seqarena compare

browser:  ## Debian's chromium, for the test that renders the arena report in a real browser
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

postgres:  ## Debian's PostgreSQL server, for the tests that share a results store or an Optuna study
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

JOBS ?= 2
test: $(VENV)/.installed browser postgres  ## the fast tier (what CI runs), one test file per core
	SEQARENA_DATA_DIR=$(DATA) $(BIN)/python -m pytest -m "not slow" -q -n $(JOBS) --dist loadfile

test-all: $(VENV)/.installed browser postgres  ## everything, the slow training tests too
	SEQARENA_DATA_DIR=$(DATA) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs
