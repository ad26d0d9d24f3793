"""Super-resolution scores by the papers' protocol, with the bicubic baseline beside them.

SR papers (SRGAN, ESRGAN, and BasicSR's ``calculate_psnr``/``calculate_ssim`` with
``test_y_channel``) score 8-bit images on the luma channel of ITU-R BT.601 (Y = 16 + 65.481 R
+ 128.553 G + 24.966 B for RGB in [0, 1], so Y is in [16, 235]), after cropping ``scale``
pixels from every border (where the network saw padding); BasicSR also reports the same on
RGB, about 2 dB lower. PSNR's peak is 255; SSIM is Wang et al.'s (11x11 Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, valid region), per channel, on the 0-255 scale.

An SR number means little without the bicubic up-sampling of the same LR input beside it, so
this metric asks the evaluator for the inputs (``needs_source``) and scores
``bicubic_*`` with the same protocol. The scale is read off the shapes (HR side / LR side).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric, MetricConfig

_Y_WEIGHTS = (65.481, 128.553, 24.966)
KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 luma on the 0-255 scale, (N, 3, H, W) in [-1, 1] -> (N, 1, H, W) in [16, 235]."""
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return 16.0 + ((x + 1) / 2 * w).sum(1, keepdim=True)


def crop_border(x: Tensor, border: int) -> Tensor:
    return x[..., border:-border, border:-border] if border > 0 else x


def psnr_255(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR of images on the 0-255 scale (peak 255), capped at 100 dB."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).clamp_max(100.0)


def ssim_255(a: Tensor, b: Tensor) -> Tensor:
    """Per-image SSIM (Wang et al. 2004) on the 0-255 scale, 11x11 Gaussian sigma 1.5, valid
    region, mean over channels and pixels: BasicSR's ``calculate_ssim``."""
    a, b = a.double(), b.double()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(a.shape[1], 1, 11, 11).to(a.device)
    if min(a.shape[-2:]) < 11:
        raise GanzooError(f"SSIM needs at least 11x11 px after the border crop, got {tuple(a.shape[-2:])}")

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(1)


def sr_scores(output: Tensor, target: Tensor, border: int) -> dict[str, Tensor]:
    """Per-image PSNR/SSIM on Y and on RGB of images in [-1, 1], ``border`` px cropped."""
    o, t = crop_border(output.double(), border), crop_border(target.double(), border)
    oy, ty = rgb_to_y(o), rgb_to_y(t)
    o255, t255 = (o + 1) * 127.5, (t + 1) * 127.5
    return {"psnr_y": psnr_255(oy, ty), "ssim_y": ssim_255(oy, ty), "psnr_rgb": psnr_255(o255, t255),
            "ssim_rgb": ssim_255(o255, t255)}


class SRMetricsConfig(MetricConfig):
    border: int | None = Field(None, ge=0, description="Pixels cropped at each border; unset: the scale.")
    baseline: bool = Field(True, description="Also score the bicubic up-sampling of the input (bicubic_* keys).")


class SRMetrics(Metric):
    """PSNR and SSIM on Y (BT.601) and RGB with ``scale`` px cropped at the border, for the
    model and for bicubic up-sampling of the same input (``bicubic_psnr_y``, ...); mean over
    images. Higher is better."""

    Config = SRMetricsConfig
    needs_pairs = True
    needs_source: ClassVar[bool] = True
    higher_is_better: ClassVar[dict[str, bool]] = {**{k: True for k in KEYS}, **{f"bicubic_{k}": True for k in KEYS}}

    def reset(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0
        self._scale: int | None = None

    def update(self, output: Tensor, target: Tensor | None = None, source: Tensor | None = None) -> None:
        from ganzoo.data.degradations import upscale_bicubic
        from ganzoo.data.images import quantize

        if target is None or output.shape != target.shape:
            raise GanzooError("sr: needs the HR ground truth of every output, of the output's size")
        scale = self._scale
        if source is not None:
            scale = output.shape[-1] // source.shape[-1]
            if scale * source.shape[-1] != output.shape[-1] or scale * source.shape[-2] != output.shape[-2]:
                raise GanzooError(f"sr: output {tuple(output.shape[-2:])} is no whole multiple of the input "
                                  f"{tuple(source.shape[-2:])}")
            self._scale = scale
        border = self.config.border if self.config.border is not None else (scale or 0)
        scores = {k: v.sum() for k, v in sr_scores(output, target, border).items()}
        if self.config.baseline and source is not None:
            bicubic = quantize(upscale_bicubic(source.float().cpu(), scale))
            scores |= {f"bicubic_{k}": v.sum() for k, v in sr_scores(bicubic, target, border).items()}
        for k, v in scores.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._count += output.shape[0]

    def compute(self) -> dict[str, float]:
        if not self._count:
            raise GanzooError("sr: no images were scored")
        return {k: v / self._count for k, v in self._sums.items()}

    def protocol(self) -> dict[str, Any]:
        border = self.config.border if self.config.border is not None else self._scale
        return {"sr": f"PSNR (peak 255) and SSIM (11x11 Gaussian 1.5, valid) per image on 8-bit outputs, on BT.601 Y "
                      f"(16-235) and on RGB, {border} px cropped at each border (= scale x{self._scale}), mean over "
                      "images; bicubic_*: the input up-sampled by torch's bicubic (a = -0.5), same protocol"}
