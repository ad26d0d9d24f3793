"""Losses of the super-resolution methods: VGG19 perceptual (ESRGAN's conv5_4 before ReLU, and
Real-ESRGAN's five-layer variant) and the relativistic average GAN (ESRGAN). Pixel losses are
the built-in ``l1`` and ``mse``; the plain GAN of Real-ESRGAN is the built-in ``vanilla``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo

VGG19_LAYERS = {
    "conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12, "conv3_3": 14,
    "conv3_4": 16, "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25, "conv5_1": 28, "conv5_2": 30,
    "conv5_3": 32, "conv5_4": 34,
}
"""Index of each conv in torchvision's ``vgg19().features``; the feature is the conv's output,
before its ReLU (ESRGAN's finding: sharper textures and better-kept brightness than after)."""
_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
WEIGHTS_ENV = "GANZOO_VGG19_WEIGHTS"


def vgg19_features(depth: int) -> nn.Sequential:
    """torchvision's ``vgg19().features`` layout up to (and including) module ``depth``, so that
    its state dict keys (``<i>.weight``) match torchvision's ``features.<i>.*``."""
    layers: list[nn.Module] = []
    cin = 3
    for v in _CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, 1, 1), nn.ReLU(inplace=False)]
            cin = int(v)
    return nn.Sequential(*layers[: depth + 1])


class PerceptualLossConfig(ganzoo.LossConfig):
    layers: dict[str, float] = Field(
        default_factory=lambda: {"conv5_4": 1.0},
        description="VGG19 layer -> weight; features before activation. ESRGAN: {conv5_4 = 1}; Real-ESRGAN: "
        "{conv1_2 = 0.1, conv2_2 = 0.1, conv3_4 = 1, conv4_4 = 1, conv5_4 = 1}.")
    criterion: str = Field("l1", pattern="^(l1|mse)$", description="Distance between features: l1 (the references) "
                           "or mse.")
    weights_path: str | None = Field(
        None, description="torchvision's vgg19-dcbb9e9d.pth; unset: $GANZOO_VGG19_WEIGHTS, then torch hub's "
        "checkpoints folder (never downloaded: ganzoo weights fetch vgg19).")
    random_weights: bool = Field(False, description="Tests only: a random VGG19; the loss then means nothing.")


class PerceptualLoss(ganzoo.ReconstructionLoss):
    """Distance between VGG19 features of output and target (ImageNet-normalised [0, 1] inputs),
    summed over layers with their weights. The VGG is frozen and kept out of the method's
    parameters and checkpoints."""

    Config = PerceptualLossConfig

    def __init__(self, config: PerceptualLossConfig, name: str | None = None):
        super().__init__(config, name)
        unknown = [k for k in config.layers if k not in VGG19_LAYERS]
        if unknown:
            raise ganzoo.GanzooError(f"perceptual loss: unknown VGG19 layer(s) {unknown}; choose from "
                                     f"{', '.join(VGG19_LAYERS)}")
        self.indices = {VGG19_LAYERS[k]: w for k, w in config.layers.items()}
        vgg = vgg19_features(max(self.indices))
        if not config.random_weights and self.enabled:
            path = ganzoo.resolve_weights("vgg19", config.weights_path, option="weights_path", env=WEIGHTS_ENV)
            state = torch.load(path, map_location="cpu", weights_only=True)
            own = {k: state[f"features.{k}"] for k in vgg.state_dict() if f"features.{k}" in state}
            if len(own) != len(vgg.state_dict()):
                raise ganzoo.GanzooError(f"{path}: not torchvision's VGG19 weights (features.* keys missing)")
            vgg.load_state_dict(own)
        vgg.eval().requires_grad_(False)
        object.__setattr__(self, "vgg", vgg)  # not a submodule: no parameters, no checkpoint entries
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: Tensor) -> dict[int, Tensor]:
        vgg = self.vgg.to(x.device)  # type: ignore[attr-defined]
        h, out = ((x + 1) / 2 - self.mean) / self.std, {}
        for i, layer in enumerate(vgg):
            if isinstance(layer, nn.MaxPool2d) and min(h.shape[-2:]) < 2:
                continue  # an image under 16 px has no pixel left to pool before conv5_4: keep the one
            h = layer(h)
            if i in self.indices:
                out[i] = h
        return out

    def distance(self, output: Tensor, target: Tensor) -> Tensor:
        fo, ft = self.features(output), self.features(target.detach())
        dist = F.l1_loss if self.config.criterion == "l1" else F.mse_loss  # type: ignore[attr-defined]
        return sum(w * dist(fo[i], ft[i]) for i, w in self.indices.items())  # type: ignore[return-value]


class RelativisticGANLoss(ganzoo.AdversarialLoss):
    """Relativistic average GAN (Jolicoeur-Martineau 2018) as ESRGAN uses it, with logits:
    D(real) should exceed the mean D(fake) and vice versa. D's loss: 0.5 x [BCE(D(r) - E D(f), 1)
    + BCE(D(f) - E D(r), 0)]; G's: 0.5 x [BCE(D(r) - E D(f), 0) + BCE(D(f) - E D(r), 1)], so G
    also needs D's scores of the real images: call :meth:`generator_loss` with ``real``."""

    def generator_loss(self, discriminator: nn.Module, fake: Tensor, real: Tensor | None = None) -> Tensor:
        if real is None:
            raise ganzoo.GanzooError("the relativistic GAN loss needs the real images in the generator step too")
        with torch.no_grad():
            real_pred = discriminator(self.d_input(real.detach()))
        fake_pred = discriminator(self.d_input(fake))
        return self.weight * self.relativistic(real_pred, fake_pred, real_is_real=False)

    @staticmethod
    def relativistic(real_pred: Tensor, fake_pred: Tensor, *, real_is_real: bool) -> Tensor:
        bce = F.binary_cross_entropy_with_logits
        r = real_pred - fake_pred.mean()
        f = fake_pred - real_pred.mean()
        one, zero = (torch.ones_like, torch.zeros_like) if real_is_real else (torch.zeros_like, torch.ones_like)
        return 0.5 * (bce(r, one(r)) + bce(f, zero(f)))

    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        """As BasicSR's D step: each side's mean enters the other side's term as a constant."""
        bce = F.binary_cross_entropy_with_logits
        r = real_pred - fake_pred.detach().mean()
        f = fake_pred - real_pred.detach().mean()
        return 0.5 * (bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)))

    def generator_term(self, fake_pred: Tensor) -> Tensor:  # pragma: no cover - generator_loss is overridden
        raise ganzoo.GanzooError("relativistic GAN: use generator_loss(D, fake, real)")
