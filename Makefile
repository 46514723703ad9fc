# pmb-console: `make run` opens the console (the demo stack when no config is found);
# `make test` installs what the tests need (HAProxy, a running PostgreSQL) and runs them.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run demo test test-fast check lint bench services clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test,serve,dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pmb-console $(ARGS)

demo: $(STAMP)
	$(VENV)/bin/pmb-console demo $(ARGS)

services:
	@bash scripts/ensure-services.sh

test: $(STAMP) services
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check pmb_console tests bench
	$(VENV)/bin/ruff format --check pmb_console tests bench

check: lint test

bench: $(STAMP) services
	@for b in switch_haproxy first_frame idle_bytes metrics_poll log_tail drill jira_migrate runbook_journal; do \
		echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
