# Two commands do all the set-up on a fresh machine (Python 3.11+ and pip only):
#   make demo   - create .venv, install, synthesize the dev stack offline
#   make test   - create .venv, install, run lint and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rftenv synth dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/synth_bench.py
	$(BIN)/python benchmarks/graders.py

clean:
	rm -rf $(VENV) .build *.egg-info .hypothesis
