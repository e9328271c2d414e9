# The command-line client, imgsvc (imgsvc/, pyproject.toml's [project]): installed into .venv
# in editable mode, so .venv/bin/imgsvc runs the working tree's code. Its dependencies (click,
# rich, requests, requests-toolbelt) are pinned in requirements-dev.txt, which $(STAMP)
# installs: hence --no-deps. Reinstalled only when pyproject.toml changes (the entry point).
CLI_STAMP := $(VENV)/.imgsvc-stamp

$(CLI_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

install: $(CLI_STAMP)

TEST_NEEDS += $(CLI_STAMP)
