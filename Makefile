# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here is what those two are built from.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
UV := uv==0.13.9
# Let Python cache compiled modules (and pytest its rewritten test modules): some machines set
# PYTHONDONTWRITEBYTECODE, which makes every test run parse them all again (seconds).
export PYTHONDONTWRITEBYTECODE :=

.DEFAULT_GOAL := help
# What `make test` needs besides the venv (mk/*.mk add theirs: the browser, vendored assets).
TEST_NEEDS :=
-include mk/*.mk
.PHONY: help install run test lint typecheck unit hostile docs bench clean

help:
	@printf "make %-20s %s\n" run "start the API on http://127.0.0.1:$(PORT) against an embedded AWS emulator"
	@printf "make %-20s %s\n" test "lint, type-check and run the whole test suite"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | awk -F'\t' '{printf "make %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt requirements-tracing.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(UV)"  # installs the rest (and LocalStack's venvs) in seconds
	$(VENV)/bin/uv pip install --quiet --python $(PY) "pip>=24,<26.3" -r requirements-dev.txt  # chalice 1.34 needs pip<26.3
	@touch $@

install: $(STAMP) ## create .venv and install the dependencies

run: $(STAMP)
	$(PY) scripts/run_local.py --port $(PORT)

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## mypy
	$(VENV)/bin/mypy

unit: $(STAMP) ## the quick loop: in-process tests on both cores (make test runs everything)
	@start=$$(date +%s.%N); QUICK_TESTS=1 $(VENV)/bin/pytest -q -rf -n 2 -p no:schemathesis \
		-m "not integration and not e2e and not slow and not corpus and not browser" \
		--ignore=tests/integration --ignore=tests/e2e --ignore=tests/browser \
		tests infra/localstack/lambda_executor/tests; status=$$?; \
		printf "make unit: %.1f s\n" "$$(echo "$$(date +%s.%N) - $$start" | bc)"; exit $$status

# The race and fuzz tests against a deployment in header mode (LocalStack's `dev` stage, or the
# `stack` stage's template) rather than a local stack; its bucket and table are checked after
# every race. STACK_BUCKET, STACK_TABLE (default: the dev stage's), STACK_ENDPOINT (default:
# the URL's host when it is this machine) and FUZZ_MAX_EXAMPLES are read from the environment.
hostile: $(STAMP) ## races and fuzzing against a deployment: make hostile URL=<its API root>
	@test -n "$(URL)" || { echo "usage: make hostile URL=<API root, e.g. what make deploy-local prints>"; exit 2; }
	STACK_URL='$(URL)' $(VENV)/bin/pytest -q -rf -p no:xdist -m integration \
		tests/integration/test_races.py tests/integration/test_fuzz.py

# In-process tests on both cores; then those that start servers (make run's stack, LocalStack,
# a browser), also on two workers, each with its own make run stack; the tests that share
# LocalStack or the build directories run on one of them, in turn (tests/conftest.py).
# LocalStack installs meanwhile (the first time: about 25 s with uv; the server tests' LocalStack
# worker set the phase's length when it began with it).
SERVERS := integration or e2e or browser
LOCALSTACK_INSTALL_LOG := .cache/localstack-install.log
test: lint typecheck corpus $(TEST_NEEDS)
	mkdir -p .cache; $(LOCALSTACK_HOST_PY) install > $(LOCALSTACK_INSTALL_LOG) 2>&1 & installing=$$!; \
	$(VENV)/bin/pytest -q -rf -n 2 -p no:schemathesis -m "not ($(SERVERS))" --durations=5; \
	status=$$?; if ! wait $$installing; then cat $(LOCALSTACK_INSTALL_LOG); exit 1; fi; \
	exit $$status
	$(VENV)/bin/pytest -q -rf -n 2 --dist loadgroup -m "$(SERVERS)" --durations=15

docs: $(STAMP) ## docs/api.md, the API reference, from the app's OpenAPI document
	$(PY) scripts/api_reference.py

bench: $(STAMP) $(CLI_STAMP) corpus browser ## performance figures against floors measured in the same run
	$(PY) scripts/bench.py

clean: ## remove the virtualenv and caches (not the LocalStack install cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build out

