"""Building blocks that networks of several plugins share: the choice of normalisation, the
reference implementations' weight init, and anti-aliased resampling. Public (plugins import
``ganzoo.layers``) so that a method's networks do not each carry a copy; the core still holds no
model, only the layers models are made of.

Normalisation and init follow junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), whose
rules decide which state-dict keys exist and so whether published checkpoints load.

Anti-aliased down- and up-sampling use a fixed binomial blur (Zhang 2019, "Making
convolutional networks shift-invariant again"), as CUT's and UNSB's networks do.

A stride-2 convolution samples every other pixel of its output, so a one-pixel shift of the
input changes the result: high frequencies alias. Blurring before subsampling (and after
zero-stuffing when upsampling) removes them. The filters are buffers named ``filt`` so the
state-dict layout matches the CUT reference's checkpoints; they are never trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Norm = Literal["instance", "batch", "none"]
InitType = Literal["normal", "xavier", "kaiming", "orthogonal"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)

__all__ = ["BlurDownsample", "BlurUpsample", "InitType", "Norm", "binomial_filter", "conv_bias", "init_weights",
           "norm_layer"]


def binomial_filter(size: int) -> Tensor:
    """The ``size`` x ``size`` binomial blur (rows [1, 2, 1] for 3, [1, 3, 3, 1] for 4), summing to 1."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    kernel = torch.outer(row, row)
    return kernel / kernel.sum()


class _FixedFilter(nn.Module):
    """A module whose only state is a constant ``filt`` buffer. Kept in the state dict (the
    references' checkpoints have it), but a checkpoint without it loads too: ganzoo 0.2's UNSB
    networks kept their blur filters out of the state dict, and the value is never trained."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        state_dict.setdefault(prefix + "filt", self.filt)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class BlurDownsample(_FixedFilter):
    """Halve the resolution: reflect-pad by 1, blur with the 3x3 binomial filter, keep every
    other pixel (one depthwise convolution). An even side ``s`` becomes ``s / 2``."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", binomial_filter(3).expand(channels, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurUpsample(_FixedFilter):
    """Double the resolution: replicate-pad by 1, zero-stuff and blur with the 4x4 binomial
    filter scaled by 4 (so a constant image stays constant), then trim the padding's border."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (binomial_filter(4) * 4).expand(channels, 1, 4, 4).clone())

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt, stride=2, padding=2,
                               groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]


def norm_layer(kind: Norm) -> Callable[[int], nn.Module]:
    """A factory ``channels -> module``. Instance norm has neither affine parameters nor running
    stats, so it adds no state-dict keys: that is what makes reference checkpoints fit."""
    if kind == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if kind == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if kind == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"unknown norm '{kind}' (instance, batch, none)")


def conv_bias(kind: Norm) -> bool:
    """Whether a conv that feeds a norm layer gets a bias.

    The reference enables it only for instance norm (batch norm's shift makes it redundant),
    and, by the way its test is written, not for ``none`` either. Mirrored exactly because
    the bias keys decide whether a checkpoint loads.
    """
    return kind == "instance"


def init_weights(module: nn.Module, init_type: InitType = "normal", gain: float = 0.02) -> nn.Module:
    """Re-initialise ``module`` in place the way the reference's ``init_weights`` does.

    PyTorch's default (kaiming-uniform) init is not what the published GAN results were
    trained from; N(0, 0.02) is the DCGAN convention those hyper-parameters assume.
    """
    for m in module.modules():
        if isinstance(m, _WEIGHTED):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"unknown init_type '{init_type}' (normal, xavier, kaiming, orthogonal)")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module
