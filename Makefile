# pmb-console: `make run` opens the console (the demo stack when no config is found);
# `make test` installs what the tests need (HAProxy, a running PostgreSQL) and runs them.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HASH   := $(shell sha1sum pyproject.toml | cut -c1-12)
# `make run` installs what the console needs; `make test` adds the test tools.
RUN_STAMP := $(VENV)/.run-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)

.PHONY: run demo test test-fast check lint bench services bytecode clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[serve]'
	@rm -f $(VENV)/.run-*
	@touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test,serve,dev]'
	@rm -f $(VENV)/.run-* $(VENV)/.dev-*
	@touch $(RUN_STAMP) $(DEV_STAMP)

# An editable install leaves the package's own modules uncompiled, and where
# PYTHONDONTWRITEBYTECODE is set Python never caches them: every start would compile
# them again (~30 ms of each CLI run and of the console's first frame). This writes the
# .pyc files a regular install would have; it only recompiles what changed.
bytecode:
	@$(PY) -m compileall -q pmb_console

run: $(RUN_STAMP) bytecode
	$(VENV)/bin/pmb-console $(ARGS)

demo: $(RUN_STAMP) bytecode
	$(VENV)/bin/pmb-console demo $(ARGS)

services:
	@bash scripts/ensure-services.sh

test: $(DEV_STAMP) services
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check pmb_console tests bench
	$(VENV)/bin/ruff format --check pmb_console tests bench
	$(VENV)/bin/mypy pmb_console

check: lint test

bench: $(DEV_STAMP) services bytecode
	@for b in switch_haproxy first_frame idle_bytes metrics_poll log_tail drill jira_migrate runbook_journal; do \
		echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
