"""StarGAN v2's four networks (Choi et al. 2020; layout as clovaai/stargan-v2 ``core/model.py``,
written anew here): the AdaIN-residual generator, the mapping network, the style encoder and
the multi-head discriminator.

Why this shape: one generator serves every domain, so the domain and the style of the output
enter only through a style code ``s`` (AdaIN scales and shifts in every decoder block). A
style code comes either from noise (mapping network, one output head per domain) or from an
example image (style encoder, one head per domain), and the discriminator has one real/fake
logit per domain, read at the domain being judged. Every residual block divides its sum by
sqrt(2) to keep unit variance, as the reference.

Widths follow the reference: the first layer has ``2**14 // image_size`` channels (64 at 256 px),
doubling at each down-sampling up to ``max_conv_dim``; ``dim`` overrides it for narrow nets.

Only the discriminator is a registered component: G, the mapping network and the style encoder
are not image-to-image networks in ganzoo's sense (G's output is not squashed into [-1, 1] and
needs a style code, F maps noise, E maps images to codes), so the method builds them from its
own config and the discriminator's size and widths, as the reference builds all four from one
``img_size``.
Weights start from He-normal (fan-in, ReLU gain) with zero biases, the reference's ``he_init``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

import ganzoo

_SQRT2 = math.sqrt(2.0)


def he_init(module: nn.Module) -> None:
    """He-normal weights (fan-in, ReLU gain) and zero biases on every conv and linear layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def base_width(image_size: int, dim: int | None) -> int:
    return dim if dim is not None else 2**14 // image_size


def pick(per_domain: Tensor, domain: Tensor | None) -> Tensor:
    """(N, K, ...) per-domain outputs -> (N, ...) at each item's domain; all K when ``domain`` is None."""
    if domain is None:
        return per_domain
    domain = domain.to(per_domain.device, torch.long).reshape(-1).expand(per_domain.shape[0])
    return per_domain[torch.arange(per_domain.shape[0], device=per_domain.device), domain]


class _SizeConfig(ganzoo.ComponentConfig):
    image_size: int = Field(256, ge=8, description="Training image side (a power of 2); sets the depth and widths.")
    dim: int | None = Field(
        None, gt=0,
        description="Channels of the first layer; None: the reference's 2**14 // image_size (64 at 256 px).",
    )
    max_conv_dim: int = Field(512, gt=0, description="Widest layer (the reference: 512).")

    @field_validator("image_size")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"image_size must be a power of 2 (the networks halve it down to 4 px), got {v}")
        return v


class DownBlock(nn.Module):
    """Pre-activation residual block (LeakyReLU 0.2), optional affine instance norm and 2x average-pool."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.skip = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(x)
        h = self.conv1(F.leaky_relu(self.norm1(x), 0.2))
        if self.downsample:
            skip, h = F.avg_pool2d(skip, 2), F.avg_pool2d(h, 2)
        h = self.conv2(F.leaky_relu(self.norm2(h), 0.2))
        return (skip + h) / _SQRT2


class AdaIN(nn.Module):
    """Instance norm whose per-channel scale (1 + gamma) and shift beta are a linear map of the style code."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class UpBlock(nn.Module):
    """Residual block with AdaIN before each conv, optional 2x nearest up-sampling."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.norm1, self.norm2 = AdaIN(style_dim, dim_in), AdaIN(style_dim, dim_out)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.skip = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        h = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h), s), 0.2))
        return (self.skip(x) + h) / _SQRT2


# --------------------------------------------------------------------------- generator


class StarGANv2GeneratorConfig(ganzoo.GeneratorConfig, _SizeConfig):
    style_dim: int = Field(64, gt=0, description="Length of the style code that drives every AdaIN.")
    w_hpf: float = Field(
        0.0, ge=0, le=0,
        description="High-pass skip connections from a face-landmark network (the reference's CelebA-HQ setting, "
        "1); only 0 (AFHQ's setting, no landmark network) is built.")


class StarGANv2Generator(ganzoo.Generator):
    """x, s -> image: encoder of residual blocks with instance norm (log2(image_size) - 4 down-samplings,
    then 2 at the bottleneck), mirrored by AdaIN-residual decoder blocks driven by ``s``."""

    Config = StarGANv2GeneratorConfig

    def __init__(self, config: StarGANv2GeneratorConfig):
        super().__init__(config)
        c = config
        dim = base_width(c.image_size, c.dim)
        self.n_down = max(0, int(math.log2(c.image_size)) - 4)  # down to 16x16 at the bottleneck
        self.from_rgb = nn.Conv2d(c.input_nc, dim, 3, 1, 1)
        encode, decode = [], []
        for _ in range(self.n_down):
            out = min(2 * dim, c.max_conv_dim)
            encode.append(DownBlock(dim, out, normalize=True, downsample=True))
            decode.insert(0, UpBlock(out, dim, c.style_dim, upsample=True))
            dim = out
        for _ in range(2):
            encode.append(DownBlock(dim, dim, normalize=True))
            decode.insert(0, UpBlock(dim, dim, c.style_dim))
        self.encode, self.decode = nn.ModuleList(encode), nn.ModuleList(decode)
        width = base_width(c.image_size, c.dim)
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(width, c.output_nc, 1, 1, 0))
        he_init(self)

    @property
    def stride(self) -> int:
        return 2**self.n_down

    def forward(self, x: Tensor, s: Tensor) -> Tensor:  # type: ignore[override]
        """``x`` (N, C, H, W) with sides a multiple of :attr:`stride`, in the style ``s`` (N, style_dim).
        The output is not squashed (the reference has no tanh); translate clamps it to [-1, 1]."""
        h = self.from_rgb(x)
        for block in self.encode:
            h = block(h)
        for block in self.decode:
            h = block(h, s)
        return self.to_rgb(h)


# --------------------------------------------------------------------------- mapping network


class MappingNetworkConfig(ganzoo.GeneratorConfig):
    latent_dim: int = Field(16, gt=0, description="Length of the random code z.")
    style_dim: int = Field(64, gt=0, description="Length of the style code (the generator's style_dim).")
    hidden_dim: int = Field(512, gt=0, description="Width of every hidden layer.")
    num_domains: int = Field(2, ge=1, description="Output heads, one per domain (set by the method).")


class MappingNetwork(ganzoo.Generator):
    """z, domain -> style: 4 shared linear + ReLU layers, then per domain 3 linear + ReLU and a
    linear output layer; returns the head of each item's domain (all heads when domain is None)."""

    Config = MappingNetworkConfig

    def __init__(self, config: MappingNetworkConfig):
        super().__init__(config)
        c, h = config, config.hidden_dim
        self.shared = nn.Sequential(*[m for d in (c.latent_dim, h, h, h) for m in (nn.Linear(d, h), nn.ReLU())])
        self.heads = nn.ModuleList(
            nn.Sequential(*[m for _ in range(3) for m in (nn.Linear(h, h), nn.ReLU())], nn.Linear(h, c.style_dim))
            for _ in range(c.num_domains))
        he_init(self)

    def forward(self, z: Tensor, domain: Tensor | None = None) -> Tensor:  # type: ignore[override]
        h = self.shared(z)
        return pick(torch.stack([head(h) for head in self.heads], dim=1), domain)


# --------------------------------------------------------------------------- style encoder and discriminator


def _trunk(input_nc: int, image_size: int, dim: int | None, max_conv_dim: int) -> tuple[nn.Sequential, int]:
    """The conv trunk the style encoder and the discriminator share in shape (not in weights):
    log2(image_size) - 2 down-sampling residual blocks to 4x4, then a 4x4 conv to 1x1."""
    dim = base_width(image_size, dim)
    layers: list[nn.Module] = [nn.Conv2d(input_nc, dim, 3, 1, 1)]
    for _ in range(int(math.log2(image_size)) - 2):
        out = min(2 * dim, max_conv_dim)
        layers.append(DownBlock(dim, out, downsample=True))
        dim = out
    layers += [nn.LeakyReLU(0.2), nn.Conv2d(dim, dim, 4, 1, 0), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers), dim


class StyleEncoderConfig(ganzoo.GeneratorConfig, _SizeConfig):
    style_dim: int = Field(64, gt=0, description="Length of the style code (the generator's style_dim).")
    num_domains: int = Field(2, ge=1, description="Output heads, one per domain (set by the method).")


class StyleEncoder(ganzoo.Generator):
    """image, domain -> style: the shared trunk, then one linear head per domain. Takes images of
    exactly image_size (its last conv sees a 4x4 map)."""

    Config = StyleEncoderConfig

    def __init__(self, config: StyleEncoderConfig):
        super().__init__(config)
        c = config
        self.trunk, dim = _trunk(c.input_nc, c.image_size, c.dim, c.max_conv_dim)
        self.heads = nn.ModuleList(nn.Linear(dim, c.style_dim) for _ in range(c.num_domains))
        he_init(self)

    def forward(self, x: Tensor, domain: Tensor | None = None) -> Tensor:  # type: ignore[override]
        h = self.trunk(x).flatten(1)
        return pick(torch.stack([head(h) for head in self.heads], dim=1), domain)


class StarGANv2DiscriminatorConfig(ganzoo.DiscriminatorConfig, _SizeConfig):
    num_domains: int = Field(2, ge=1, description="Real/fake logits, one per domain (set by the method).")


class StarGANv2Discriminator(ganzoo.Discriminator):
    """image, domain -> one real/fake logit per image, read from the head of that domain (all
    K logits, (N, K), when domain is None). Takes images of exactly image_size."""

    Config = StarGANv2DiscriminatorConfig

    def __init__(self, config: StarGANv2DiscriminatorConfig):
        super().__init__(config)
        c = config
        trunk, dim = _trunk(c.input_nc, c.image_size, c.dim, c.max_conv_dim)
        self.main = nn.Sequential(*trunk, nn.Conv2d(dim, c.num_domains, 1, 1, 0))
        he_init(self)

    def forward(self, x: Tensor, domain: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """Images of another size than ``image_size`` are resized to it first (for tools that call any
        discriminator; the method refuses training data of another size)."""
        side = self.config.image_size
        if x.shape[-2:] != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        return pick(self.main(x).flatten(1), domain)
