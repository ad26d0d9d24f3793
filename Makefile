# Two commands do everything on a fresh machine:
#   make quickstart   set up .venv and train CycleGAN on the built-in data (no download)
#   make test         set up .venv with the test tools and run the linter and the test suite (what CI runs)
#
# PyTorch is the large download, done first and with pip's progress shown. From PyPI (the
# default) it is, on Linux, the CUDA build: about 5 GB with its nvidia-* packages. On a machine
# without an NVIDIA GPU, take the CPU build (a few hundred MB) from PyTorch's own index:
#   make quickstart TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
TORCH_STAMP := $(VENV)/.torch-installed
STAMP := $(VENV)/.ganzoo-installed
TEST_STAMP := $(VENV)/.ganzoo-test-installed

DISCOGAN_SITE := build/discogan-site

.PHONY: setup setup-test quickstart test test-discogan discogan-site lint clean leaderboard

setup: $(STAMP)

setup-test: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The pinned torch/torchvision pair (constraints.txt), from TORCH_INDEX when set.
$(TORCH_STAMP): constraints.txt | $(BIN)/python
	@echo "Installing PyTorch $(if $(TORCH_INDEX),from $(TORCH_INDEX),from PyPI: on Linux the CUDA build, about 5 GB. Without an NVIDIA GPU, press Ctrl-C and run: make $(or $(MAKECMDGOALS),setup) TORCH_INDEX=https://download.pytorch.org/whl/cpu)"
	$(PIP) install --progress-bar on -c constraints.txt $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch torchvision
	touch $@

# What the quickstart needs: ganzoo and its dependencies, no test tools.
$(STAMP): pyproject.toml constraints.txt $(TORCH_STAMP)
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(TEST_STAMP): pyproject.toml constraints.txt $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $@

quickstart: setup
	$(BIN)/ganzoo run recipes/quickstart.toml

lint: setup-test
	$(BIN)/ruff check .

# GANZOO_REQUIRE_FIXTURES: the reference parity tests fail, not skip, without ../shared/fixtures.
test: setup-test lint discogan-site
	GANZOO_DISCOGAN_SITE=$(DISCOGAN_SITE) GANZOO_REQUIRE_FIXTURES=1 $(BIN)/python -m pytest -q --durations=20
	$(DISCOGAN_TESTS)

# The external DiscoGAN plugin, installed with pip as a user would (into build/, so the main
# suite can also check the CLI without it), then its own test suite in strict plugin mode.
DISCOGAN_TESTS = PYTHONPATH=$(DISCOGAN_SITE) GANZOO_STRICT_PLUGINS=1 $(BIN)/python -m pytest -q plugins/ganzoo-discogan/tests

test-discogan: setup-test discogan-site
	$(DISCOGAN_TESTS)

discogan-site: setup-test
	rm -rf $(DISCOGAN_SITE)
	$(PIP) install --quiet --no-deps --no-build-isolation --no-index --target $(DISCOGAN_SITE) plugins/ganzoo-discogan

# docs/leaderboard*.md: the quickstart suites (every built-in method's quickstart, 60 s each, 3
# seeds; about 35 minutes on a CPU) on an idle machine; a rerun continues an interrupted one.
leaderboard: setup
	$(BIN)/ganzoo bench --suite translation-quick --out runs/leaderboard
	cp runs/leaderboard/results.json benchmarks/results/leaderboard.json
	$(BIN)/ganzoo bench --render benchmarks/results/leaderboard.json --to docs/leaderboard.md
	$(BIN)/ganzoo bench --suite multidomain-quick --out runs/leaderboard-multidomain
	cp runs/leaderboard-multidomain/results.json benchmarks/results/leaderboard_multidomain.json
	$(BIN)/ganzoo bench --render benchmarks/results/leaderboard_multidomain.json --to docs/leaderboard-multidomain.md
	$(BIN)/ganzoo bench --suite sr-quick --out runs/leaderboard-sr
	cp runs/leaderboard-sr/results.json benchmarks/results/leaderboard_sr.json
	$(BIN)/ganzoo bench --render benchmarks/results/leaderboard_sr.json --to docs/leaderboard-sr.md

clean:
	rm -rf $(VENV) runs build plugins/ganzoo-discogan/build .pytest_cache .ruff_cache
