#!/usr/bin/env bash
# The health monitor against runs made to fail on purpose, and each stabiliser's effect, on the
# quickstart (CycleGAN, built-in procedural data) at a fixed number of iterations (default 160,
# logged every 10; samples and checkpoints off; 16 paired test items): prints each run's final
# A->B PSNR and what `ganzoo doctor` finds in it. Quality at fixed iterations does not depend on
# the machine's load. From the repo root:
#   bash benchmarks/health_check.sh [ITERATIONS] [OUT_DIR]
set -euo pipefail
N=${1:-160}
OUT=${2:-runs/health_check}
G=${GANZOO:-.venv/bin/ganzoo}
export OMP_NUM_THREADS=1   # several 1-thread runs at once; more threads on a busy CPU spin and stall
COMMON=(-s train.iterations="$N" -s train.log_every=10 -s train.sample_every=0 -s train.checkpoint_every=0
        -s train.eval_items=16 --no-progress --overwrite)
declare -A SETS=(
  [baseline]=""
  [d_lr_x50]="-s method.lr_by_group.D=0.01"
  [g_lr_x100]="-s method.lr_by_group.G=0.02"
  [identity_x50]="-s method.lambda_identity=25"
  [r1]="-s gan_loss.r1_gamma=1"
  [spectral_norm]="-s discriminator.spectral_norm=true"
  [label_smoothing]="-s gan_loss.label_smoothing=0.1"
  [instance_noise]="-s gan_loss.instance_noise=0.1 -s gan_loss.instance_noise_steps=$((N / 2))"
  [ada]="-s gan_loss.augment=translation,cutout -s gan_loss.augment_p=0 -s gan_loss.ada_target=0.6 -s gan_loss.ada_kimg=1"
  [ttur]="-s method.lr_by_group.G=1e-4 -s method.lr_by_group.D=4e-4"
  [ema]="-s train.ema=0.999"
)
mkdir -p "$OUT"
for name in "${!SETS[@]}"; do
  # shellcheck disable=SC2086
  $G run recipes/quickstart.toml "${COMMON[@]}" ${SETS[$name]} --out "$OUT/$name" > "$OUT/$name.txt" 2>&1 &
done
wait
for name in "${!SETS[@]}"; do
  psnr=$(grep '"eval/a2b/psnr"' "$OUT/$name/metrics.jsonl" | tail -1 | sed 's/.*"eval\/a2b\/psnr": \([0-9.]*\).*/\1/')
  echo "== $name: A->B PSNR $psnr"
  $G doctor "$OUT/$name" | grep -v "^  try:" || true
done
