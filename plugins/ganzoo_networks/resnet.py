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
from ganzoo.layers import BlurDownsample, BlurUpsample
from ganzoo_networks.common import (
    InitType,
    Norm,
    PaddingType,
    antialias_field,
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
    antialias: bool = antialias_field()


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
    two transposed-conv upsamplings, 7x7 conv and tanh (with ``antialias``, CUT's variant:
    stride-1 convs with blur-pool down, blur upsampling then convs up).

    Keeps the full resolution of any input whose sides are multiples of 4, which is why it
    is the default for unpaired translation where content must stay in place.

    Offers the encoder's features to feature losses (PatchNCE) by name: ``input`` (the
    reflect-padded image), ``down1`` and ``down2`` (the outputs of the two down-sampling convs,
    before their norm) and ``block1`` ... ``blockN`` (the outputs of the residual blocks). CUT
    uses input, down1, down2, block1 and block5: the reference's layers 0, 4, 8, 12 and 16.
    """

    Config = ResnetGeneratorConfig

    def __init__(self, config: ResnetGeneratorConfig | Mapping[str, Any] | None = None):
        config = coerce_config(config, ResnetGeneratorConfig)
        super().__init__(config)
        c = config
        make_norm, bias = norm_layer(c.norm), conv_bias(c.norm)
        # The stem always reflects, whatever padding_type says: the reference does the same.
        layers: list[nn.Module] = [nn.ReflectionPad2d(3)]
        # name -> (index in self.model of the module whose output it is, channels)
        self._feature_index: dict[str, tuple[int, int]] = {"input": (0, c.input_nc)}
        layers += [nn.Conv2d(c.input_nc, c.ngf, 7, padding=0, bias=bias), make_norm(c.ngf), nn.ReLU(True)]
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2**i
            self._feature_index[f"down{i + 1}"] = (len(layers), ch * 2)
            stride = 1 if c.antialias else 2
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=stride, padding=1, bias=bias), make_norm(ch * 2), nn.ReLU(True)]
            layers += [BlurDownsample(ch * 2)] if c.antialias else []
        width = c.ngf * 2**N_DOWNSAMPLING
        for i in range(c.n_blocks):
            self._feature_index[f"block{i + 1}"] = (len(layers), width)
            layers.append(ResnetBlock(width, c.padding_type, c.norm, c.use_dropout))
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2 ** (N_DOWNSAMPLING - i)
            if c.antialias:
                up = [BlurUpsample(ch), nn.Conv2d(ch, ch // 2, 3, stride=1, padding=1, bias=bias)]
            else:
                up = [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)]
            layers += [*up, make_norm(ch // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c.ngf, c.output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        _init_weights(self, c.init_type, c.init_gain)

    @property
    def stride(self) -> int:
        return 2**N_DOWNSAMPLING

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def feature_layers(self) -> dict[str, int]:
        return {name: channels for name, (_, channels) in self._feature_index.items()}

    def compute_features(self, x: Tensor, layers: list[str]) -> list[Tensor]:
        wanted = {self._feature_index[name][0] for name in layers}
        found: dict[int, Tensor] = {}
        for index, module in enumerate(self.model):
            x = module(x)
            if index in wanted:
                found[index] = x
                if len(found) == len(wanted):  # the decoder is not needed: stop here
                    break
        return [found[self._feature_index[name][0]] for name in layers]
