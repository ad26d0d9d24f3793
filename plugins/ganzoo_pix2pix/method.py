"""The pix2pix training algorithm: a conditional GAN plus an L1 term, on paired data.

Defaults are the reference's pix2pix settings (``--model pix2pix``): U-Net 256 generator with
batch norm and dropout, 70x70 PatchGAN discriminator with batch norm judging the concatenated
(A, B) pair, vanilla GAN loss, L1 weight 100, Adam 2e-4 with beta1 0.5, constant then linear
decay, no image pool.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

import ganzoo


class Pix2PixConfig(ganzoo.MethodConfig):
    """Adam(2e-4, betas 0.5/0.999) and constant-then-linear decay: the engine's defaults are the
    reference's, so nothing is restated here."""


class Pix2Pix(ganzoo.Method):
    """Paired translation A -> B with a conditional PatchGAN and an L1 term (Isola et al. 2017).

    D sees the input and an output side by side (6 channels for RGB), so it judges whether B
    fits A, not only whether B looks real. Per iteration, as the reference's
    ``optimize_parameters``: G translates A, then D steps (real pair vs detached fake pair,
    0.5 x the sum), then G steps with D frozen (GAN term + 100 x L1). It needs paired data
    (``aligned``, ``paired_folders``, or the procedural set's test split) and translates A -> B
    only; a direction flip belongs in the data (``direction = "BtoA"``).
    """

    Config = Pix2PixConfig
    requires_paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("a2b",)
    # The reference tests without --eval: dropout on, batch norm on the test image's statistics
    # (batch 1), the pix2pix paper's protocol.
    test_mode: ClassVar[str] = "train"
    slots = {
        "generator": ganzoo.Slot(
            "generator", "unet_256", {"norm": "batch", "use_dropout": True},
            help="G: A -> B. The reference's U-Net with batch norm and dropout (its only noise source).",
        ),
        "discriminator": ganzoo.Slot(
            "discriminator", "patchgan", {"input_nc": 6, "norm": "batch"},
            help="D: judges (A, B) pairs concatenated on channels, so input_nc = G's input_nc + output_nc.",
        ),
        "gan_loss": ganzoo.Slot("loss", "vanilla", help="Adversarial objective (the reference's gan_mode vanilla)."),
        "l1_loss": ganzoo.Slot("loss", "l1", {"weight": 100.0}, help="|G(A) - B| (lambda_L1 = 100)."),
    }

    def __init__(self, config: Pix2PixConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G = parts["generator"]()
        self.D = parts["discriminator"]()
        self.gan_loss = parts["gan_loss"]()
        self.l1_loss = parts["l1_loss"]()
        g_in = getattr(self.G.config, "input_nc", None)
        g_out = getattr(self.G.config, "output_nc", None)
        d_in = getattr(self.D.config, "input_nc", None)
        if None not in (g_in, g_out, d_in) and d_in != g_in + g_out:
            raise ganzoo.GanzooError(
                f"pix2pix: discriminator.input_nc is {d_in} but D sees A and B concatenated: set it to "
                f"generator.input_nc + generator.output_nc = {g_in + g_out}"
            )
        self._visuals: dict[str, Tensor] = {}
        self._fake_B: Tensor | None = None

    def param_groups(self) -> dict[str, list]:
        return {"G": list(self.G.parameters()), "D": list(self.D.parameters())}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D,)),
        ]

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        """The forward pass of the iteration (kept for the G step), then D's loss on real and
        detached fake pairs."""
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self.G(real_A)
        self._fake_B = fake_B
        self._visuals = {"real_A": real_A, "fake_B": fake_B, "real_B": real_B}
        real_AB = torch.cat([real_A, real_B], 1)
        fake_AB = torch.cat([real_A, fake_B], 1)  # detached inside discriminator_loss
        return {"D": self.gan_loss.discriminator_loss(self.D, real_AB, fake_AB)}

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self._fake_B if self._fake_B is not None else self.G(real_A)
        self._fake_B = None  # the graph is used once
        return {
            "G_GAN": self.gan_loss.generator_loss(self.D, torch.cat([real_A, fake_B], 1)),
            "G_L1": self.l1_loss(fake_B, real_B),
        }

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        if direction != "a2b":
            raise ganzoo.GanzooError(
                "pix2pix translates A -> B only (one generator); to learn B -> A, train with the data's "
                "direction swapped (aligned: direction = \"BtoA\")"
            )
        return self.G(x)

    def generators(self) -> dict[str, Any]:
        return {"G": self.G}

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}
