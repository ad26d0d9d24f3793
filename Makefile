# Two commands do everything on a fresh machine:
#   make quickstart   set up .venv and train CycleGAN on the built-in data (no download)
#   make test         set up .venv and run the linter and the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ganzoo-installed

.PHONY: setup quickstart test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

quickstart: setup
	$(BIN)/ganzoo run recipes/quickstart.toml

lint: setup
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
