"""Why an A->B run on the built-in procedural data scores what it scores (issue #13).

PSNR against the ground truth mixes three things: the background colour, the shapes' colours
and whether the shapes are kept. This splits them, so a low PSNR can be traced to one:

- PSNR of the output and of the best per-image affine colour map of the output onto the ground
  truth (``B ~ M out + b``); the input itself reaches ~73 dB that way (B is an exact per-image
  colour map of A), so what an affine fit of the output loses is lost structure;
- correlation of the output's colour edges with the input's (the ground truth: ~0.92);
- mean squared error on the background pixels and on the shape pixels;
- for a run with a PatchNCE loss: each layer's PatchNCE of the trained G's output and of the
  identity (output = input) under the same encoder, heads and sampled locations, which says
  whether the loss prefers keeping the input over what G learned.

    python benchmarks/translation_diagnostics.py RUN [RUN ...]
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor

from ganzoo.data.procedural import BACKGROUND_A
from ganzoo.engine.loading import load_trained


def psnr(x: Tensor, y: Tensor) -> float:
    """Mean per-image PSNR of images in [-1, 1] (as ``ganzoo evaluate``: the range is 2)."""
    mse = ((x - y) / 2).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()


def affine_fit(src: Tensor, dst: Tensor) -> Tensor:
    """Per image, the least-squares ``M src + b`` (M 3x3) closest to ``dst``."""
    fitted = []
    for s, d in zip(src, dst, strict=True):
        x = torch.cat([s.flatten(1), torch.ones(1, s[0].numel())]).T
        w = torch.linalg.lstsq(x, d.flatten(1).T).solution
        fitted.append((x @ w).T.reshape(d.shape))
    return torch.stack(fitted)


def edges(x: Tensor) -> Tensor:
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(1)[..., :-1, :]
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(1)[..., :, :-1]
    return gx + gy


def correlation(a: Tensor, b: Tensor) -> float:
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-8)).mean().item()


def diagnose(run: str) -> None:
    resolved, method, checkpoint = load_trained(run)
    data = resolved.build_dataset("test")
    a = torch.stack([data[i]["A"] for i in range(len(data))])
    b = torch.stack([data[i]["B"] for i in range(len(data))])
    with torch.no_grad():
        out = method.translate(a)
    background = ((a * 0.5 + 0.5) - torch.tensor(BACKGROUND_A)[:, None, None]).abs().amax(1) < 0.02
    err = ((out - b) / 2).pow(2).mean(1)
    print(f"{checkpoint}: PSNR {psnr(out, b):.2f}  affine-fit PSNR {psnr(affine_fit(out, b), b):.2f} "
          f"(input: {psnr(affine_fit(a, b), b):.2f})  edge corr {correlation(edges(out), edges(a)):.3f} "
          f"(ground truth: {correlation(edges(b), edges(a)):.3f})  MSE background {err[background].mean():.4f} "
          f"shapes {err[~background].mean():.4f}")
    nce = getattr(method, "nce_loss", None)
    if nce is None or not hasattr(method, "G"):
        return
    torch.manual_seed(0)
    with torch.no_grad():
        src = method.G.features(a, nce.layers)
        gen = method.G.features(out, nce.layers)
        ids = nce.sample_ids(src)
        rows = [f"{name} {nce.layer_loss(h, s, g, i).item():.3f}/{nce.layer_loss(h, s, s, i).item():.3f}"
                for name, h, s, g, i in zip(nce.layers, nce.heads, src, gen, ids, strict=True)]
    print("  PatchNCE per layer, G's output / identity: " + "  ".join(rows))


if __name__ == "__main__":
    for path in sys.argv[1:]:
        diagnose(path)
