#!/usr/bin/env bash
# Every method's quickstart on the built-in data at equal CPU wall-clock (default 60 s each):
# calibrate each method's it/s on 40 iterations, then train each for BUDGET seconds' worth of
# iterations (samples and checkpoints off) and print the final evaluation on the paired test
# split, computed as `ganzoo evaluate` computes it. Run on an idle machine, from the repo root,
# after `make test` (which builds the DiscoGAN plugin into build/discogan-site):
#   bash benchmarks/equal_wallclock.sh [BUDGET_SECONDS] [OUT_DIR]
set -euo pipefail
BUDGET=${1:-60}
OUT=${2:-runs/equal_wallclock}
G=.venv/bin/ganzoo
export OMP_NUM_THREADS=2 PYTHONPATH=build/discogan-site
declare -A RECIPE=(
  [cyclegan]=recipes/quickstart.toml
  [unit]=recipes/unit_quickstart.toml
  [pix2pix]=recipes/pix2pix_quickstart.toml
  [discogan]=plugins/ganzoo-discogan/recipes/discogan_quickstart.toml
)
QUIET=(-s train.sample_every=0 -s train.checkpoint_every=0 -s train.log_every=20 --no-progress --overwrite)
mkdir -p "$OUT"
for m in cyclegan unit pix2pix discogan; do
  $G run "${RECIPE[$m]}" "${QUIET[@]}" -s train.iterations=40 -s "train.eval_metrics=[]" --out "$OUT/cal_$m" >/dev/null
  its=$(grep '"event": "speed"' "$OUT/cal_$m/metrics.jsonl" | tail -1 | sed 's/.*"it_s": \([0-9.]*\).*/\1/')
  n=$(python3 -c "print(max(20, round($its * $BUDGET / 20) * 20))")
  start=$(date +%s.%N)
  $G run "${RECIPE[$m]}" "${QUIET[@]}" -s train.iterations="$n" --out "$OUT/$m" > "$OUT/$m.txt"
  echo "== $m: $n iterations ($its it/s), $(python3 -c "print(round($(date +%s.%N) - $start))") s wall"
  grep -A8 "Evaluation" "$OUT/$m.txt" | tail -3 | head -2
done
