#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md in one command, sized for ~8 minutes on an
# H100/H200-class GPU; results land in benchmarks/results/ (and are listed at the end). From the
# repo root, with ganzoo importable (PYTHONPATH=.:plugins for a checkout):
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# Each part is independent: one failing does not stop the others (their exit codes are printed).
set -uo pipefail
OUT=${1:-benchmarks/results}
PY=${PYTHON:-python}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu_machine.txt"
run() { echo "== $*"; timeout "${PART_TIMEOUT:-240}" "$@"; echo "== exit $?"; }
# 1. engine vs the reference-style loop, 256 px, batch 1 and 8: fp32 as the reference, then the fast settings
run $PY benchmarks/compare_reference.py --device cuda --sizes 256 --batches 1,8 --warmup 5 --iters 10 --rounds 3 \
    --out "$OUT/compare_cuda_fp32.json"
run $PY benchmarks/compare_reference.py --device cuda --sizes 256 --batches 1,8 --warmup 5 --iters 10 --rounds 3 \
    --engine precision=bf16 channels_last=true check_finite_every=100 --out "$OUT/compare_cuda_fast.json"
# 2. every engine optimisation alone and combined (fp32, bf16, fp16, channels_last, compile, cuDNN autotuning,
#    deferred checks), CycleGAN only, to fit the time
run $PY benchmarks/train_benchmark.py --device cuda --recipes cyclegan --sizes 256 --batches 1,8 --warmup 3 \
    --iters 10 --out "$OUT/train_cuda.json"
# 3. inference throughput
run $PY benchmarks/translate_throughput.py --device cuda --batch 1 8 --seconds 10
# 4. one-GPU NCCL run under torchrun (the distributed path end to end) and the sync strategies
run $PY benchmarks/ddp_scaling.py --device cuda --procs 1 --size 256 --warmup 3 --iters 10 \
    --out "$OUT/ddp_scaling_cuda.json"
ls -la "$OUT"
