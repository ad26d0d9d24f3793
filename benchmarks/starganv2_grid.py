"""A StarGAN v2 sample grid: one test input translated into every domain with several styles.

    python benchmarks/starganv2_grid.py RUN_DIR OUT.png [--item 0] [--styles 4]

Rows: the input and its ground truth in every domain (when the data draws every test scene in
every domain, as the built-in multi-domain set does), then one row per latent seed (z from
torch.manual_seed(seed), as ``ganzoo translate`` seeds a stochastic method), then one
reference-guided row whose style comes from test item ``item + 1`` in each domain. Columns:
the domains in label order. Uses the run's weight average (EMA) when it kept one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import save_image

import ganzoo


def grid_rows(model: ganzoo.Model, item: int, styles: int) -> list[list[torch.Tensor]]:
    method = model.method
    data = model.recipe.build_dataset("test")
    x = data[item]["image"][None].to(model.device)
    k = method.num_domains
    rows = [[data[item]["image"]] * k]
    if "targets" in data[item]:
        rows.append(list(data[item]["targets"]))
    with torch.no_grad():
        for seed in range(styles):
            row = []
            for t in range(k):
                torch.manual_seed(seed)
                row.append(method.translate(x, target=torch.tensor([t])).clamp(-1, 1)[0].cpu())
            rows.append(row)
        ref = data[(item + 1) % len(data)]
        refs = ref["targets"] if "targets" in ref else [ref["image"]] * k
        rows.append([method.translate(x, target=torch.tensor([t]), reference=refs[t][None].to(x))
                     .clamp(-1, 1)[0].cpu() for t in range(k)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--item", type=int, default=0)
    parser.add_argument("--styles", type=int, default=4)
    args = parser.parse_args()
    model = ganzoo.load(args.run, device="cpu")
    model.method.eval()
    rows = grid_rows(model, args.item, args.styles)
    images = torch.stack([im for row in rows for im in row])
    save_image(images * 0.5 + 0.5, args.out, nrow=len(rows[0]), padding=1, pad_value=1.0)
    print(f"{args.out}: {len(rows)} rows x {len(rows[0])} domains")


if __name__ == "__main__":
    main()
