"""DiscoGAN's networks, after SKTBrain/DiscoGAN ``discogan/model.py``.

Generator: an encoder of 4x4 stride-2 convs (leaky ReLU 0.2, batch norm after all but the first)
and a mirror decoder of 4x4 stride-2 transposed convs (batch norm, ReLU), with no skip
connections: the whole image passes a 4x4 bottleneck at 64 px, which is what lets DiscoGAN
change shape (handbags to shoes) and not only texture. Discriminator: the same encoder plus a
4x4 valid conv to one score, returning the intermediate activations the feature-matching loss
compares.

Defaults reproduce the reference at 64 px (``n_layers = 4``, 64 filters doubling to 512, no
conv bias, PyTorch's default init); ``n_layers`` adapts them to smaller images. Layer order
and names follow the reference, so its weights map onto these modules key for key.
"""

from __future__ import annotations

import ganzoo
from pydantic import Field
from torch import Tensor, nn


def _mult(i: int, max_mult: int) -> int:
    """Channel multiplier of encoder layer ``i`` (0-based): 1, 2, 4, 8, then capped."""
    return min(2**i, max_mult)


class EncoderDecoderConfig(ganzoo.GeneratorConfig):
    ngf: int = Field(64, gt=0, description="Filters of the first encoder conv; layer i has ngf x 2^i (capped).")
    n_layers: int = Field(
        4, ge=1, le=8,
        description="Stride-2 convs down and transposed convs up (4 in the reference: 64 px -> 4 px -> 64 px). "
        "Inputs must be a multiple of 2^n_layers.",
    )
    max_mult: int = Field(8, gt=0, description="Cap of the channel multiplier (ngf x 8 = 512 in the reference).")
    bottleneck: int = Field(
        0, ge=0,
        description="The reference's extra_layers: a 4x4 valid conv to this many channels (100 there) at the "
        "bottleneck and back. Needs the bottleneck to be exactly 4x4 (64 px with 4 layers). 0: none.",
    )


class EncoderDecoderGenerator(ganzoo.Generator):
    """DiscoGAN's encoder-decoder generator: strided convs down to a small bottleneck, transposed
    convs back up, no skip connections (Kim et al. 2017).

    The output goes through tanh, where the reference uses a sigmoid: ganzoo's images are in
    [-1, 1], the reference's were in [0, 1]; the layer shapes are unchanged.
    """

    Config = EncoderDecoderConfig

    def __init__(self, config: EncoderDecoderConfig):
        super().__init__(config)
        ngf, n, cap = config.ngf, config.n_layers, config.max_mult
        layers: list[nn.Module] = [
            nn.Conv2d(config.input_nc, ngf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for i in range(1, n):
            layers += [
                nn.Conv2d(ngf * _mult(i - 1, cap), ngf * _mult(i, cap), 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * _mult(i, cap)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        inner = ngf * _mult(n - 1, cap)
        if config.bottleneck:
            layers += [
                nn.Conv2d(inner, config.bottleneck, 4, 1, 0, bias=False),
                nn.BatchNorm2d(config.bottleneck),
                nn.LeakyReLU(0.2, inplace=True),
                nn.ConvTranspose2d(config.bottleneck, inner, 4, 1, 0, bias=False),
                nn.BatchNorm2d(inner),
                nn.ReLU(True),
            ]
        for i in range(n - 1, 0, -1):
            layers += [
                nn.ConvTranspose2d(ngf * _mult(i, cap), ngf * _mult(i - 1, cap), 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * _mult(i - 1, cap)),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(ngf, config.output_nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    @property
    def stride(self) -> int:
        return 2**self.config.n_layers

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)


class DiscoGANDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    ndf: int = Field(64, gt=0, description="Filters of the first conv; layer i has ndf x 2^i (capped).")
    n_layers: int = Field(
        4, ge=1, le=8,
        description="Stride-2 convs before the final 4x4 valid conv (4 in the reference, for 64 px). Inputs "
        "must be at least 4 x 2^n_layers pixels: use 3 at 32 px, 2 at 16 px.",
    )
    max_mult: int = Field(8, gt=0, description="Cap of the channel multiplier (ndf x 8 = 512 in the reference).")


class DiscoGANDiscriminator(ganzoo.Discriminator):
    """DiscoGAN's discriminator: strided 4x4 convs (batch norm and leaky ReLU after all but the
    first) and a 4x4 valid conv to one logit per 4x4 window of the last feature map (one per
    image at the reference's size).

    ``forward`` returns logits, so any ganzoo adversarial loss applies (``vanilla`` is the
    reference's sigmoid + BCE); ``forward_features`` also returns the activations of every
    layer but the first, which the ``discogan_fm`` loss matches.
    """

    Config = DiscoGANDiscriminatorConfig

    def __init__(self, config: DiscoGANDiscriminatorConfig):
        super().__init__(config)
        ndf, n, cap = config.ndf, config.n_layers, config.max_mult
        # Attribute names (conv1, bn2, relu2, ...) are the reference's, so its weights load by key.
        self.conv1 = nn.Conv2d(config.input_nc, ndf, 4, 2, 1, bias=False)
        self.relu1 = nn.LeakyReLU(0.2, inplace=True)
        for i in range(2, n + 1):
            setattr(self, f"conv{i}", nn.Conv2d(ndf * _mult(i - 2, cap), ndf * _mult(i - 1, cap), 4, 2, 1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(ndf * _mult(i - 1, cap)))
            setattr(self, f"relu{i}", nn.LeakyReLU(0.2, inplace=True))
        setattr(self, f"conv{n + 1}", nn.Conv2d(ndf * _mult(n - 1, cap), 1, 4, 1, 0, bias=False))

    @property
    def min_size(self) -> int:
        """Smallest input side: the final 4x4 valid conv needs a 4x4 feature map."""
        return 4 * 2**self.config.n_layers

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and the activations after layers 2..n_layers (the reference's relu2..relu4)."""
        if min(x.shape[-2:]) < self.min_size:
            n = self.config.n_layers
            raise ganzoo.GanzooError(
                f"discogan discriminator: images of {x.shape[-2]}x{x.shape[-1]} px are too small for "
                f"n_layers = {n}, which needs at least {self.min_size} px; set discriminator.n_layers to "
                f"{max(1, (min(x.shape[-2:]) // 4).bit_length() - 1)} or use larger images"
            )
        h = self.relu1(self.conv1(x))
        features = []
        for i in range(2, self.config.n_layers + 1):
            h = getattr(self, f"relu{i}")(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)))
            features.append(h)
        return getattr(self, f"conv{self.config.n_layers + 1}")(h), features

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)[0]
