"""Super-resolution methods: a PSNR-oriented stage and a GAN stage (SRGAN, ESRGAN, Real-ESRGAN).

Both read LR images from ``A`` and HR images from ``B`` (the ``sr_*`` data sets) and translate
A -> B only, ``scale`` times larger. The GAN stage starts from the PSNR stage's generator
through the recipe's ``[init] from = "runs/<psnr run>"`` (any method can use it), with a fresh
optimizer, as ESRGAN trains.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from torch import Tensor

import ganzoo


class PSNROptimizerConfig(ganzoo.OptimizerConfig):
    """BasicSR's PSNR-stage Adam (SRResNet, RRDB-PSNR): lr 2e-4, betas (0.9, 0.99)."""

    lr: float = Field(2e-4, gt=0, description="Learning rate (BasicSR's PSNR stage: 2e-4).")
    betas: tuple[float, float] = Field((0.9, 0.99), description="Adam (beta1, beta2) (BasicSR: 0.9, 0.99).")


class GANOptimizerConfig(PSNROptimizerConfig):
    """ESRGAN's GAN-stage Adam for G and D: lr 1e-4, betas (0.9, 0.99)."""

    lr: float = Field(1e-4, gt=0, description="Learning rate (ESRGAN's GAN stage: 1e-4).")


class SRConfig(ganzoo.MethodConfig):
    optimizer: PSNROptimizerConfig = Field(default_factory=PSNROptimizerConfig,
                                           description="Optimizer (BasicSR: Adam 2e-4, betas 0.9/0.99).")
    tile: int = Field(0, ge=0, description="Inference on overlapping tiles of this many LR pixels when an image is "
                      "larger (memory stays bounded); 0: whole images.")
    tile_overlap: int = Field(16, ge=0, description="LR pixels of context around each tile.")


class _SRMethod(ganzoo.Method):
    requires_paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("a2b",)

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        if direction != "a2b":
            raise ganzoo.GanzooError("super-resolution translates LR (A) -> HR (B) only")
        return self.G(x)

    def generators(self) -> dict[str, Any]:
        return {"G": self.G}

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}


class SRPSNR(_SRMethod):
    """The PSNR-oriented stage (SRResNet, RRDB-PSNR): the generator alone, trained on a pixel
    loss (L1 as BasicSR; MSE as the SRGAN paper)."""

    Config = SRConfig
    slots = {
        "generator": ganzoo.Slot("generator", "rrdbnet", help="LR -> HR network (rrdbnet, srresnet_16blocks)."),
        "pixel_loss": ganzoo.Slot("loss", "l1", help="Pixel loss to the HR image (l1, or mse)."),
    }

    def __init__(self, config: SRConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G = parts["generator"]()
        self.pixel_loss = parts["pixel_loss"]()
        self._visuals: dict[str, Tensor] = {}

    def param_groups(self) -> dict[str, list]:
        return {"G": list(self.G.parameters())}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [ganzoo.TrainStep("G", "G", self.generator_step)]

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        lr, hr = batch["A"], batch["B"]
        sr = self.G(lr)
        self._visuals = {"lr": lr, "sr": sr, "hr": hr}
        return {"G_pix": self.pixel_loss(sr, hr)}


class SRGANConfig(SRConfig):
    optimizer: GANOptimizerConfig = Field(default_factory=GANOptimizerConfig,
                                          description="Optimizer of G and D (ESRGAN: Adam 1e-4, betas 0.9/0.99).")


class SRGAN(_SRMethod):
    """The GAN stage, ESRGAN's defaults: RRDBNet, VGG-style D, L1 x 0.01 + VGG19 conv5_4 (before
    ReLU) x 1 + relativistic average GAN x 0.005. Real-ESRGAN: U-Net D with spectral norm,
    ``vanilla`` GAN x 0.1, the five-layer perceptual loss. Per iteration as BasicSR: G step
    with D frozen, then D step."""

    Config = SRGANConfig
    slots = {
        "generator": ganzoo.Slot("generator", "rrdbnet", help="LR -> HR network; initialise it from the PSNR stage "
                                 "with [init] from = \"runs/...\"."),
        "discriminator": ganzoo.Slot("discriminator", "vgg_sr", help="vgg_sr (ESRGAN, fixed input size) or "
                                     "unet_sn (Real-ESRGAN, per-pixel)."),
        "pixel_loss": ganzoo.Slot("loss", "l1", {"weight": 0.01}, help="Pixel loss (ESRGAN: L1 x 0.01; Real-ESRGAN: "
                                  "x 1)."),
        "perceptual_loss": ganzoo.Slot("loss", "perceptual", help="VGG19 feature loss (ESRGAN: conv5_4 x 1)."),
        "gan_loss": ganzoo.Slot("loss", "relativistic", {"weight": 0.005},
                                help="relativistic (ESRGAN, x 0.005) or vanilla (Real-ESRGAN, x 0.1)."),
    }

    def __init__(self, config: SRGANConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G = parts["generator"]()
        self.D = parts["discriminator"]()
        self.pixel_loss = parts["pixel_loss"]()
        self.perceptual_loss = parts["perceptual_loss"]()
        self.gan_loss = parts["gan_loss"]()
        self.relativistic = hasattr(self.gan_loss, "relativistic")
        self._visuals: dict[str, Tensor] = {}
        self._sr: Tensor | None = None

    def param_groups(self) -> dict[str, list]:
        return {"G": list(self.G.parameters()), "D": list(self.D.parameters())}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D,)),
            ganzoo.TrainStep("D", "D", self.discriminator_step),
        ]

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        lr, hr = batch["A"], batch["B"]
        sr = self.G(lr)
        self._sr = sr
        self._visuals = {"lr": lr, "sr": sr, "hr": hr}
        losses = {"G_pix": self.pixel_loss(sr, hr)}
        if self.perceptual_loss.enabled:
            losses["G_percep"] = self.perceptual_loss(sr, hr)
        extra = {"real": hr} if self.relativistic else {}
        losses["G_GAN"] = self.gan_loss.generator_loss(self.D, sr, **extra)
        return losses

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        sr = self._sr if self._sr is not None else self.G(batch["A"])
        self._sr = None
        return {"D": self.gan_loss.discriminator_loss(self.D, batch["B"], sr)}
