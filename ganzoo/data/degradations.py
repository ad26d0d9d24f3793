"""Degradations: how a low-resolution input is made from a high-resolution image, on the fly.

Super-resolution trains on (LR, HR) pairs, and the standard benchmarks make LR from HR by
bicubic down-sampling; Real-ESRGAN instead applies a random *second-order* pipeline (blur,
resize, noise, JPEG, twice) so that a model learns to undo real-world damage. Both are
registered here by name (:data:`DEGRADATIONS`; :func:`register_degradation` adds one), take a
CHW image in [-1, 1] and the scale, and draw every random number from the numpy generator they
are given, so the same seed always makes the same LR image.

Bicubic is torch's antialiased bicubic (a = -0.5, as MATLAB's ``imresize`` and PIL): close to,
not bit-identical with, the MATLAB LR images DIV2K ships; folder pairs read those as they are.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ganzoo.errors import GanzooError

Degradation = Callable[[Tensor, int, np.random.Generator], Tensor]
"""(HR image CHW in [-1, 1], scale, random generator) -> LR image of side HR // scale."""

DEGRADATIONS: dict[str, Degradation] = {}


def register_degradation(name: str, fn: Degradation) -> None:
    """Make ``fn`` available as ``data.degradation = name``."""
    DEGRADATIONS[name] = fn


def get_degradation(name: str) -> Degradation:
    try:
        return DEGRADATIONS[name]
    except KeyError:
        raise GanzooError(f"unknown degradation '{name}' (known: {', '.join(sorted(DEGRADATIONS))})") from None


def resize(x: Tensor, size: tuple[int, int], mode: str = "bicubic") -> Tensor:
    """Resize CHW or NCHW to ``size`` (h, w); antialiased when shrinking with bilinear/bicubic."""
    batched = x if x.dim() == 4 else x[None]
    if mode == "area":
        y = F.interpolate(batched, size=size, mode="area")
    else:
        shrink = size[0] < batched.shape[-2] or size[1] < batched.shape[-1]
        y = F.interpolate(batched, size=size, mode=mode, align_corners=False, antialias=shrink)
    return y if x.dim() == 4 else y[0]


def bicubic(hr: Tensor, scale: int, rng: np.random.Generator | None = None) -> Tensor:
    """The benchmarks' degradation: antialiased bicubic down-sampling by ``scale`` (no randomness)."""
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise GanzooError(f"bicubic x{scale}: HR side {h}x{w} is not a multiple of the scale")
    return resize(hr, (h // scale, w // scale), "bicubic").clamp(-1, 1)


def upscale_bicubic(lr: Tensor, scale: int) -> Tensor:
    """The bicubic baseline every SR result is reported beside: LR up-sampled by ``scale``."""
    h, w = lr.shape[-2:]
    return resize(lr, (h * scale, w * scale), "bicubic").clamp(-1, 1)


# ---------------------------------------------------------------- Real-ESRGAN


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> Tensor:
    """An anisotropic Gaussian blur kernel (size x size, odd), rotated by ``theta`` radians."""
    ax = torch.arange(size, dtype=torch.float32) - size // 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return k / k.sum()


def _blur(x: Tensor, rng: np.random.Generator, sigma: tuple[float, float]) -> Tensor:
    size = int(rng.choice(np.arange(7, 22, 2)))
    sx, sy = rng.uniform(*sigma), rng.uniform(*sigma)
    k = gaussian_kernel(size, sx, sy, rng.uniform(0, math.pi))
    c = x.shape[0]
    padded = F.pad(x[None], (size // 2,) * 4, mode="reflect") if min(x.shape[-2:]) > size // 2 else \
        F.pad(x[None], (size // 2,) * 4, mode="replicate")
    return F.conv2d(padded, k.expand(c, 1, size, size), groups=c)[0]


def _random_resize(x: Tensor, rng: np.random.Generator, probs: tuple[float, float, float],
                   scale_range: tuple[float, float], base: tuple[int, int] | None = None) -> Tensor:
    """Up, down or keep with ``probs``, by a factor of ``base`` (h, w; default: x's own size)."""
    kind = rng.choice(3, p=list(probs))
    factor = rng.uniform(1, scale_range[1]) if kind == 0 else rng.uniform(scale_range[0], 1) if kind == 1 else 1.0
    mode = str(rng.choice(["area", "bilinear", "bicubic"]))
    h, w = base or x.shape[-2:]
    return resize(x, (max(1, int(h * factor)), max(1, int(w * factor))), mode)


def _noise(x: Tensor, rng: np.random.Generator, gauss: tuple[float, float], poisson: tuple[float, float]) -> Tensor:
    gray = rng.random() < 0.4
    shape = (1, *x.shape[1:]) if gray else tuple(x.shape)
    gen = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
    if rng.random() < 0.5:  # Gaussian, sigma on the 0-255 scale
        sigma = rng.uniform(*gauss) / 255.0 * 2.0
        return x + sigma * torch.randn(shape, generator=gen).expand_as(x)
    img = ((x + 1) / 2).clamp(0, 1)  # Poisson: shot noise of a scaled photon count
    scale = rng.uniform(*poisson)
    vals = 10 ** 2.5 / scale
    noisy = torch.poisson(img * vals, generator=gen) / vals
    if gray:
        noisy = img + (noisy - img).mean(0, keepdim=True)
    return noisy * 2 - 1


def jpeg(x: Tensor, quality: int) -> Tensor:
    """Encode and decode as JPEG at ``quality`` (PIL), CHW in [-1, 1]."""
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1) / 127.5 - 1


def realesrgan(hr: Tensor, scale: int, rng: np.random.Generator | None = None) -> Tensor:
    """Real-ESRGAN's second-order degradation (Wang et al. 2021), per image: blur (Gaussian,
    kernel 7-21, sigma 0.2-3), random resize (up / down / keep with probabilities 0.2 / 0.7 /
    0.1, factor 0.15-1.5), noise (Gaussian sigma 1-30 or Poisson 0.05-3, grey with probability
    0.4), JPEG 30-95; then again with the second stage's settings (blur with probability 0.8,
    sigma 0.2-1.5; resize 0.3 / 0.4 / 0.3 by 0.3-1.2 of the LR size; noise 1-25 / 0.05-2.5), a
    resize to HR // scale, and a final JPEG 30-95. Left out: the
    reference's generalised-Gaussian and plateau kernels and its sinc filter; the last resize
    and JPEG come in this order (the reference swaps them half of the time)."""
    rng = rng if rng is not None else np.random.default_rng()
    h, w = hr.shape[-2:]
    lr_size = (h // scale, w // scale)
    x = hr.float()
    x = _blur(x, rng, (0.2, 3.0))
    x = _random_resize(x, rng, (0.2, 0.7, 0.1), (0.15, 1.5))  # resize_prob, resize_range
    x = _noise(x, rng, (1, 30), (0.05, 3)).clamp(-1, 1)
    x = jpeg(x, int(rng.integers(30, 96)))
    if rng.random() < 0.8:  # the reference's second_blur_prob
        x = _blur(x, rng, (0.2, 1.5))
    x = _random_resize(x, rng, (0.3, 0.4, 0.3), (0.3, 1.2), base=lr_size)  # resize_prob2, of the LR size
    x = _noise(x, rng, (1, 25), (0.05, 2.5)).clamp(-1, 1)
    x = resize(x, lr_size, str(rng.choice(["area", "bilinear", "bicubic"])))
    return jpeg(x, int(rng.integers(30, 96)))


register_degradation("bicubic", bicubic)
register_degradation("realesrgan", realesrgan)
