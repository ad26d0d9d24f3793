"""MUNIT (Huang, Liu, Belongie & Kautz, "Multimodal Unsupervised Image-to-Image Translation",
ECCV 2018), after the reference's ``MUNIT_Trainer`` and ``configs/edges2shoes_folder.yaml``.

Each domain has an auto-encoder whose code is split into content (shared across domains) and
style (the domain's). A->B decodes A's content with a B style drawn from N(0, I): one input, as
many outputs as styles. Per iteration, as the reference: the discriminators step, then the
auto-encoders, on within-domain image reconstruction, reconstruction of the content and of the
(random) style from the translation, and the adversarial terms of the translations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_unit.losses import VGGPerceptualLoss
from ganzoo_unit.method import TwoAutoEncoders, TwoAutoEncodersConfig


class MUNITConfig(TwoAutoEncodersConfig):
    recon_s_w: float = Field(1.0, ge=0, description="Weight of the L1 reconstruction of the random style from "
                                                    "the translation (reference: 1).")
    recon_c_w: float = Field(1.0, ge=0, description="Weight of the L1 reconstruction of the content from the "
                                                    "translation (reference: 1).")
    recon_x_cyc_w: float = Field(0.0, ge=0, description="Weight of the style-augmented cycle A->B->A with the "
                                                        "image's own style; 0 = off (reference: 0, 10 for "
                                                        "summer2winter).")
    vgg_w: float = Field(0.0, ge=0, description="Weight of the domain-invariant perceptual loss (VGG16 relu5_3, "
                                                "instance-normalised); 0 = off (reference: 0, 1 for synthia2city).")
    vgg_weights: Path | None = Field(None, description="VGG16 weights for vgg_w > 0, as UNIT's (docs/unit.md); "
                                                       "never downloaded.")


class MUNIT(TwoAutoEncoders):
    """Multimodal unpaired translation through content and style codes (Huang et al. 2018).

    ``translate(x, direction)`` draws one style per image from N(0, I) with torch's random
    generator (so ``ganzoo translate --seed``/``--samples`` choose them); ``translate(x,
    direction, reference=y)`` takes the style of ``y``, images of the target domain (one for all
    inputs, or one per input).
    """

    Config = MUNITConfig
    stochastic_inference = True
    slots = {
        "generator": ganzoo.Slot("generator", "munit_adain",
                                 help="Each domain's auto-encoder (built twice); needs encode(), decode(), "
                                      "encode_style() and random_style()."),
        "discriminator": ganzoo.Slot("discriminator", "multiscale_patchgan",
                                     help="dis_a judges domain A, dis_b domain B (built twice)."),
        "gan_loss": ganzoo.Slot("loss", "lsgan", help="Adversarial objective; set method.gan_w for its weight."),
    }

    def __init__(self, config: MUNITConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.gen_a, self.gen_b = parts["generator"](), parts["generator"]()
        self.dis_a, self.dis_b = parts["discriminator"](), parts["discriminator"]()
        self.gan_loss = parts["gan_loss"]()
        for name in ("encode", "decode", "encode_style", "random_style"):
            if not callable(getattr(self.gen_a, name, None)):
                raise ganzoo.GanzooError(f"method 'munit' needs a content/style generator such as 'munit_adain'; "
                                         f"{type(self.gen_a).__name__} has no {name}()")
        self.vgg = VGGPerceptualLoss(config.vgg_weights) if config.vgg_w > 0 else None
        self._visuals: dict[str, Tensor] = {}

    # ------------------------------------------------------------------ steps

    def _random_styles(self, x_a: Tensor, x_b: Tensor) -> tuple[Tensor, Tensor]:
        return self.gen_a.random_style(len(x_a), x_a.device), self.gen_b.random_style(len(x_b), x_b.device)

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        """The reference's ``dis_update``: D on real images and on translations with random styles."""
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        s_a, s_b = self._random_styles(x_a, x_b)
        with torch.no_grad():
            x_ba = self.gen_a.decode(self.gen_b.encode(x_b)[0], s_a)
            x_ab = self.gen_b.decode(self.gen_a.encode(x_a)[0], s_b)
        scale = c.gan_w * c.dis_loss_scale
        return {"dis_a": scale * self.gan_loss.discriminator_loss(self.dis_a, x_a, x_ba),
                "dis_b": scale * self.gan_loss.discriminator_loss(self.dis_b, x_b, x_ab)}

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        """The reference's ``gen_update``. Terms whose weight is 0 are not computed."""
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        s_a, s_b = self._random_styles(x_a, x_b)
        c_a, s_a_own = self.gen_a.encode(x_a)
        c_b, s_b_own = self.gen_b.encode(x_b)
        x_a_recon, x_ba = self.gen_a.decode(c_a, s_a_own), self.gen_a.decode(c_b, s_a)
        x_b_recon, x_ab = self.gen_b.decode(c_b, s_b_own), self.gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = self.gen_a.encode(x_ba)  # x_ba is in domain A: A's encoders
        c_a_recon, s_b_recon = self.gen_b.encode(x_ab)

        losses: dict[str, Tensor] = {}
        if c.gan_w:
            losses["gan_a"] = c.gan_w * self.gan_loss.generator_loss(self.dis_a, x_ba)
            losses["gan_b"] = c.gan_w * self.gan_loss.generator_loss(self.dis_b, x_ab)
        losses["recon_x_a"] = c.recon_x_w * F.l1_loss(x_a_recon, x_a)
        losses["recon_x_b"] = c.recon_x_w * F.l1_loss(x_b_recon, x_b)
        if c.recon_s_w:
            losses["recon_s_a"] = c.recon_s_w * F.l1_loss(s_a_recon, s_a)
            losses["recon_s_b"] = c.recon_s_w * F.l1_loss(s_b_recon, s_b)
        if c.recon_c_w:
            losses["recon_c_a"] = c.recon_c_w * F.l1_loss(c_a_recon, c_a)
            losses["recon_c_b"] = c.recon_c_w * F.l1_loss(c_b_recon, c_b)
        x_aba = x_bab = None
        if c.recon_x_cyc_w:  # back with the image's own style
            x_aba, x_bab = self.gen_a.decode(c_a_recon, s_a_own), self.gen_b.decode(c_b_recon, s_b_own)
            losses["cyc_x_a"] = c.recon_x_cyc_w * F.l1_loss(x_aba, x_a)
            losses["cyc_x_b"] = c.recon_x_cyc_w * F.l1_loss(x_bab, x_b)
        if self.vgg is not None:
            losses["vgg_a"] = c.vgg_w * self.vgg(x_ba, x_b)
            losses["vgg_b"] = c.vgg_w * self.vgg(x_ab, x_a)

        visuals = {"real_A": x_a, "A2B": x_ab, "A2B2A": x_aba, "A2A": x_a_recon,
                   "real_B": x_b, "B2A": x_ba, "B2A2B": x_bab, "B2B": x_b_recon}
        self._visuals = {k: v.detach() for k, v in visuals.items() if v is not None}
        return losses

    # ------------------------------------------------------------------ inference

    def _pair(self, direction: str) -> tuple[nn.Module, nn.Module]:
        if direction == "a2b":
            return self.gen_a, self.gen_b
        if direction == "b2a":
            return self.gen_b, self.gen_a
        raise ganzoo.GanzooError(f"unknown direction '{direction}' (a2b, b2a)")

    def style_of(self, reference: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        """Style codes of ``reference``, images of the *target* domain of ``direction``."""
        return self._pair(direction)[1].encode_style(reference)

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b", *, reference: Tensor | None = None,
                  style: Tensor | None = None) -> Tensor:
        """A's content decoded by B's decoder (for a2b) in a style: ``style`` if given, else the
        style of ``reference`` (1 image for all inputs, or one per input), else one drawn from
        N(0, I) per image."""
        src, dst = self._pair(direction)
        content = src.encode(x)[0]
        if style is None and reference is not None:
            style = dst.encode_style(reference.to(x.device, x.dtype))
        if style is None:
            style = dst.random_style(len(x), x.device)
        if len(style) not in (1, len(x)):
            raise ganzoo.GanzooError(f"{len(style)} style references for {len(x)} inputs: give 1 or {len(x)}")
        return dst.decode(content, style.to(content.dtype).expand(len(x), *style.shape[1:]))

    def export_module(self, direction: ganzoo.Direction = "a2b") -> tuple[nn.Module, str]:
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        style = self._pair(direction)[1].random_style(1)
        torch.random.set_rng_state(torch_state)
        return FixedStyle(self, direction, style), ("exports the translation in the style drawn with seed 0, as "
                                                    "ganzoo translate --seed 0 computes it")

    def extra_state(self) -> dict[str, Any]:
        return {}


class FixedStyle(nn.Module):
    """One direction's translation in one fixed style: a deterministic module to export."""

    def __init__(self, method: MUNIT, direction: str, style: Tensor):
        super().__init__()
        self.src, self.dst = method._pair(direction)
        self.register_buffer("style", style)

    def forward(self, x: Tensor) -> Tensor:
        return self.dst.decode(self.src.encode(x)[0], self.style.expand(x.shape[0], -1, -1, -1))
