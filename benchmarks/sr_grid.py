"""The super-resolution sample grid: LR | bicubic | SR of each run | HR, on the first test items.

Columns are drawn at HR size (LR nearest-up-sampled, so its pixels show), labelled, one row per
item, with every run's output beside the same bicubic baseline and ground truth:

    python benchmarks/sr_grid.py OUT.png RUN [RUN ...] [--items 4]
"""

from __future__ import annotations

import argparse

import torch

from ganzoo.data.degradations import upscale_bicubic
from ganzoo.data.images import quantize
from ganzoo.engine.loading import load_trained
from ganzoo.engine.samples import grid_image
from ganzoo.inference import Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--items", type=int, default=4)
    args = parser.parse_args()
    loaded = [load_trained(run) for run in args.runs]
    test_set = loaded[0][0].build_dataset("test")
    labels = ["LR", "bicubic", *(resolved.name for resolved, _, _ in loaded), "HR"]
    rows = []
    for i in range(min(args.items, len(test_set))):
        item = test_set[i]
        lr, hr = item["A"][None], item["B"]
        scale = hr.shape[-1] // lr.shape[-1]
        row = [torch.nn.functional.interpolate(lr, scale_factor=scale, mode="nearest")[0],
               quantize(upscale_bicubic(lr, scale))[0]]
        row += [quantize(Translator.from_method(method)(lr))[0] for _, method, _ in loaded]
        rows.append([*row, hr])
    grid_image(labels, rows, min_cell=128).save(args.out)
    print(f"wrote {args.out}: {' | '.join(labels)}")


if __name__ == "__main__":
    main()
