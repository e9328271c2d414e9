# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here is what those two are built from.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit bench clean

help:
	@printf "make %-20s %s\n" run "start the API on http://127.0.0.1:$(PORT) against an embedded AWS emulator"
	@printf "make %-20s %s\n" test "lint, type-check and run the whole test suite"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | awk -F'\t' '{printf "make %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "pip>=24,<26.3"  # chalice 1.34 needs pip<26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(STAMP) ## create .venv and install the dependencies

run: $(STAMP)
	$(PY) scripts/run_local.py --port $(PORT)

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## mypy
	$(VENV)/bin/mypy

unit: $(STAMP) ## only the fast in-process tests
	$(VENV)/bin/pytest -m "not integration and not e2e" -q -rf

test: lint typecheck corpus
	$(VENV)/bin/pytest -q -rf

bench: $(STAMP) ## performance figures against floors measured in the same run
	$(PY) scripts/bench.py

clean: ## remove the virtualenv and caches (not the LocalStack install cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build out

-include mk/*.mk
