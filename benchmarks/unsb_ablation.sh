#!/usr/bin/env bash
# UNSB on the built-in data with each loss term and the chain switched off in turn (docs/unsb.md,
# "Isolated"): seed 0, 400 iterations (2000 for the last two), PSNR A->B on 64 paired test items.
#   bash benchmarks/unsb_ablation.sh [OUT_DIR]        (about 15 minutes on an idle 2-core CPU)
set -euo pipefail
out=${1:-runs/unsb_ablation}
ganzoo=${GANZOO:-ganzoo}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
t1=(method.num_timesteps=1 method.inference_steps=1)
row() {  # NAME STEPS OVERRIDES...
    local name=$1 steps=$2; shift 2
    local sets=()
    for s in "$@"; do sets+=(-s "$s"); done
    $ganzoo run recipes/unsb_quickstart.toml -o "$out/$name" -s train.sample_every=1000 -s 'train.eval_metrics=[]' "${sets[@]}"
    $ganzoo evaluate "$out/$name" --metrics psnr,ssim --direction a2b -n 64 ${steps:+--steps $steps} --json "$out/$name.json"
}
row gan_T1 "" method.lambda_sb=0 nce_loss.weight=0 "${t1[@]}"
row sb_T1 "" nce_loss.weight=0 "${t1[@]}"
row nce_T1 "" method.lambda_sb=0 "${t1[@]}"
row full_T1 "" "${t1[@]}"
row gan_T5 1,5 method.lambda_sb=0 nce_loss.weight=0
row nce_T5 1,5 method.lambda_sb=0
row full_T5 1,5
row gan_T5_2k 1,5 method.lambda_sb=0 nce_loss.weight=0 train.iterations=2000
row full_T5_2k 1,5 train.iterations=2000
