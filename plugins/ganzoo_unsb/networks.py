"""UNSB's networks (Kim et al. 2023, cyclomon/UNSB ``ncsn_networks.py``): a ResNet generator
conditioned on the bridge's time step and on a noise vector, and a PatchGAN conditioned on
the time step, used both as the discriminator and as the energy network.

Why conditioning at all: one generator serves every step of the bridge's chain, so it must
know how far along the chain its input is (the time embedding), and it models a conditional
*distribution* of targets, not one image (the noise vector z, mapped as in StyleGAN and
injected as a per-channel scale and shift, AdaIN-style). The time step enters as its index
k = 0..T-1, as the reference passes it.

Down- and up-sampling are anti-aliased by default as in the reference (a [1, 2, 1] blur before
subsampling, a [1, 3, 3, 1] filter for upsampling; Zhang 2019), so features shift with the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo.layers import BlurDownsample, BlurUpsample, InitType, Norm, init_weights, norm_layer

N_DOWNSAMPLING = 2


# --------------------------------------------------------------------------- pieces


def sinusoidal_embedding(index: Tensor, dim: int, max_positions: int = 10_000) -> Tensor:
    """Transformer-style embedding of integer time steps: (N,) -> (N, dim), sines then cosines
    of the step at geometrically spaced frequencies from 1 to 1/max_positions."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=index.device, dtype=torch.float32)
                      * (-math.log(max_positions) / max(half - 1, 1)))
    angles = index.float()[:, None] * freqs[None, :]
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(emb, (0, dim % 2))


def time_index(t: int | Tensor | None, n: int, device: torch.device) -> Tensor:
    """A batch's time-step indices as an (N,) long tensor, from one int, a tensor or None (step 0)."""
    if isinstance(t, Tensor):
        return t.to(device=device, dtype=torch.long).expand(n) if t.ndim == 0 else t.to(device, torch.long)
    return torch.full((n,), int(t or 0), device=device, dtype=torch.long)


def _mlp(dims: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(0.2)]
    return layers


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of the step index (``dim`` wide), then two linear + leaky-ReLU layers."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(*_mlp([dim, out_dim, out_dim]))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class PixelNorm(nn.Module):
    """Scales each vector to unit root-mean-square (StyleGAN's input normalisation of z)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def init_type_field() -> Any:
    return Field("xavier", description="Weight init: xavier (normal, std gain x sqrt(2 / (fan_in + fan_out)), the "
                 "reference's), normal (std gain, CycleGAN's: larger, learns faster in short runs), kaiming or "
                 "orthogonal (ganzoo.layers.init_weights).")


def _padded_conv(dim: int, padding_type: str, bias: bool) -> list[nn.Module]:
    if padding_type == "zero":
        return [nn.Conv2d(dim, dim, 3, padding=1, bias=bias)]
    pad = nn.ReflectionPad2d(1) if padding_type == "reflect" else nn.ReplicationPad2d(1)
    return [pad, nn.Conv2d(dim, dim, 3, bias=bias)]


# --------------------------------------------------------------------------- generator


class TimeResnetGeneratorConfig(ganzoo.GeneratorConfig):
    ngf: int = Field(64, gt=0, description="Filters of the first conv; the bottleneck and the noise: 4 x ngf.")
    n_blocks: int = Field(9, ge=1, description="Residual blocks at the bottleneck (the reference's ResNet-9).")
    norm: Norm = Field("instance", description="Normalisation: instance (no affine, as the reference), batch, none.")
    padding_type: Literal["reflect", "replicate", "zero"] = Field(
        "reflect", description="Padding inside residual blocks.")
    use_dropout: bool = Field(False, description="Dropout(0.5) inside residual blocks (the reference: off).")
    antialias: bool = Field(True, description="Blur-pool downsampling (the reference's); false: stride-2 convs.")
    antialias_up: bool = Field(
        True, description="Blur upsampling + conv (the reference's default); false: transposed convs.")
    n_mlp: int = Field(3, ge=0, description="Layers of the noise mapping after its first (3: four linear layers).")
    init_type: InitType = init_type_field()
    init_gain: float = Field(0.02, ge=0, description="Gain (xavier) or standard deviation (normal) of the init.")


class TimeResBlock(nn.Module):
    """conv -> norm -> per-channel scale and shift from z, + time projection -> ReLU -> conv ->
    norm, with an identity shortcut. The z scale and shift start at 1 and 0 (the block starts as
    a plain residual block whatever z is).

    The time projection is added *after* the normalisation: added before an instance norm, as
    the reference's layout would place it, a per-channel constant is subtracted right away
    again and the block would not depend on the time step at all."""

    def __init__(self, dim: int, cond_dim: int, c: TimeResnetGeneratorConfig):
        super().__init__()
        bias = c.norm == "instance"
        self.conv1 = nn.Sequential(*_padded_conv(dim, c.padding_type, bias))
        self.norm1 = norm_layer(c.norm)(dim)
        self.time = nn.Linear(cond_dim, dim)
        self.style = nn.Linear(cond_dim, 2 * dim)
        rest: list[nn.Module] = [nn.ReLU(True)] + ([nn.Dropout(0.5)] if c.use_dropout else [])
        self.conv2 = nn.Sequential(*rest, *_padded_conv(dim, c.padding_type, bias), norm_layer(c.norm)(dim))

    def forward(self, x: Tensor, t_emb: Tensor, z_emb: Tensor) -> Tensor:
        h = self.norm1(self.conv1(x))
        scale, shift = self.style(z_emb)[:, :, None, None].chunk(2, dim=1)
        return x + self.conv2(scale * h + shift + self.time(t_emb)[:, :, None, None])


class TimeResnetGenerator(ganzoo.Generator):
    """UNSB's generator: CUT's ResNet (7x7 conv, two downsamplings, residual blocks, two
    upsamplings, 7x7 conv, tanh) with every residual block conditioned on the time step and on
    a noise vector z (``4 x ngf`` wide, through PixelNorm and a ``1 + n_mlp``-layer mapping).

    ``forward(x, t, z)``: ``x`` the bridge's state at step ``t`` (an index 0..T-1, default 0),
    ``z`` the noise (default: a fresh N(0, I) draw); returns its prediction of the target image.
    Named features for PatchNCE: ``input`` (the padded input), ``down1``/``down2`` (the two
    downsampling convs), ``block1``..``blockN`` (residual block outputs).
    """

    Config = TimeResnetGeneratorConfig

    def __init__(self, config: TimeResnetGeneratorConfig):
        super().__init__(config)
        c = config
        bias = c.norm == "instance"
        self.z_dim = width = c.ngf * 2**N_DOWNSAMPLING
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c.input_nc, c.ngf, 7, bias=bias),
                                  norm_layer(c.norm)(c.ngf), nn.ReLU(True))
        self.down = nn.ModuleList()
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2**i
            if c.antialias:
                self.down.append(nn.Sequential(nn.Conv2d(ch, 2 * ch, 3, padding=1, bias=bias),
                                               norm_layer(c.norm)(2 * ch), nn.ReLU(True), BlurDownsample(2 * ch)))
            else:
                self.down.append(nn.Sequential(nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1, bias=bias),
                                               norm_layer(c.norm)(2 * ch), nn.ReLU(True)))
        self.blocks = nn.ModuleList(TimeResBlock(width, width, c) for _ in range(c.n_blocks))
        up: list[nn.Module] = []
        for i in range(N_DOWNSAMPLING):
            ch = c.ngf * 2 ** (N_DOWNSAMPLING - i)
            if c.antialias_up:
                up += [BlurUpsample(ch), nn.Conv2d(ch, ch // 2, 3, padding=1, bias=bias)]
            else:
                up += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)]
            up += [norm_layer(c.norm)(ch // 2), nn.ReLU(True)]
        self.up = nn.Sequential(*up, nn.ReflectionPad2d(3), nn.Conv2d(c.ngf, c.output_nc, 7), nn.Tanh())
        self.z_mapping = nn.Sequential(PixelNorm(), *_mlp([width] * (c.n_mlp + 2)))
        self.time_embedding = TimeEmbedding(c.ngf, width)
        init_weights(self, c.init_type, c.init_gain)
        for block in self.blocks:  # scale 1, shift 0 at the start
            nn.init.ones_(block.style.bias[:width])

    @property
    def stride(self) -> int:
        return 2**N_DOWNSAMPLING

    def feature_layers(self) -> dict[str, int]:
        """Layer name -> channels of the features :meth:`features` can return."""
        c = self.config
        names = {"input": c.input_nc, "down1": 2 * c.ngf, "down2": 4 * c.ngf}
        return names | {f"block{i + 1}": self.z_dim for i in range(len(self.blocks))}

    def compute_features(self, x: Tensor, layers: list[str], t: int | Tensor | None = None,
                         z: Tensor | None = None) -> list[Tensor]:
        """The named features of ``x`` at step ``t`` with noise ``z`` (``G.features(x, layers,
        t=..., z=...)``); the network runs only as deep as the deepest layer asked for."""
        found = self._run(x, t, z, set(layers))
        return [found[name] for name in layers]

    def forward(self, x: Tensor, t: int | Tensor | None = None, z: Tensor | None = None) -> Tensor:
        return self._run(x, t, z, None)["output"]

    def _run(self, x: Tensor, t: int | Tensor | None, z: Tensor | None, wanted: set[str] | None) -> dict[str, Tensor]:
        found: dict[str, Tensor] = {}

        def keep(name: str, value: Tensor) -> bool:
            """Record a wanted feature; True once every wanted one is found (stop there)."""
            if wanted is not None and name in wanted:
                found[name] = value
            return wanted is not None and len(found) == len(wanted)

        n = x.shape[0]
        t_emb = self.time_embedding(time_index(t, n, x.device))
        z = torch.randn(n, self.z_dim, device=x.device) if z is None else z
        z_emb = self.z_mapping(z.to(x.dtype))
        h = self.stem[0](x)
        if keep("input", h):
            return found
        h = self.stem[1:](h)
        for i, stage in enumerate(self.down):
            h = stage[0](h)
            if keep(f"down{i + 1}", h):
                return found
            h = stage[1:](h)
        for i, block in enumerate(self.blocks):
            h = block(h, t_emb, z_emb)
            if keep(f"block{i + 1}", h):
                return found
        found["output"] = self.up(h)
        return found


# --------------------------------------------------------------------------- discriminators


class TimePatchGANConfig(ganzoo.DiscriminatorConfig):
    ndf: int = Field(64, gt=0, description="Filters of the first conv; the time embedding is 4 x ndf wide.")
    n_layers: int = Field(3, ge=1, description="Downsampling conv blocks (3: the 70x70 PatchGAN of the reference).")
    norm: Norm = Field("instance", description="Normalisation of all but the first block.")
    antialias: bool = Field(True, description="Stride-1 convs + blur-pool (the reference); false: stride-2 convs.")
    init_type: InitType = init_type_field()
    init_gain: float = Field(0.02, ge=0, description="Gain (xavier) or standard deviation (normal) of the init.")


class EnergyConfig(TimePatchGANConfig):
    input_nc: int = Field(
        12, gt=0, description="Channels of its input: two (x_t, x_1) pairs side by side, 4 x the image channels.")


class TimeConvBlock(nn.Module):
    """4x4 conv -> + time projection -> (norm) -> leaky ReLU -> (2x subsampling)."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, *, norm: Norm | None, down: bool, antialias: bool):
        super().__init__()
        stride = 2 if down and not antialias else 1
        self.conv = nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=norm in (None, "instance"))
        self.time = nn.Linear(t_dim, c_out)
        self.norm = norm_layer(norm)(c_out) if norm else nn.Identity()
        self.down = BlurDownsample(c_out) if down and antialias else nn.Identity()

    def forward(self, x: Tensor, t_emb: Tensor) -> Tensor:
        h = self.conv(x) + self.time(t_emb)[:, :, None, None]
        return self.down(F.leaky_relu(self.norm(h), 0.2))


class TimePatchGAN(ganzoo.Discriminator):
    """A PatchGAN whose every conv block adds a projection of the time-step embedding
    (sinusoidal, ``4 x ndf`` wide, then two linear layers): it judges realism *at step t*.

    ``forward(x, t)`` with ``t`` the step index (int or (N,) tensor, default 0). UNSB uses it as
    the discriminator on images and, with ``4 x`` the channels, as the energy network on two
    (x_t, x_1) pairs concatenated along the channels.
    """

    Config = TimePatchGANConfig

    def __init__(self, config: TimePatchGANConfig):
        super().__init__(config)
        c = config
        t_dim = 4 * c.ndf
        self.time_embedding = TimeEmbedding(t_dim, t_dim)
        blocks = [TimeConvBlock(c.input_nc, c.ndf, t_dim, norm=None, down=True, antialias=c.antialias)]
        mult = 1
        for n in range(1, c.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            blocks.append(TimeConvBlock(c.ndf * prev, c.ndf * mult, t_dim, norm=c.norm, down=n < c.n_layers,
                                        antialias=c.antialias))
        self.blocks = nn.ModuleList(blocks)
        self.final = nn.Conv2d(c.ndf * mult, 1, 4, padding=1)
        init_weights(self, c.init_type, c.init_gain)

    def forward(self, x: Tensor, t: int | Tensor | None = None) -> Tensor:
        t_emb = self.time_embedding(time_index(t, x.shape[0], x.device))
        for block in self.blocks:
            x = block(x, t_emb)
        return self.final(x)


class EnergyNetwork(TimePatchGAN):
    """UNSB's energy network E: the time-conditioned PatchGAN on two (x_t, x_1) pairs
    concatenated along the channels (12 channels for RGB), one score map per pair of pairs."""

    Config = EnergyConfig
