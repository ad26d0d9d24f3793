"""Anti-aliased down- and up-sampling with a fixed binomial blur (Zhang 2019, "Making
convolutional networks shift-invariant again"), as CUT's networks use them.

A stride-2 convolution samples every other pixel of its output, so a one-pixel shift of the
input changes the result: high frequencies alias. Blurring before subsampling (and after
zero-stuffing when upsampling) removes them. The filters are buffers named ``filt`` so the
state-dict layout matches the CUT reference's checkpoints; they are never trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def binomial_filter(size: int) -> Tensor:
    """The ``size`` x ``size`` binomial blur (rows [1, 2, 1] for 3, [1, 3, 3, 1] for 4), summing to 1."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    kernel = torch.outer(row, row)
    return kernel / kernel.sum()


class BlurDownsample(nn.Module):
    """Halve the resolution: reflect-pad by 1, blur with the 3x3 binomial filter, keep every
    other pixel (one depthwise convolution). An even side ``s`` becomes ``s / 2``."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", binomial_filter(3).expand(channels, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurUpsample(nn.Module):
    """Double the resolution: replicate-pad by 1, zero-stuff and blur with the 4x4 binomial
    filter scaled by 4 (so a constant image stays constant), then trim the padding's border."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (binomial_filter(4) * 4).expand(channels, 1, 4, 4).clone())

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt, stride=2, padding=2,
                               groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]
