"""PSNR and diversity of a stochastic run (MUNIT) on a paired test split, beyond ``ganzoo evaluate``
(issue 14; docs/munit.md, "Measured").

- PSNR A->B and diversity as ``evaluate`` computes them (random styles, seed 0; LPIPS with a
  random backbone unless ``--lpips-weights``-style weights are found: see the printed protocol);
- PSNR A->B of each of the seeds 0..9, whose spread is what a random style costs;
- PSNR A->B with the style of each item's own ground-truth B image (reference-guided, an
  oracle: it says how good the content code is once the style is right);
- the mean pixel L1 between two samples of one input (a diversity that needs no weights);
- optionally a grid: per test input, the input, six styles and the ground truth.

    python benchmarks/multimodal_diversity.py RUN [ITEMS] [GRID.png]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import torch

import ganzoo
from ganzoo.data.images import quantize, save_image
from ganzoo.inference import Translator
from ganzoo.metrics.evaluate import build_metrics, evaluate
from ganzoo.metrics.paired import psnr, resolve_lpips_backbone
from ganzoo.metrics.weights import MissingWeightsError
from ganzoo.multimodal import sample_grid


def main(run: str, items: int = 64, grid: str | None = None) -> None:
    model = ganzoo.load(run, device="cpu")
    method = model.method
    data = model.recipe.data.build(split="test")
    try:
        resolve_lpips_backbone("alex")
        options = {"diversity": {"samples": 10}}
    except MissingWeightsError:
        options = {"diversity": {"samples": 10, "random_backbone": True}}
    report = evaluate(method, data, build_metrics(["psnr", "diversity"], options), max_items=items, directions=["a2b"])
    print("evaluate:", {k: round(v, 4) for k, v in report.results.items()}, report.skipped)
    print("  ", report.protocol["metrics"]["diversity"]["diversity"])

    a = torch.stack([data[i]["A"] for i in range(items)])
    b = torch.stack([data[i]["B"] for i in range(items)])
    samples = torch.stack([Translator.from_method(method, "a2b", seed=k)(a) for k in range(10)])
    per_seed = [float(psnr(quantize(s), quantize(b))) for s in samples]
    print("PSNR a2b per seed 0..9:", [round(p, 2) for p in per_seed], f"mean {sum(per_seed) / 10:.2f}")
    guided = torch.cat([Translator.from_method(method, "a2b", reference=b[i:i + 1])(a[i:i + 1]) for i in range(items)])
    print(f"PSNR a2b in the ground truth's style: {float(psnr(quantize(guided), quantize(b))):.2f}")
    l1 = [(samples[i] - samples[j]).abs().mean() for i, j in itertools.combinations(range(10), 2)]
    print(f"pixel L1 between two samples of one input (on [-1, 1]): {float(torch.stack(l1).mean()):.3f}")
    if grid:
        rows = [sample_grid(a[i], [*samples[:6, i], b[i]]) for i in range(min(6, items))]
        save_image(torch.cat(rows, dim=-2), Path(grid))
        print("grid:", grid)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64, sys.argv[3] if len(sys.argv) > 3 else None)
