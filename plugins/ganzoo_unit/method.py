"""The UNIT training algorithm (Liu, Breuel & Kautz, "Unsupervised Image-to-Image Translation
Networks", NIPS 2017), as in the reference's 2018 PyTorch code (mingyuliutw/UNIT, ``trainer.py``
``UNIT_Trainer``, ``configs/unit_*_folder.yaml``).

Each domain has a VAE (encoder E, decoder G) and a multi-scale discriminator. Both encoders map
into one shared latent space: a latent of either domain decodes to either domain, which is the
translation. Per iteration, as the reference: the discriminators step first, then the VAEs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_unit.losses import VGGPerceptualLoss, unit_kl


class UNITOptimizerConfig(ganzoo.OptimizerConfig):
    """The reference configs' Adam: lr 1e-4, betas (0.5, 0.999), weight decay 1e-4.

    A subclass with its own field defaults, rather than a default instance, so that a partial
    ``[method.optimizer]`` table (say, only ``lr``) keeps UNIT's weight decay instead of
    falling back to the generic defaults.
    """

    lr: float = Field(1e-4, gt=0, description="Learning rate (reference: 1e-4).")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam (beta1, beta2) (reference: 0.5, 0.999).")
    weight_decay: float = Field(1e-4, ge=0, description="L2 penalty added to Adam's gradient (reference: 1e-4).")


# The core's policy type, reused so that a policy added there is accepted here too.
_Policy = ganzoo.ScheduleConfig.model_fields["policy"].annotation


class UNITScheduleConfig(ganzoo.ScheduleConfig):
    """The reference configs' schedule: lr x 0.5 every 100k iterations (of 1M). A subclass for
    the same reason as :class:`UNITOptimizerConfig`."""

    policy: _Policy = Field(  # type: ignore[valid-type]
        "step",
        description="constant; linear: constant then linearly to 0; step: x gamma every step_size "
        "iterations (UNIT's reference); cosine: cosine to 0.",
    )
    step_size: int = Field(100_000, gt=0, description="step: iterations between decays (reference: 100,000).")
    gamma: float = Field(0.5, gt=0, le=1, description="step: factor applied at each decay (reference: 0.5).")


class TwoAutoEncodersConfig(ganzoo.MethodConfig):
    """What UNIT's and MUNIT's reference configs share: optimizer, schedule, the adversarial and
    image-reconstruction weights, and D's loss scale."""

    optimizer: UNITOptimizerConfig = Field(
        default_factory=UNITOptimizerConfig,
        description="Adam(1e-4, betas 0.5/0.999, weight decay 1e-4) for G and D, as the reference configs.",
    )
    schedule: UNITScheduleConfig = Field(
        default_factory=UNITScheduleConfig,
        description="Step decay: lr x 0.5 every 100,000 iterations, as the reference configs.",
    )
    gan_w: float = Field(1.0, ge=0, description="Weight of the adversarial terms, of G and of D (reference: 1).")
    recon_x_w: float = Field(10.0, ge=0, description="Weight of the L1 within-domain reconstruction (reference: 10).")
    dis_loss_scale: float = Field(
        2.0, gt=0,
        description="Multiplier of D's loss. ganzoo's lsgan (and vanilla) D term is 0.5 x (real + fake); the "
        "reference's is real + fake, so 2 reproduces its D gradient (it matters with Adam through weight "
        "decay and eps). Use 1 with hinge or wgangp.",
    )


class UNITConfig(TwoAutoEncodersConfig):
    recon_kl_w: float = Field(
        0.01, ge=0, description="Weight of the KL of the image latents, mean(mu^2) (reference: 0.01)."
    )
    recon_x_cyc_w: float = Field(
        10.0, ge=0, description="Weight of the L1 cycle reconstruction A->B->A, B->A->B (reference: 10)."
    )
    recon_kl_cyc_w: float = Field(
        0.01, ge=0, description="Weight of the KL of the latents of the translated images (reference: 0.01)."
    )
    vgg_w: float = Field(
        0.0, ge=0,
        description="Weight of the domain-invariant perceptual loss on VGG16 relu5_3; 0 = off. The reference "
        "configs use 1 for gta2city (recipes/unit_gta2city.toml) and 0 for edges2shoes, edges2handbags and "
        "summer2winter.",
    )
    vgg_weights: Path | None = Field(
        None,
        description="VGG16 weights for vgg_w > 0: a torchvision VGG16 state dict (fed RGB [0, 1] normalised "
        "input) or the reference's vgg16.weight (fed its BGR 0-255 mean-subtracted input); unset: torch.hub's "
        "cache ($TORCH_HOME/hub/checkpoints/vgg16-397923af.pth). Never downloaded.",
    )
    shared_blocks: int = Field(
        0, ge=0,
        description="Residual blocks the two VAEs share: the last ones of the encoders and the first ones "
        "of the decoders (the same parameters). 0 (default) = the reference's 2018 code, where only the "
        "losses tie the domains; 1 = the paper's and 2017 code's sharing. See docs/unit.md.",
    )


def _unique_parameters(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``modules`` in order, each once: shared blocks appear in both generators
    and an optimizer must update them once per step."""
    seen: set[int] = set()
    params = []
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


class TwoAutoEncoders(ganzoo.Method):
    """What UNIT and MUNIT share with the engine: one auto-encoder per domain (``gen_a``,
    ``gen_b``) and one discriminator per domain (``dis_a``, ``dis_b``), stepped as the references'
    ``dis_update`` then ``gen_update``; subclasses write the two steps."""

    _visuals: dict[str, Tensor]
    gen_a: nn.Module
    gen_b: nn.Module
    dis_a: nn.Module
    dis_b: nn.Module

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "G": _unique_parameters(self.gen_a, self.gen_b),
            "D": _unique_parameters(self.dis_a, self.dis_b),
        }

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step, frozen=(self.gen_a, self.gen_b)),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.dis_a, self.dis_b)),
        ]

    def generators(self) -> dict[str, nn.Module]:
        return {"gen_a": self.gen_a, "gen_b": self.gen_b}

    def visuals(self) -> dict[str, Tensor]:
        return dict(self._visuals)

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        raise NotImplementedError


class UNIT(TwoAutoEncoders):
    """Unpaired translation through a shared latent space: two VAE-GANs whose latents are pulled
    to one N(0, I) prior and tied by cycle consistency (Liu, Breuel & Kautz 2017).

    Per iteration, as the reference's ``dis_update`` then ``gen_update``: both discriminators step
    on real images and cross-domain decodes of fresh noisy latents; then both VAEs step (both
    discriminators frozen) on within-domain reconstruction, the latents' KL, the adversarial
    terms of the translations, cycle reconstruction and the KL of the translations' latents.
    """

    Config = UNITConfig
    slots = {
        "generator": ganzoo.Slot(
            "generator", "unit_vae", help="The VAE of each domain (built twice); needs encode() and decode()."
        ),
        "discriminator": ganzoo.Slot(
            "discriminator", "multiscale_patchgan", help="dis_a judges domain A, dis_b domain B (built twice)."
        ),
        "gan_loss": ganzoo.Slot(
            "loss", "lsgan", help="Adversarial objective; keep its weight at 1 and set method.gan_w instead."
        ),
    }

    def __init__(self, config: UNITConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.gen_a, self.gen_b = parts["generator"](), parts["generator"]()
        self.dis_a, self.dis_b = parts["discriminator"](), parts["discriminator"]()
        self.gan_loss = parts["gan_loss"]()
        for name in ("encode", "decode"):
            if not callable(getattr(self.gen_a, name, None)):
                raise ganzoo.GanzooError(
                    f"method 'unit' needs a generator with encode() and decode() (a VAE such as "
                    f"'unit_vae'); {type(self.gen_a).__name__} has no {name}()"
                )
        gcfg = self.gen_a.config
        if getattr(gcfg, "input_nc", 3) != getattr(gcfg, "output_nc", 3):
            raise ganzoo.GanzooError(
                f"method 'unit': the generator's input_nc ({gcfg.input_nc}) and output_nc "
                f"({gcfg.output_nc}) must be equal: each VAE encodes and decodes its own domain"
            )
        if config.shared_blocks:
            if not callable(getattr(self.gen_a, "share_blocks", None)):
                raise ganzoo.GanzooError(
                    f"method.shared_blocks = {config.shared_blocks} needs a generator with share_blocks() "
                    f"such as 'unit_vae'; {type(self.gen_a).__name__} has none"
                )
            self.gen_a.share_blocks(self.gen_b, config.shared_blocks)
        self.vgg: VGGPerceptualLoss | None = None
        if config.vgg_w > 0:
            if getattr(gcfg, "input_nc", 3) != 3:
                raise ganzoo.GanzooError("method 'unit': vgg_w > 0 needs RGB images (input_nc = 3)")
            self.vgg = VGGPerceptualLoss(config.vgg_weights)
        self._visuals: dict[str, Tensor] = {}

    # ------------------------------------------------------------------ steps

    def _decode_pair(self, gen: nn.Module, z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
        """``gen.decode`` of two latents in one call when their shapes allow: exact for the
        per-sample norms of ``unit_vae`` (instance and layer norm), and half the kernel launches."""
        if z1.shape == z2.shape:
            return gen.decode(torch.cat([z1, z2])).chunk(2)
        return gen.decode(z1), gen.decode(z2)

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        """The reference's ``dis_update``: D on real images and on cross-domain decodes of
        noisy latents; the generators run without a graph, D's gradient never reaches them."""
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        with torch.no_grad():
            h_a, n_a = self.gen_a.encode(x_a)
            h_b, n_b = self.gen_b.encode(x_b)
            x_ba = self.gen_a.decode(h_b + n_b)
            x_ab = self.gen_b.decode(h_a + n_a)
        scale = c.gan_w * c.dis_loss_scale
        return {
            "dis_a": scale * self.gan_loss.discriminator_loss(self.dis_a, x_a, x_ba),
            "dis_b": scale * self.gan_loss.discriminator_loss(self.dis_b, x_b, x_ab),
        }

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        """The reference's ``gen_update``. Terms whose weight is 0 are not computed."""
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        h_a, n_a = self.gen_a.encode(x_a)
        h_b, n_b = self.gen_b.encode(x_b)
        z_a, z_b = h_a + n_a, h_b + n_b  # samples of q(z|x) = N(h, I)
        x_a_recon, x_ba = self._decode_pair(self.gen_a, z_a, z_b)
        x_b_recon, x_ab = self._decode_pair(self.gen_b, z_b, z_a)

        losses: dict[str, Tensor] = {}
        if c.gan_w:
            losses["gan_a"] = c.gan_w * self.gan_loss.generator_loss(self.dis_a, x_ba)
            losses["gan_b"] = c.gan_w * self.gan_loss.generator_loss(self.dis_b, x_ab)
        losses["recon_x_a"] = c.recon_x_w * F.l1_loss(x_a_recon, x_a)
        losses["recon_x_b"] = c.recon_x_w * F.l1_loss(x_b_recon, x_b)
        if c.recon_kl_w:
            losses["kl_a"] = c.recon_kl_w * unit_kl(h_a)
            losses["kl_b"] = c.recon_kl_w * unit_kl(h_b)

        x_aba = x_bab = None
        if c.recon_x_cyc_w or c.recon_kl_cyc_w:
            # Encode the translations again: x_ba is in domain A, x_ab in domain B.
            h_b_recon, n_b_recon = self.gen_a.encode(x_ba)
            h_a_recon, n_a_recon = self.gen_b.encode(x_ab)
            if c.recon_kl_cyc_w:
                losses["kl_cyc_aba"] = c.recon_kl_cyc_w * unit_kl(h_a_recon)
                losses["kl_cyc_bab"] = c.recon_kl_cyc_w * unit_kl(h_b_recon)
            if c.recon_x_cyc_w:
                x_aba = self.gen_a.decode(h_a_recon + n_a_recon)
                x_bab = self.gen_b.decode(h_b_recon + n_b_recon)
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

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        """Encode with the source domain's encoder, decode the latent *mean* (no noise) with the
        target domain's decoder: deterministic, as the reference's ``forward``/``sample``.
        Inputs whose sides are not multiples of the generator's stride are reflect-padded and
        the output cropped back."""
        if direction == "a2b":
            src, dst = self.gen_a, self.gen_b
        elif direction == "b2a":
            src, dst = self.gen_b, self.gen_a
        else:
            raise ganzoo.GanzooError(f"unknown direction '{direction}' (a2b, b2a)")
        height, width = x.shape[-2:]
        stride = getattr(src, "stride", 1)
        pad_h, pad_w = -height % stride, -width % stride
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        hidden, _ = src.encode(x)
        return dst.decode(hidden)[..., :height, :width]

    def extra_state(self) -> dict[str, Any]:
        return {}
