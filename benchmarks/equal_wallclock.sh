#!/usr/bin/env bash
# Every method's quickstart on the built-in data at equal CPU wall-clock (default 60 s each): the
# built-in `translation-quick` suite plus the external DiscoGAN plugin's quickstart, through
# `ganzoo bench` (which measures each recipe's speed, lays its schedule out for the iterations
# that fit, stops it at the first iteration past the budget and evaluates it as
# `ganzoo evaluate` does). Run on an idle machine, from the repo root, after `make test` (which
# builds the DiscoGAN plugin into build/discogan-site):
#   bash benchmarks/equal_wallclock.sh [BUDGET_SECONDS] [OUT_DIR] [SEEDS]
# Tables: OUT_DIR/results.md and results.html; rerunning continues an interrupted bench.
set -euo pipefail
BUDGET=${1:-60}
OUT=${2:-runs/equal_wallclock}
SEEDS=${3:-0}
export OMP_NUM_THREADS=2 PYTHONPATH=build/discogan-site
.venv/bin/ganzoo bench --suite translation-quick plugins/ganzoo-discogan/recipes/discogan_quickstart.toml \
  --budget-seconds "$BUDGET" --seeds "$SEEDS" --out "$OUT"
