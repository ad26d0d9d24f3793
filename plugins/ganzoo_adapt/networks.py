"""Task networks (a small U-Net segmenter, a small classifier) and DANN's domain classifier.

Both task networks split into :meth:`embed` (image -> the feature map the prediction is made
from) and :meth:`head` (features -> logits), so feature-level adaptation (DANN) can align the
features the prediction actually reads. Batch norm throughout, as the usual task networks: its
running statistics are one of the things a domain shift breaks, which the source-only baseline
should show rather than hide.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

import ganzoo


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class SegUNetConfig(ganzoo.TaskNetworkConfig):
    output_nc: int = Field(4, gt=1, description="Number of classes (the procedural data: background + 3 kinds).")
    ngf: int = Field(16, gt=0, description="Channels of the first level; doubled at each level down.")
    depth: int = Field(2, ge=1, le=5, description="Down-sampling levels (inputs must be multiples of 2^depth).")


class SegUNet(ganzoo.TaskNetwork):
    """A small U-Net (Ronneberger et al. 2015): image -> per-pixel class logits."""

    Config = SegUNetConfig

    def __init__(self, config: SegUNetConfig):
        super().__init__(config)
        c = config
        widths = [c.ngf * 2**i for i in range(c.depth + 1)]
        self.down = nn.ModuleList([_block(c.input_nc, widths[0])]
                                  + [_block(widths[i], widths[i + 1]) for i in range(c.depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(c.depth))])
        self.merge = nn.ModuleList([_block(2 * widths[i], widths[i]) for i in reversed(range(c.depth))])
        self.classify = nn.Conv2d(widths[0], c.output_nc, 1)
        self.pool = nn.MaxPool2d(2)

    @property
    def stride(self) -> int:
        return 2 ** self.config.depth  # type: ignore[attr-defined]

    @property
    def feature_channels(self) -> int:
        return self.config.ngf  # type: ignore[attr-defined]

    @property
    def bottleneck_channels(self) -> int:
        return self.config.ngf * 2**self.config.depth  # type: ignore[attr-defined]

    def embed(self, x: Tensor, bottleneck: list[Tensor] | None = None) -> Tensor:
        """The last full-resolution features, (N, ngf, H, W): the 1x1 head reads only these.
        ``bottleneck``, a list, receives the deepest encoder features (for DANN's ``align``)."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        if bottleneck is not None:
            bottleneck.append(x)
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return x

    def head(self, features: Tensor) -> Tensor:
        return self.classify(features)


class TaskClassifierConfig(ganzoo.TaskNetworkConfig):
    output_nc: int = Field(3, gt=0, description="Number of classes (or of labels, for multi-hot labels).")
    ndf: int = Field(16, gt=0, description="Channels of the first conv; doubled at each stride-2 level.")
    n_layers: int = Field(3, ge=1, le=6, description="Stride-2 levels before global average pooling.")


class TaskClassifier(ganzoo.TaskNetwork):
    """A small CNN classifier: image -> (N, output_nc, 1, 1) logits (a 1x1 map, so the same losses
    and code paths serve it and the segmenter)."""

    Config = TaskClassifierConfig

    def __init__(self, config: TaskClassifierConfig):
        super().__init__(config)
        c, layers, cin = config, [], config.input_nc
        for i in range(c.n_layers):
            cout = c.ndf * 2**i
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(True)]
            cin = cout
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.feature_channels = cin
        self.classify = nn.Conv2d(cin, c.output_nc, 1)

    def embed(self, x: Tensor) -> Tensor:
        """Globally pooled features, (N, C, 1, 1)."""
        return self.body(x)

    def head(self, features: Tensor) -> Tensor:
        return self.classify(features)


class DomainClassifierConfig(ganzoo.DiscriminatorConfig):
    ndf: int = Field(32, gt=0, description="Hidden channels.")
    n_layers: int = Field(2, ge=1, le=6, description="Conv layers before the logit (stride 2 from the second).")


class DomainClassifier(ganzoo.Discriminator):
    """Judges whether a feature map comes from the source (0) or the target (1) domain, per patch.
    ``input_nc`` is set by the method to the task network's feature channels."""

    Config = DomainClassifierConfig

    def __init__(self, config: DomainClassifierConfig):
        super().__init__(config)
        c, layers, cin = config, [], config.input_nc
        for i in range(c.n_layers):
            layers += [nn.Conv2d(cin, c.ndf, 3, stride=1 if i == 0 else 2, padding=1), nn.LeakyReLU(0.2, True)]
            cin = c.ndf
        self.body = nn.Sequential(*layers, nn.Conv2d(cin, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
