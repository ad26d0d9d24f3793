"""MUNIT's generator (NVlabs/MUNIT ``networks.py``: ``AdaINGen``), written from the paper and the
reference's layout.

An image is split into a *content* code (a spatial feature map shared across domains: the
content encoder, instance norm throughout) and a *style* code (a small vector of the domain:
the style encoder, no norm, global average pooling). The decoder renders a content code in a
style: its residual blocks use adaptive instance norm (AdaIN) whose per-channel scale and shift
come from an MLP of the style code. Instance norm in the content encoder removes the image's
per-channel statistics, i.e. its style; AdaIN in the decoder puts a chosen style back.

Module names (``enc_style``, ``enc_content``, ``dec``, ``mlp``, ``model``) follow the reference
so that state-dict keys read the same. The conv blocks, residual blocks and layer norm are
UNIT's (``ganzoo_unit.layers``), and so is the content encoder (UNIT's encoder is the
reference's ``ContentEncoder``): the two references share them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_unit.layers import Activation, Conv2dBlock, InitType, PadType, _activation, init_weights
from ganzoo_unit.networks import UNITEncoder as ContentEncoder  # the reference's ContentEncoder, instance norm


class MUNITGeneratorConfig(ganzoo.GeneratorConfig):
    dim: int = Field(64, gt=0, description="Filters of the first conv of both encoders; doubled at each of the "
                                           "content encoder's downsamplings (reference: 64).")
    style_dim: int = Field(8, gt=0, description="Length of the style code (reference: 8).")
    n_downsample: int = Field(2, ge=0, description="Stride-2 convs of the content encoder, and upsampling convs "
                                                   "of the decoder (reference: 2).")
    n_style_downsample: int = Field(4, ge=2, description="Stride-2 convs of the style encoder; the first two "
                                                         "double the width (reference: 4).")
    n_res: int = Field(4, ge=1, description="Residual blocks of the content encoder (instance norm) and of the "
                                            "decoder (AdaIN) (reference: 4).")
    mlp_dim: int = Field(256, gt=0, description="Width of the MLP from style code to AdaIN parameters (reference: "
                                                "256).")
    n_mlp: int = Field(3, ge=2, description="Linear layers of that MLP (reference: 3).")
    activ: Activation = Field("relu", description="Activation of every block but the outputs.")
    pad_type: PadType = Field("reflect", description="Padding of every conv (reference configs: reflect).")
    init: InitType = Field("kaiming", description="Init of conv and linear weights (reference configs: kaiming).")


class AdaIN(nn.Module):
    """Adaptive instance norm: instance-normalise each channel (biased variance, eps 1e-5, as the
    reference's batch norm over a (1, N*C, H, W) view), then scale by ``weight`` and shift by
    ``bias``, per sample and channel, both given at call time."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps

    def forward(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return F.instance_norm(x, eps=self.eps) * weight[..., None, None] + bias[..., None, None]


class AdaINConv(nn.Module):
    """pad -> conv -> AdaIN -> activation (the reference's ``Conv2dBlock`` with ``norm='adain'``)."""

    def __init__(self, dim: int, activation: Activation, pad_type: PadType):
        super().__init__()
        self.conv = Conv2dBlock(dim, dim, 3, 1, 1, norm="none", activation="none", pad_type=pad_type)
        self.norm = AdaIN(dim)
        self.activation = _activation(activation)

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        """``params``: (N, 2 * C), shifts first then scales (the reference's order)."""
        c = self.norm.num_features
        x = self.norm(self.conv(x), params[:, c:], params[:, :c])
        return x if self.activation is None else self.activation(x)


class AdaINResBlock(nn.Module):
    def __init__(self, dim: int, activation: Activation, pad_type: PadType):
        super().__init__()
        self.model = nn.ModuleList([AdaINConv(dim, activation, pad_type), AdaINConv(dim, "none", pad_type)])

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        first, second = params.chunk(2, dim=1)
        return x + self.model[1](self.model[0](x, first), second)


class StyleEncoder(nn.Module):
    """7x7 conv, two stride-2 convs doubling the width, ``n_downsample - 2`` more at that width,
    global average pooling, 1x1 conv to ``style_dim``; no norm (it would erase the style)."""

    def __init__(self, n_downsample: int, input_dim: int, dim: int, style_dim: int, activ: Activation,
                 pad_type: PadType):
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm="none", activation=activ,
                                               pad_type=pad_type)]
        for i in range(n_downsample):
            out = 2 * dim if i < 2 else dim
            layers.append(Conv2dBlock(dim, out, 4, 2, 1, norm="none", activation=activ, pad_type=pad_type))
            dim = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """``n_res`` AdaIN residual blocks, then per upsampling a nearest 2x upsample and a 5x5 conv
    with the reference's layer norm, then a 7x7 conv and tanh."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, output_dim: int, activ: Activation,
                 pad_type: PadType):
        super().__init__()
        self.res = nn.ModuleList([AdaINResBlock(dim, activ, pad_type) for _ in range(n_res)])
        self.num_adain_params = 4 * dim * n_res  # a shift and a scale per channel, two norms per block
        layers: list[nn.Module] = []
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       Conv2dBlock(dim, dim // 2, 5, 1, 2, norm="ln", activation=activ, pad_type=pad_type)]
            dim //= 2
        layers.append(Conv2dBlock(dim, output_dim, 7, 1, 3, norm="none", activation="tanh", pad_type=pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, content: Tensor, adain_params: Tensor) -> Tensor:
        x = content
        for block, params in zip(self.res, adain_params.chunk(len(self.res), dim=1), strict=True):
            x = block(x, params)
        return self.model(x)


class MLP(nn.Module):
    """Style code -> AdaIN parameters: ``n_blk`` linear layers, activation between, none at the end."""

    def __init__(self, input_dim: int, output_dim: int, dim: int, n_blk: int, activ: Activation):
        super().__init__()
        sizes = [input_dim] + [dim] * (n_blk - 1) + [output_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            act = _activation(activ) if i < n_blk - 1 else None
            if act is not None:
                layers.append(act)
        self.model = nn.Sequential(*layers)

    def forward(self, style: Tensor) -> Tensor:
        return self.model(style.flatten(1))


def adain_param_count(dim: int, n_downsample: int, n_res: int) -> int:
    """AdaIN parameters the MLP outputs: a scale and a shift per channel, two norms per block."""
    return 4 * dim * 2 ** n_downsample * n_res


class MUNITGenerator(ganzoo.Generator):
    """A domain's auto-encoder: ``encode`` -> (content, style), ``decode(content, style)`` -> image.

    Translation A->B is ``gen_b.decode(gen_a.encode(x)[0], style)`` with a style drawn from the
    prior N(0, I) or encoded from a B image; it lives in the ``munit`` method. ``forward``
    reconstructs within the domain (the image's own style).
    """

    Config = MUNITGeneratorConfig

    def __init__(self, config: MUNITGeneratorConfig):
        super().__init__(config)
        c = config
        if c.input_nc != c.output_nc:
            raise ganzoo.GanzooError(f"munit_adain encodes and decodes one domain: input_nc ({c.input_nc}) must "
                                     f"equal output_nc ({c.output_nc})")
        self.enc_style = StyleEncoder(c.n_style_downsample, c.input_nc, c.dim, c.style_dim, c.activ, c.pad_type)
        self.enc_content = ContentEncoder(c.n_downsample, c.n_res, c.input_nc, c.dim, c.activ, c.pad_type)
        self.dec = Decoder(c.n_downsample, c.n_res, self.enc_content.output_dim, c.output_nc, c.activ, c.pad_type)
        self.mlp = MLP(c.style_dim, self.dec.num_adain_params, c.mlp_dim, c.n_mlp, c.activ)
        init_weights(self, c.init)

    @property
    def stride(self) -> int:
        return 2 ** self.config.n_downsample

    @property
    def style_dim(self) -> int:
        return self.config.style_dim

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(content, style)``: a (N, C, H/stride, W/stride) map and a (N, style_dim, 1, 1) code."""
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ganzoo.GanzooError(f"munit_adain: input {tuple(x.shape[-2:])} is not a multiple of {self.stride} "
                                     "(2 ** n_downsample) in height and width; pad or crop it")
        return self.enc_content(x), self.encode_style(x)

    def encode_style(self, x: Tensor) -> Tensor:
        """(N, style_dim, 1, 1) codes of images of any size from 2 ** n_style_downsample px up
        (global pooling: a style reference need not have the input's size)."""
        least = 2 ** self.config.n_style_downsample
        if min(x.shape[-2:]) < least:
            raise ganzoo.GanzooError(f"munit_adain: a style image of {tuple(x.shape[-2:])} px is smaller than the "
                                     f"{least} px its style encoder needs (2 ** n_style_downsample)")
        return self.enc_style(x)

    def decode(self, content: Tensor, style: Tensor) -> Tensor:
        return self.dec(content, self.mlp(style))

    def random_style(self, n: int, device: torch.device | str = "cpu") -> Tensor:
        """``n`` style codes from the prior N(0, I), drawn on the CPU with torch's global generator
        and then moved: the same seed gives the same styles on every device."""
        return torch.randn(n, self.style_dim, 1, 1).to(device)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(*self.encode(x))
