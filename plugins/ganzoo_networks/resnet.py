"""The ResNet encoder-residual-decoder generator of CycleGAN (Johnson et al.'s style-transfer net).

Layer order and indices match the reference ``ResnetGenerator``/``ResnetBlock`` so that
``model.<i>.*`` and ``model.<i>.conv_block.<j>.*`` keys of published checkpoints line up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_networks.common import (
    InitType,
    Norm,
    PaddingType,
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

N_DOWNSAMPLING = 2


class ResnetGeneratorConfig(ganzoo.GeneratorConfig):
    ngf: int = ngf_field()
    norm: Norm = norm_field()
    use_dropout: bool = dropout_field()
    padding_type: PaddingType = Field(
        "reflect", description="Padding inside residual blocks: reflect (reference), replicate or zero."
    )
    n_blocks: int = Field(9, ge=0, description="Residual blocks at the bottleneck (9 for 256 px, 6 for 128 px).")
    init_type: InitType = init_type_field()
    init_gain: float = init_gain_field()


class Resnet6BlocksConfig(ResnetGeneratorConfig):
    n_blocks: int = Field(6, ge=0, description="Residual blocks at the bottleneck (9 for 256 px, 6 for 128 px).")


class ResnetBlock(nn.Module):
    """conv-norm-relu-(dropout)-conv-norm with an identity shortcut.

    The padding is a separate module (or the conv's own zero padding), which is why the
    convs sit at ``conv_block.1``/``conv_block.5`` with reflect padding but at 0/3 with zero.
    """

    def __init__(self, dim: int, padding_type: PaddingType, norm: Norm, use_dropout: bool):
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = []
        for second in (False, True):
            pad, padding = _pad(padding_type)
            layers += pad
            layers += [nn.Conv2d(dim, dim, 3, padding=padding, bias=bias), make_norm(dim)]
            if not second:
                layers.append(nn.ReLU(True))
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


def _pad(padding_type: str) -> tuple[list[nn.Module], int]:
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    if padding_type == "zero":
        return [], 1
    raise ValueError(f"unknown padding_type '{padding_type}' (reflect, replicate, zero)")


class ResnetGenerator(ganzoo.Generator):
    """CycleGAN's ResNet generator: 7x7 conv, two stride-2 downsamplings, residual blocks,
    two transposed-conv upsamplings, 7x7 conv and tanh.

    Keeps the full resolution of any input whose sides are multiples of 4, which is why it
    is the default for unpaired translation where content must stay in place.
    """

    Config = ResnetGeneratorConfig

    def __init__(self, config: ResnetGeneratorConfig | Mapping[str, Any] | None = None):
        config = coerce_config(config, ResnetGeneratorConfig)
        super().__init__(config)
        c = config
        make_norm, bias = norm_layer(c.norm), conv_bias(c.norm)
        # The stem always reflects, whatever padding_type says: the reference does the same.
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.input_nc, c.ngf, 7, padding=0, bias=bias),
            make_norm(c.ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2**i
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias), make_norm(ch * 2), nn.ReLU(True)]
        width = c.ngf * 2**N_DOWNSAMPLING
        layers += [ResnetBlock(width, c.padding_type, c.norm, c.use_dropout) for _ in range(c.n_blocks)]
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2 ** (N_DOWNSAMPLING - i)
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(ch // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c.ngf, c.output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        _init_weights(self, c.init_type, c.init_gain)

    @property
    def stride(self) -> int:
        return 2**N_DOWNSAMPLING

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
