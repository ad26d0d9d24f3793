"""The CUT and FastCUT training algorithms.

Naming follows the reference: G maps A->B, D judges domain B, and the PatchNCE projection heads
(the reference's netF) live in the loss and form the param group ``F``, stepped with G.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor

import ganzoo

_CUT_NETWORK = {"init_type": "xavier", "init_gain": 0.02, "antialias": True}
"""The reference's networks: xavier init with gain 0.02, anti-aliased resampling."""


class CUTConfig(ganzoo.MethodConfig):
    """The optimizer and schedule are the engine's defaults, which are the reference's: Adam(2e-4,
    betas 0.5/0.999) for G, F and D, constant for the first half of the run, then linear decay."""

    nce_idt: bool = Field(
        True, description="Identity NCE: PatchNCE of G(y) against y as well, averaged with the x term; G sees x "
        "and y in one batch (CUT: on; FastCUT: off).")
    flip_equivariance: bool = Field(
        False, description="Flip the input horizontally at random and compare the output's features flipped "
        "back, so G must commute with the flip (FastCUT's regulariser).")


class FastCUTScheduleConfig(ganzoo.ScheduleConfig):
    decay_start: float = Field(
        0.75, ge=0, le=1, description="linear: fraction of the run at constant lr (FastCUT: 150 of 150+50 epochs).")


class FastCUTConfig(CUTConfig):
    nce_idt: bool = Field(False, description="Identity NCE of G(y) against y (CUT: on; FastCUT: off).")
    flip_equivariance: bool = Field(True, description="Flip-equivariance regulariser (FastCUT: on).")
    schedule: FastCUTScheduleConfig = Field(
        default_factory=FastCUTScheduleConfig, description="Constant for 3/4 of the run, then linear decay to 0.")


class CUT(ganzoo.Method):
    """One-sided unpaired translation A->B by patchwise contrastive learning (Park et al. 2020).

    No second generator and no cycle: a patch of G(x) must match the patch of x at the same
    place (PatchNCE on G's own encoder features), and an LSGAN discriminator makes G(x) look
    like B. Per iteration, as the reference: G translates once; D steps on real B against the
    detached fakes; then G and the projection heads step together on the adversarial term and
    PatchNCE (with ``nce_idt``, the mean of NCE(x, G(x)) and NCE(y, G(y)), each logged at half
    weight so the logged terms sum to the loss).
    """

    Config = CUTConfig
    directions = ("a2b",)
    slots = {
        "generator": ganzoo.Slot("generator", "resnet_9blocks", _CUT_NETWORK, help="G: A->B (and its features)."),
        "discriminator": ganzoo.Slot("discriminator", "patchgan", _CUT_NETWORK, help="D: judges domain B."),
        "gan_loss": ganzoo.Slot("loss", "lsgan", help="Adversarial objective (lambda_GAN: its weight, 1)."),
        "nce_loss": ganzoo.Slot("loss", "patchnce", {"weight": 1.0}, help="PatchNCE (lambda_NCE: its weight, 1)."),
    }

    def __init__(self, config: CUTConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G = parts["generator"]()
        self.D = parts["discriminator"](input_nc=self.G.config.output_nc)
        self.gan_loss = parts["gan_loss"]()
        self.nce_loss = parts["nce_loss"](channels=self.G.feature_layers())
        if config.nce_idt and self.G.config.input_nc != self.G.config.output_nc:
            raise ganzoo.GanzooError(f"method 'cut': identity NCE feeds B images to G, which takes "
                                     f"{self.G.config.input_nc} channels, not {self.G.config.output_nc}; "
                                     "set method.nce_idt = false")
        self._visuals: dict[str, Tensor] = {}
        self._flipped = False

    def param_groups(self) -> dict[str, list]:
        groups = {"G": list(self.G.parameters()), "D": list(self.D.parameters())}
        heads = list(self.nce_loss.parameters())
        return {**groups, "F": heads} if heads else groups

    def train_steps(self) -> list[ganzoo.TrainStep]:
        heads = ("F",) if "F" in self.param_groups() else ()
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D,), also=heads),
        ]

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        real = torch.cat([real_A, real_B]) if self.config.nce_idt else real_A
        # the CPU generator: checkpointed, so a resumed run draws the same flips
        self._flipped = self.config.flip_equivariance and bool(torch.rand(()) < 0.5)
        fake = self.G(real.flip(3) if self._flipped else real)
        self._fake_B, self._idt_B = fake[:len(real_A)], fake[len(real_A):]
        unflip = (lambda t: t.flip(3)) if self._flipped else (lambda t: t)
        self._visuals = {"real_A": real_A, "fake_B": unflip(self._fake_B), "real_B": real_B}
        if self.config.nce_idt:
            self._visuals["idt_B"] = unflip(self._idt_B)
        return {"D": self.gan_loss.discriminator_loss(self.D, real_B, self._fake_B)}

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        losses = {"G_GAN": self.gan_loss.generator_loss(self.D, self._fake_B)}
        if self.nce_loss.enabled:
            share = 0.5 if self.config.nce_idt else 1.0
            losses["NCE"] = share * self.patch_nce(batch["A"], self._fake_B)
            if self.config.nce_idt:
                losses["NCE_Y"] = share * self.patch_nce(batch["B"], self._idt_B)
        return losses

    def patch_nce(self, source: Tensor, output: Tensor) -> Tensor:
        """PatchNCE between G's features of ``source`` (the keys: no gradient, so computed without
        a graph) and of ``output``, flipped back when the input was flipped."""
        layers = self.nce_loss.layers
        out_feats = self.G.features(output, layers)
        if self._flipped:
            out_feats = [f.flip(3) for f in out_feats]
        with torch.no_grad():
            src_feats = self.G.features(source, layers)
        return self.nce_loss(src_feats, out_feats)

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        if direction != "a2b":
            raise ganzoo.GanzooError(f"{type(self).__name__} translates A -> B only (one-sided, one generator); "
                                     "to learn B -> A, train another run with the data's A and B swapped")
        return self.G(x)

    def generators(self) -> dict[str, Any]:
        return {"G": self.G}

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}


class FastCUT(CUT):
    """CUT's faster variant: no identity NCE (G sees only x), PatchNCE weight 10 and flip
    equivariance; the reference trains it 150 + 50 epochs."""

    Config = FastCUTConfig
    slots = {**CUT.slots, "nce_loss": ganzoo.Slot("loss", "patchnce", {"weight": 10.0},
                                                  help="PatchNCE (lambda_NCE: its weight, 10 for FastCUT).")}
