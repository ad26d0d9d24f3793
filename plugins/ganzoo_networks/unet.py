"""The U-Net generator of pix2pix, built recursively from the innermost block outwards.

Each block holds its child inside its own ``model`` Sequential, which gives the reference's
nested key names (``model.model.1.model.1.weight`` ...); a flat re-implementation would not
load published pix2pix checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_networks.common import (
    InitType,
    Norm,
    coerce_config,
    conv_bias,
    dropout_field,
    init_gain_field,
    init_type_field,
    ngf_field,
    norm_field,
    norm_layer,
)
from ganzoo_networks.common import init_weights as _init_weights

_NUM_DOWNS_HELP = (
    "Stride-2 downsamplings; the input side must be a multiple of 2**num_downs "
    "(8 reduces 256 px to 1x1, 7 reduces 128 px to 1x1)."
)


class UnetGeneratorConfig(ganzoo.GeneratorConfig):
    ngf: int = ngf_field()
    norm: Norm = norm_field()
    use_dropout: bool = dropout_field()
    num_downs: int = Field(8, ge=5, description=_NUM_DOWNS_HELP)
    init_type: InitType = init_type_field()
    init_gain: float = init_gain_field()


class Unet128Config(UnetGeneratorConfig):
    num_downs: int = Field(7, ge=5, description=_NUM_DOWNS_HELP)


class UnetSkipBlock(nn.Module):
    """One resolution level: down (leaky relu, conv, norm), the child, up (relu, transposed
    conv, norm), with the block's input concatenated to its output.

    The leaky relu is in-place, as in the reference, so the skip carries the *activated*
    input; pix2pix weights were trained with exactly that, so it is kept rather than fixed.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        *,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: Norm = "batch",
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        # Every level but the innermost receives the child's output concatenated to its input.
        up_in = inner_nc if innermost else inner_nc * 2

        layers: list[nn.Module]
        if outermost:
            assert submodule is not None
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            # No norm after the innermost down conv: its output is 1x1, where instance norm
            # would zero everything.
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, make_norm(outer_nc)]
        else:
            assert submodule is not None
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, make_norm(inner_nc), submodule]
            layers += [nn.ReLU(True), up_conv, make_norm(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        y = self.model(x)  # may modify x in place (see the class docstring)
        return torch.cat([x, y], 1)


class UnetGenerator(ganzoo.Generator):
    """pix2pix's U-Net: ``num_downs`` stride-2 levels down to 1x1 and back, with skips.

    The skips carry low-level structure straight across, which suits paired translation
    (labels to photo, edges to shoes) where input and output share their layout.
    """

    Config = UnetGeneratorConfig

    def __init__(self, config: UnetGeneratorConfig | Mapping[str, Any] | None = None):
        config = coerce_config(config, UnetGeneratorConfig)
        super().__init__(config)
        c = config
        ngf, kw = c.ngf, {"norm": c.norm}
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(c.num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=c.use_dropout, **kw)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, **kw)
        self.model = UnetSkipBlock(c.output_nc, ngf, input_nc=c.input_nc, submodule=block, outermost=True, **kw)
        _init_weights(self, c.init_type, c.init_gain)

    @property
    def stride(self) -> int:
        return 2**self.config.num_downs  # type: ignore[attr-defined]

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
