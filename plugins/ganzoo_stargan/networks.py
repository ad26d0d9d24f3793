"""StarGAN's networks, as yunjey/stargan's ``model.py`` builds them (module names match, so a
reference ``*-G.ckpt`` / ``*-D.ckpt`` state dict loads with ``strict=True``).

Generator: the target label (N, c_dim) is tiled over the image and concatenated to it as extra
channels; 7x7 conv, two 4x4 stride-2 down-samplings, ``repeat_num`` residual blocks, two 4x4
stride-2 transposed convs, 7x7 conv and tanh; affine instance norm and ReLU throughout, no conv
bias. Discriminator: ``repeat_num`` 4x4 stride-2 convs with LeakyReLU 0.01 and no norm, then two
heads on the same features: a 3x3 conv giving a real/fake score map (PatchGAN) and a conv as
large as the remaining map giving one logit per domain or attribute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance norm that normalises with each image's own statistics in eval mode too.

    The reference builds ``InstanceNorm2d(affine=True, track_running_stats=True)`` and tests
    without ``G.eval()``, so its translations always use per-image statistics; the running
    statistics are kept (and updated in training) only so reference checkpoints load as they are."""

    def forward(self, x: Tensor) -> Tensor:
        track = self.training and self.running_mean is not None
        return F.instance_norm(x, self.running_mean if track else None, self.running_var if track else None,
                               self.weight, self.bias, True, self.momentum or 0.0, self.eps)


def _norm(channels: int) -> nn.Module:
    return InstanceNorm(channels, affine=True, track_running_stats=True)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


class StarGANGeneratorConfig(ganzoo.GeneratorConfig):
    c_dim: int = Field(5, gt=0, description="Label size: domains or attributes (the method sets it from the data).")
    conv_dim: int = Field(64, gt=0, description="Channels of the first conv (reference g_conv_dim 64).")
    repeat_num: int = Field(6, ge=0, description="Residual blocks (reference g_repeat_num 6).")


class StarGANGenerator(ganzoo.Generator):
    """``G(x, c)``: images (N, input_nc, H, W) and target labels (N, c_dim) -> (N, output_nc, H, W)."""

    Config = StarGANGeneratorConfig

    def __init__(self, config: StarGANGeneratorConfig):
        super().__init__(config)
        c = config
        layers: list[nn.Module] = [nn.Conv2d(c.input_nc + c.c_dim, c.conv_dim, 7, 1, 3, bias=False),
                                   _norm(c.conv_dim), nn.ReLU(inplace=True)]
        dim = c.conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _norm(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(c.repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), _norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers += [nn.Conv2d(dim, c.output_nc, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    @property
    def stride(self) -> int:
        return 4

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """``c`` None is an all-zero label (no domain: only for tools that call any generator as G(x))."""
        if c is None:
            c = x.new_zeros(x.shape[0], self.config.c_dim)
        c = c.to(x.dtype).view(c.shape[0], c.shape[1], 1, 1).expand(-1, -1, *x.shape[2:])
        return self.main(torch.cat([x, c], dim=1))


class StarGANDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    image_size: int = Field(128, gt=0, description="Side of the training images: the classification head's conv "
                            "spans the image_size / 2^repeat_num map left after the convs (reference 128).")
    conv_dim: int = Field(64, gt=0, description="Channels of the first conv (reference d_conv_dim 64).")
    c_dim: int = Field(5, gt=0, description="Domains or attributes classified (the method sets it from the data).")
    repeat_num: int = Field(6, ge=1, description="Stride-2 convs (reference d_repeat_num 6).")


class StarGANDiscriminator(ganzoo.Discriminator):
    """``D(x) -> (score map (N, 1, h, w), class logits (N, c_dim))``."""

    Config = StarGANDiscriminatorConfig

    def __init__(self, config: StarGANDiscriminatorConfig):
        super().__init__(config)
        c = config
        self.side = c.image_size // 2 ** c.repeat_num
        if self.side < 1 or c.image_size % 2 ** c.repeat_num:
            raise ganzoo.GanzooError(f"discriminator: image_size {c.image_size} must be a multiple of 2^repeat_num "
                                     f"= {2 ** c.repeat_num}; lower discriminator.repeat_num")
        layers: list[nn.Module] = [nn.Conv2d(c.input_nc, c.conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = c.conv_dim
        for _ in range(1, c.repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c.c_dim, self.side, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Images of another size than ``image_size`` are resized to it (bilinear, antialiased)
        first: the classification head spans a fixed map. (Training refuses that mismatch: see
        :meth:`ganzoo_stargan.StarGAN.discriminator_step`.)"""
        side = self.config.image_size
        if x.shape[-2:] != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)
