"""Building blocks of the UNIT/MUNIT reference networks (NVlabs/MUNIT ``networks.py``, which the
2018 mingyuliutw/UNIT code shares).

Module and attribute names (``model``, ``pad``, ``norm``, ``activation``, ``conv``, ``gamma``,
``beta``) mirror the reference on purpose: the state-dict keys then match, so a reference
``gen_*.pt`` / ``dis_*.pt`` checkpoint loads into these classes unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

Activation = Literal["relu", "lrelu", "prelu", "selu", "tanh", "none"]
PadType = Literal["reflect", "replicate", "zero"]
NormType = Literal["none", "in", "ln", "bn"]
InitType = Literal["gaussian", "kaiming", "xavier", "orthogonal", "default"]


class LayerNorm(nn.Module):
    """The reference's layer norm: per sample over (C, H, W), dividing by the *unbiased* std plus
    eps (not sqrt(var + eps) as ``nn.LayerNorm``), with a per-channel affine whose scale starts
    uniform in [0, 1). Kept bit-for-bit because the decoder's upsampling convs use it and
    reference checkpoints carry ``gamma``/``beta``."""

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.num_features = num_features
        self.affine = affine
        self.eps = eps
        if affine:
            self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
            self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        shape = [-1] + [1] * (x.dim() - 1)
        flat = x.reshape(x.size(0), -1)
        mean = flat.mean(1).view(*shape)
        std = flat.std(1).view(*shape)
        x = (x - mean) / (std + self.eps)
        if self.affine:
            shape = [1, -1] + [1] * (x.dim() - 2)
            x = x * self.gamma.view(*shape) + self.beta.view(*shape)
        return x


def _norm(kind: NormType, channels: int) -> nn.Module | None:
    if kind == "none":
        return None
    if kind == "in":
        # No affine parameters, no running stats: the reference's nn.InstanceNorm2d(dim).
        return nn.InstanceNorm2d(channels)
    if kind == "ln":
        return LayerNorm(channels)
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm '{kind}' (none, in, ln, bn)")


def _activation(kind: Activation) -> nn.Module | None:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "prelu":
        return nn.PReLU()
    if kind == "selu":
        return nn.SELU(inplace=True)
    if kind == "tanh":
        return nn.Tanh()
    if kind == "none":
        return None
    raise ValueError(f"unknown activation '{kind}' (relu, lrelu, prelu, selu, tanh, none)")


def _pad(kind: PadType, padding: int) -> nn.Module:
    if kind == "reflect":
        return nn.ReflectionPad2d(padding)
    if kind == "replicate":
        return nn.ReplicationPad2d(padding)
    if kind == "zero":
        return nn.ZeroPad2d(padding)
    raise ValueError(f"unknown padding '{kind}' (reflect, replicate, zero)")


class Conv2dBlock(nn.Module):
    """pad -> conv (with bias) -> norm -> activation, the reference's ``Conv2dBlock``."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        kernel_size: int,
        stride: int,
        padding: int = 0,
        norm: NormType = "none",
        activation: Activation = "relu",
        pad_type: PadType = "zero",
    ):
        super().__init__()
        self.pad = _pad(pad_type, padding)
        self.norm = _norm(norm, output_dim)
        self.activation = _activation(activation)
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, stride, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class ResBlock(nn.Module):
    """Two 3x3 conv blocks (the second without activation) plus the identity."""

    def __init__(self, dim: int, norm: NormType = "in", activation: Activation = "relu", pad_type: PadType = "zero"):
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activation=activation, pad_type=pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activation="none", pad_type=pad_type),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.model(x)


class ResBlocks(nn.Module):
    """A stack of :class:`ResBlock`; ``model[i]`` is block ``i`` (what weight sharing swaps)."""

    def __init__(
        self, num_blocks: int, dim: int, norm: NormType = "in", activation: Activation = "relu",
        pad_type: PadType = "zero",
    ):
        super().__init__()
        self.model = nn.Sequential(
            *[ResBlock(dim, norm=norm, activation=activation, pad_type=pad_type) for _ in range(num_blocks)]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def init_weights(module: nn.Module, kind: InitType) -> None:
    """The reference's ``weights_init``: conv and linear weights only, biases to zero; norm
    layers keep their own init. ``default`` leaves PyTorch's init in place."""
    if kind == "default":
        return
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if kind == "gaussian":
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif kind == "xavier":
            nn.init.xavier_normal_(m.weight, gain=math.sqrt(2))
        elif kind == "kaiming":
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
        elif kind == "orthogonal":
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
        else:
            raise ValueError(f"unknown init '{kind}' (gaussian, kaiming, xavier, orthogonal, default)")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
