"""PatchGAN discriminators: score overlapping patches instead of the whole image.

Judging local patches only models texture and style, the part of realism that pixel losses
miss, with far fewer parameters than a full-image discriminator, and works at any input size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo.layers import BlurDownsample
from ganzoo_networks.common import (
    InitType,
    Norm,
    antialias_field,
    coerce_config,
    conv_bias,
    init_gain_field,
    init_type_field,
    ndf_field,
    norm_field,
    norm_layer,
)
from ganzoo_networks.common import init_weights as _init_weights

_KERNEL, _PAD = 4, 1


class NLayerDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    ndf: int = ndf_field()
    n_layers: int = Field(
        3, ge=1, description="Stride-2 conv layers; 3 gives the 70x70 receptive field of pix2pix/CycleGAN."
    )
    norm: Norm = norm_field()
    init_type: InitType = init_type_field()
    init_gain: float = init_gain_field()
    antialias: bool = antialias_field()


class PixelDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    ndf: int = ndf_field()
    norm: Norm = norm_field()
    init_type: InitType = init_type_field()
    init_gain: float = init_gain_field()


def receptive_field(n_layers: int, antialias: bool = False) -> int:
    """Side in pixels of the input patch one output score of an ``n_layers`` PatchGAN sees
    (16, 34, 70, 142, ... for 1, 2, 3, 4 layers; a little more anti-aliased, where each
    strided conv is a stride-1 conv and a 3x3 blur): a quick way to pick n_layers for a dataset."""
    strided = [(_KERNEL, 1), (3, 2)] if antialias else [(_KERNEL, 2)]
    rf = 1
    # Walk back from the output: two stride-1 convs, then n_layers strided stages.
    for kernel, stride in [(_KERNEL, 1), (_KERNEL, 1)] + strided[::-1] * n_layers:
        rf = rf * stride + (kernel - stride)
    return rf


class NLayerDiscriminator(ganzoo.Discriminator):
    """The PatchGAN of pix2pix/CycleGAN: ``n_layers`` stride-2 4x4 convs, one stride-1 conv,
    then a 1-channel conv giving a map of patch scores (30x30 for a 256 px input at 3 layers).

    The first conv has no norm: normalising the raw image would discard its absolute colour.
    With ``antialias`` each strided conv becomes a stride-1 conv followed by a blur-pool
    (:class:`~ganzoo.layers.BlurDownsample`), as CUT's discriminator.
    """

    Config = NLayerDiscriminatorConfig

    def __init__(self, config: NLayerDiscriminatorConfig | Mapping[str, Any] | None = None):
        config = coerce_config(config, NLayerDiscriminatorConfig)
        super().__init__(config)
        c = config
        make_norm, bias = norm_layer(c.norm), conv_bias(c.norm)
        stride = 1 if c.antialias else 2
        layers: list[nn.Module] = [
            nn.Conv2d(c.input_nc, c.ndf, _KERNEL, stride=stride, padding=_PAD),
            nn.LeakyReLU(0.2, True),
        ]
        layers += [BlurDownsample(c.ndf)] if c.antialias else []
        mult = 1
        for n in range(1, c.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            last = n == c.n_layers
            layers += [
                nn.Conv2d(c.ndf * prev, c.ndf * mult, _KERNEL, stride=1 if last else stride, padding=_PAD, bias=bias),
                make_norm(c.ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
            layers += [BlurDownsample(c.ndf * mult)] if c.antialias and not last else []
        layers.append(nn.Conv2d(c.ndf * mult, 1, _KERNEL, stride=1, padding=_PAD))
        self.model = nn.Sequential(*layers)
        _init_weights(self, c.init_type, c.init_gain)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.config.n_layers, self.config.antialias)  # type: ignore[attr-defined]

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class PixelDiscriminator(ganzoo.Discriminator):
    """A 1x1 PatchGAN: scores every pixel on its own, from 1x1 convs only.

    It sees colour statistics and nothing spatial, so it pushes colour fidelity without
    adding texture; the output map has the input's size.
    """

    Config = PixelDiscriminatorConfig

    def __init__(self, config: PixelDiscriminatorConfig | Mapping[str, Any] | None = None):
        config = coerce_config(config, PixelDiscriminatorConfig)
        super().__init__(config)
        c = config
        make_norm, bias = norm_layer(c.norm), conv_bias(c.norm)
        # Named ``net`` (not ``model``) because that is the reference's attribute name.
        self.net = nn.Sequential(
            nn.Conv2d(c.input_nc, c.ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(c.ndf, c.ndf * 2, 1, bias=bias),
            make_norm(c.ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(c.ndf * 2, 1, 1, bias=bias),
        )
        _init_weights(self, c.init_type, c.init_gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
