# Two commands do everything on a fresh machine:
#   make quickstart   set up .venv and train CycleGAN on the built-in data (no download)
#   make test         set up .venv and run the linter and the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ganzoo-installed

DISCOGAN_SITE := build/discogan-site

.PHONY: setup quickstart test test-discogan discogan-site lint clean leaderboard

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

quickstart: setup
	$(BIN)/ganzoo run recipes/quickstart.toml

lint: setup
	$(BIN)/ruff check .

# GANZOO_REQUIRE_FIXTURES: the reference parity tests fail, not skip, without ../shared/fixtures.
test: setup lint discogan-site
	GANZOO_DISCOGAN_SITE=$(DISCOGAN_SITE) GANZOO_REQUIRE_FIXTURES=1 $(BIN)/python -m pytest -q --durations=20
	$(DISCOGAN_TESTS)

# The external DiscoGAN plugin, installed with pip as a user would (into build/, so the main
# suite can also check the CLI without it), then its own test suite in strict plugin mode.
DISCOGAN_TESTS = PYTHONPATH=$(DISCOGAN_SITE) GANZOO_STRICT_PLUGINS=1 $(BIN)/python -m pytest -q plugins/ganzoo-discogan/tests

test-discogan: setup discogan-site
	$(DISCOGAN_TESTS)

discogan-site: setup
	rm -rf $(DISCOGAN_SITE)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-index --target $(DISCOGAN_SITE) plugins/ganzoo-discogan

# docs/leaderboard.md: the translation-quick suite (every built-in method's quickstart, 60 s each,
# 3 seeds; about 30 minutes on a CPU) on an idle machine; a rerun continues an interrupted one.
leaderboard: setup
	$(BIN)/ganzoo bench --suite translation-quick --out runs/leaderboard
	cp runs/leaderboard/results.json benchmarks/results/leaderboard.json
	$(BIN)/ganzoo bench --render benchmarks/results/leaderboard.json --to docs/leaderboard.md

clean:
	rm -rf $(VENV) runs build plugins/ganzoo-discogan/build .pytest_cache .ruff_cache
