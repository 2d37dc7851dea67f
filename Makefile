# Two commands do all the set-up on a fresh machine (Python 3.11+ and pip only):
#   make demo   - create .venv, install, synthesize the dev stack offline
#   make test   - create .venv, install, run lint and the whole test suite
# The engine tests (pytest marker `engine`) run whenever a `pulumi` CLI is on PATH; without
# one they are skipped, and pytest says so. `make pulumi-cli` builds the CLI from the Go
# module proxy into .tools/pulumi/bin, which every target below puts first on PATH.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PULUMI_CLI_DIR := $(CURDIR)/.tools/pulumi
export PATH := $(PULUMI_CLI_DIR)/bin:$(PATH)
# The engine never phones home for updates or plugins from tests.
export PULUMI_SKIP_UPDATE_CHECK := true

.PHONY: install demo test engine-test pulumi-cli lint bench lock clean

# Installs at the versions of constraints.txt, showing pip's progress (a first install
# downloads about 300 MB and takes a few minutes).
$(STAMP): pyproject.toml requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	@echo '--- installing pip, then rft-env and its dependencies into $(VENV) (constraints.txt)'
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rftenv synth dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -rs

pulumi-cli:
	PULUMI_CLI_DIR=$(PULUMI_CLI_DIR) tools/pulumi-cli/build.sh

# Only the engine tests, with the CLI built (or reused) first; a skipped engine test fails.
engine-test: $(STAMP) pulumi-cli
	RFTENV_REQUIRE_ENGINE=1 $(BIN)/pytest -rs -m engine

bench: $(STAMP)
	$(BIN)/python benchmarks/synth_bench.py
	$(BIN)/python benchmarks/graders.py

# A fresh resolve of pyproject.toml's dependencies (dev extras included) into
# constraints.txt, in a scratch virtual environment; run the tests after it.
lock:
	rm -rf .build/lock && $(PYTHON) -m venv .build/lock
	.build/lock/bin/python -m pip install --progress-bar on --upgrade pip
	.build/lock/bin/python -m pip install --progress-bar on -e '.[dev]'
	head -3 constraints.txt > .build/constraints.txt
	.build/lock/bin/python -m pip freeze --all --exclude-editable >> .build/constraints.txt
	mv .build/constraints.txt constraints.txt
	rm -rf .build/lock

clean:
	rm -rf $(VENV) .build *.egg-info .hypothesis
	@echo 'kept .tools/ (the Pulumi CLI build); remove it by hand to rebuild from scratch'
