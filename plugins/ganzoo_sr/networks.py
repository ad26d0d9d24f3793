"""Super-resolution networks: SRResNet (Ledig et al. 2017), RRDBNet (ESRGAN, Wang et al. 2018),
the VGG-style discriminator of SRGAN/ESRGAN and the U-Net discriminator with spectral norm of
Real-ESRGAN (Wang et al. 2021). Layouts follow the papers and XPixelGroup/BasicSR (facts, not
code). Generators map (N, C, h, w) to (N, C, scale*h, scale*w); :attr:`scale` tells inference
and evaluation the factor.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

import ganzoo

SCALES = (2, 3, 4, 8)


def _check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
    return scale


def _factors(scale: int) -> list[int]:
    """Up-sampling stages: x3 in one step, powers of two as repeated x2 (as the references)."""
    return [3] if scale == 3 else [2] * (scale.bit_length() - 1)


@torch.no_grad()
def _scaled_kaiming(modules: list[nn.Module], scale: float) -> None:
    """Kaiming-normal weights times ``scale``, zero biases: BasicSR's ``default_init_weights``,
    which keeps a deep stack of residual branches near the identity at the start."""
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(sub.weight)
                sub.weight.mul_(scale)
                if sub.bias is not None:
                    sub.bias.zero_()


class SRGeneratorConfig(ganzoo.GeneratorConfig):
    scale: int = Field(4, description="Up-scaling factor: 2, 3, 4 or 8.")
    nf: int = Field(64, gt=0, description="Feature channels.")

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: int) -> int:
        return _check_scale(value)


class SRGenerator(ganzoo.Generator):
    """Base of the up-scaling generators: ``scale`` says how much larger the output is."""

    @property
    def scale(self) -> int:
        return int(self.config.scale)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ SRResNet


class SRResNetConfig(SRGeneratorConfig):
    n_blocks: int = Field(16, gt=0, description="Residual blocks (SRGAN paper: 16).")
    norm: Literal["batch", "none"] = Field(
        "batch", description="batch: the SRGAN paper's blocks (conv-BN-PReLU-conv-BN); none: BasicSR's MSRResNet "
        "style without batch norm (better for PSNR and small batches).")


class _ResBlock(nn.Module):
    def __init__(self, nf: int, norm: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nf, nf, 3, 1, 1)]
        layers += [nn.BatchNorm2d(nf)] if norm else []
        layers += [nn.PReLU(nf) if norm else nn.ReLU(inplace=True), nn.Conv2d(nf, nf, 3, 1, 1)]
        layers += [nn.BatchNorm2d(nf)] if norm else []
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(SRGenerator):
    """SRGAN's generator: 9x9 head, ``n_blocks`` residual blocks, a long skip, sub-pixel
    (pixel-shuffle) up-sampling x2 per stage (x3 in one), 9x9 tail."""

    Config = SRResNetConfig

    def __init__(self, config: SRResNetConfig):
        super().__init__(config)
        nf, norm = config.nf, config.norm == "batch"
        self.head = nn.Sequential(nn.Conv2d(config.input_nc, nf, 9, 1, 4), nn.PReLU(nf))
        self.body = nn.Sequential(*[_ResBlock(nf, norm) for _ in range(config.n_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), *([nn.BatchNorm2d(nf)] if norm else []))
        up: list[nn.Module] = []
        for f in _factors(config.scale):
            up += [nn.Conv2d(nf, nf * f * f, 3, 1, 1), nn.PixelShuffle(f), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(nf, config.output_nc, 9, 1, 4)
        if not norm:
            _scaled_kaiming([self.body], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.tail(self.upsample(feat))


# ------------------------------------------------------------------ RRDBNet


class RRDBNetConfig(SRGeneratorConfig):
    n_blocks: int = Field(23, gt=0, description="RRDB blocks (ESRGAN: 23).")
    gc: int = Field(32, gt=0, description="Growth channels of each dense layer (ESRGAN: 32).")
    residual_scale: float = Field(0.2, gt=0, description="Scaling of every residual branch (ESRGAN: 0.2).")


class _DenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int, beta: float):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1) for i in range(5)])
        self.beta = beta
        _scaled_kaiming([self.convs], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in self.convs[:4]:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + self.beta * self.convs[4](torch.cat(feats, 1))


class _RRDB(nn.Module):
    def __init__(self, nf: int, gc: int, beta: float):
        super().__init__()
        self.rdbs = nn.Sequential(*[_DenseBlock(nf, gc, beta) for _ in range(3)])
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return x + self.beta * self.rdbs(x)


class RRDBNet(SRGenerator):
    """ESRGAN's generator: ``n_blocks`` residual-in-residual dense blocks (three 5-layer dense
    blocks each, every residual scaled by 0.2), a long skip, then nearest x2 up-sampling + conv
    + LeakyReLU per stage (x3 in one), conv_hr, conv_last. No batch norm."""

    Config = RRDBNetConfig

    def __init__(self, config: RRDBNetConfig):
        super().__init__(config)
        nf = config.nf
        self.conv_first = nn.Conv2d(config.input_nc, nf, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(nf, config.gc, config.residual_scale) for _ in range(config.n_blocks)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        self.factors = _factors(config.scale)
        self.conv_up = nn.ModuleList([nn.Conv2d(nf, nf, 3, 1, 1) for _ in self.factors])
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, config.output_nc, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for f, conv in zip(self.factors, self.conv_up, strict=True):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=f, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


# ------------------------------------------------------------------ discriminators


class VGGDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    ndf: int = Field(64, gt=0, description="Channels of the first stage (doubling to 8 x ndf).")
    input_size: int = Field(128, ge=32, description="Side of the judged HR crops (GT size: 128 in ESRGAN); "
                            "a multiple of 32.")

    @field_validator("input_size")
    @classmethod
    def _multiple(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"input_size must be a multiple of 32 (five stride-2 stages), got {value}")
        return value


class VGGDiscriminator(ganzoo.Discriminator):
    """SRGAN/ESRGAN's VGG-style D: five stages of (3x3 conv, 4x4 stride-2 conv) with batch norm
    and LeakyReLU 0.2 (no norm on the first conv), channels ndf -> 8 ndf, then Linear(., 100),
    LeakyReLU, Linear(100, 1): one score per image, for a fixed ``input_size``."""

    Config = VGGDiscriminatorConfig

    def __init__(self, config: VGGDiscriminatorConfig):
        super().__init__(config)
        nf, layers, cin = config.ndf, [], config.input_nc
        for i, cout in enumerate([nf, nf * 2, nf * 4, nf * 8, nf * 8]):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=i == 0)]
            layers += [nn.LeakyReLU(0.2, True)] if i == 0 else [nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            layers += [nn.Conv2d(cout, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        side = config.input_size // 32
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(nf * 8 * side * side, 100), nn.LeakyReLU(0.2, True),
                                        nn.Linear(100, 1))

    def forward(self, x: Tensor) -> Tensor:
        size = self.config.input_size  # type: ignore[attr-defined]
        if x.shape[-2:] != (size, size):
            raise ganzoo.GanzooError(f"vgg discriminator: built for {size} px crops, got {tuple(x.shape[-2:])}; set "
                                     "discriminator.input_size to the HR crop size (data.gt_size)")
        return self.classifier(self.features(x))


class UNetDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    ndf: int = Field(64, gt=0, description="Channels of the first level (Real-ESRGAN: 64).")
    skip_connection: bool = Field(True, description="U-Net skips from encoder to decoder (Real-ESRGAN: on).")


class UNetDiscriminator(ganzoo.Discriminator):
    """Real-ESRGAN's U-Net D: a per-pixel realness map. Three stride-2 4x4 convs down, three
    bilinear x2 + 3x3 convs up with skips, two 3x3 convs and a 1-channel head; spectral norm on
    every conv but the first and the last (always: it is the architecture; ``spectral_norm =
    true`` adds it to those two as well), LeakyReLU 0.2. Inputs: sides multiple of 8."""

    Config = UNetDiscriminatorConfig

    def __init__(self, config: UNetDiscriminatorConfig):
        super().__init__(config)
        nf, sn = config.ndf, nn.utils.spectral_norm
        self.skip = config.skip_connection
        self.conv0 = nn.Conv2d(config.input_nc, nf, 3, 1, 1)
        self.down = nn.ModuleList([sn(nn.Conv2d(a, b, 4, 2, 1, bias=False))
                                   for a, b in ((nf, nf * 2), (nf * 2, nf * 4), (nf * 4, nf * 8))])
        self.up = nn.ModuleList([sn(nn.Conv2d(a, b, 3, 1, 1, bias=False))
                                 for a, b in ((nf * 8, nf * 4), (nf * 4, nf * 2), (nf * 2, nf))])
        self.extra = nn.ModuleList([sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False)) for _ in range(2)])
        self.conv_last = nn.Conv2d(nf, 1, 3, 1, 1)

    @property
    def stride(self) -> int:
        return 8

    def forward(self, x: Tensor) -> Tensor:
        feats = [F.leaky_relu(self.conv0(x), 0.2)]
        for conv in self.down:
            feats.append(F.leaky_relu(conv(feats[-1]), 0.2))
        h = feats.pop()
        for conv in self.up:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), 0.2)
            skip = feats.pop()
            h = h + skip if self.skip else h
        for conv in self.extra:
            h = F.leaky_relu(conv(h), 0.2)
        return self.conv_last(h)
