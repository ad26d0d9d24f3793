"""The StarGAN v2 training algorithm (Choi et al. 2020), after clovaai/stargan-v2 ``core/solver.py``.

Per iteration, as the reference: D steps twice (fakes from latent-guided styles, then from
reference-guided styles), then G steps twice: latent-guided (G, the mapping network F and the
style encoder E all learn from this loss, F at its own small lr) and reference-guided (G alone).
Every step draws its own fakes; the targets of the batch are the reference images' domains.

Batches are multi-domain: ``image`` (N,C,H,W), ``domain`` (N,), and reference images ``ref``,
``ref2`` of domain ``ref_domain`` (a data set with ``references = true``; without them, with a
warning, each item's references are the next item of the batch and its mirror image).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_starganv2.losses import adversarial, diversity_weight, r1_penalty
from ganzoo_starganv2.networks import (
    MappingNetwork,
    MappingNetworkConfig,
    StarGANv2Generator,
    StarGANv2GeneratorConfig,
    StyleEncoder,
    StyleEncoderConfig,
)


class StarGANv2OptimizerConfig(ganzoo.OptimizerConfig):
    """The reference's Adam: lr 1e-4, betas (0, 0.99), weight decay 1e-4 (a subclass with its own
    defaults, so that a partial ``[method.optimizer]`` table keeps the others)."""

    lr: float = Field(1e-4, gt=0, description="Learning rate of G, E and D (reference: 1e-4).")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam (beta1, beta2) (reference: 0, 0.99).")
    weight_decay: float = Field(1e-4, ge=0, description="L2 penalty added to Adam's gradient (reference: 1e-4).")


# The core's policy type, reused so that a policy added there is accepted here too.
_Policy = ganzoo.ScheduleConfig.model_fields["policy"].annotation


class StarGANv2ScheduleConfig(ganzoo.ScheduleConfig):
    """The reference keeps the learning rate constant."""

    policy: _Policy = Field("constant", description="constant (the reference); linear; step; cosine.")  # type: ignore[valid-type]


class StarGANv2Config(ganzoo.MultiDomainConfig):
    """Adam(1e-4, betas (0, 0.99), weight decay 1e-4) for G, E and D, 1e-6 for the mapping
    network F (the reference's f_lr), constant learning rate: the reference's settings."""

    optimizer: StarGANv2OptimizerConfig = Field(
        default_factory=StarGANv2OptimizerConfig, description="Optimizer of every group (see its fields).")
    lr_by_group: dict[str, float] = Field(
        default_factory=lambda: {"F": 1e-6}, description="The mapping network F learns at f_lr = 1e-6.")
    schedule: StarGANv2ScheduleConfig = Field(
        default_factory=StarGANv2ScheduleConfig, description="Constant, as the reference.")
    latent_dim: int = Field(16, gt=0, description="Length of the random code z (the mapping network's input).")
    style_dim: int = Field(64, gt=0, description="Length of the style code (G's AdaIN input, F's and E's output).")
    hidden_dim: int = Field(512, gt=0, description="Width of the mapping network's hidden layers.")
    generator_dim: int | None = Field(
        None, gt=0, description="Channels of G's first layer; None: the discriminator's dim (the reference's "
        "2**14 // image_size for all networks). G's and E's image size and max_conv_dim are the discriminator's.")
    w_hpf: float = Field(
        0.0, ge=0, le=0, description="High-pass skips from a face-landmark network (the reference's CelebA-HQ "
        "setting, 1); only 0 (AFHQ's setting) is built.")
    lambda_reg: float = Field(1.0, ge=0, description="Weight of R1 on real images.")
    lambda_sty: float = Field(1.0, ge=0, description="Weight of the style reconstruction loss.")
    lambda_cyc: float = Field(1.0, ge=0, description="Weight of the cycle-consistency loss.")
    lambda_ds: float = Field(
        1.0, ge=0, description="Initial weight of the diversity-sensitive loss (the reference: 1 CelebA-HQ, 2 AFHQ).")
    ds_iter: int = Field(100_000, ge=1, description="Iterations over which lambda_ds falls linearly to 0.")


class StarGANv2(ganzoo.Method):
    """Diverse translation among many domains with one generator driven by style codes from
    noise (mapping network) or from an example image (style encoder) (Choi et al. 2020)."""

    Config = StarGANv2Config
    needs_labels = ("domain",)
    directions = ("a2b",)  # one translate for every pair: the target domain is an argument
    stochastic_inference = True  # latent-guided translation draws z
    slots = {
        "discriminator": ganzoo.Slot(
            "discriminator", "starganv2",
            help="D: one real/fake logit per domain; its image_size, dim and max_conv_dim also size G and E."),
    }

    def __init__(self, config: StarGANv2Config, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.domains = list(config.domains)
        self.num_domains = k = len(self.domains) or 2  # empty only for a model built without its data
        self.D = parts["discriminator"](num_domains=k)
        d = self.D.config
        size, nc = d.image_size, d.input_nc
        self.G = StarGANv2Generator(StarGANv2GeneratorConfig(
            input_nc=nc, output_nc=nc, image_size=size, dim=config.generator_dim or d.dim,
            max_conv_dim=d.max_conv_dim, style_dim=config.style_dim, w_hpf=config.w_hpf))
        self.F = MappingNetwork(MappingNetworkConfig(latent_dim=config.latent_dim, style_dim=config.style_dim,
                                                     hidden_dim=config.hidden_dim, num_domains=k))
        self.E = StyleEncoder(StyleEncoderConfig(input_nc=nc, image_size=size, dim=d.dim, max_conv_dim=d.max_conv_dim,
                                                 style_dim=config.style_dim, num_domains=k))
        self.latent_dim, self.image_size = config.latent_dim, size
        self._warned = False
        self.iteration = 0  # counted here: lambda_ds decays with it (kept in the checkpoint)
        self._batch: dict[str, Tensor] = {}
        self._visuals: dict[str, Tensor] = {}

    def param_groups(self) -> dict[str, list]:
        return {"G": [*self.G.parameters()], "F": [*self.F.parameters()], "E": [*self.E.parameters()],
                "D": [*self.D.parameters()]}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("D_latent", "D", self.d_latent_step),
            ganzoo.TrainStep("D_ref", "D", self.d_ref_step),
            ganzoo.TrainStep("G_latent", "G", self.g_latent_step, frozen=(self.D,), also=("F", "E")),
            ganzoo.TrainStep("G_ref", "G", self.g_ref_step, frozen=(self.D, self.F, self.E)),
        ]

    def generators(self) -> dict[str, Any]:
        """G, F and E: the networks of inference, so the engine's EMA averages all three."""
        return {"G": self.G, "F": self.F, "E": self.E}

    # ------------------------------------------------------------------ batches

    def _z(self, n: int, like: Tensor) -> Tensor:
        return torch.randn(n, self.latent_dim).to(like.device)  # drawn on the CPU: the same on every device

    def _read(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        if "image" not in batch or "domain" not in batch:
            raise ganzoo.DataError(f"method 'starganv2' trains on labelled images ('image', 'domain'); the batch has "
                                   f"{', '.join(sorted(batch))}")
        b = {k: batch[k] for k in ("image", "domain", "ref", "ref2", "ref_domain") if k in batch}
        if "ref" not in b or "ref2" not in b or "ref_domain" not in b:
            if not self._warned:
                warnings.warn("starganv2: the batches carry no reference images, so each item's references are the "
                              "next item of the batch (and its mirror image); set data.references = true to train "
                              "as the reference does", stacklevel=2)
                self._warned = True
            b["ref"], b["ref_domain"] = b["image"].roll(1, 0), b["domain"].roll(1, 0)
            b["ref2"] = b["ref"].flip(-1)
        side = b["image"].shape[-1]
        if b["image"].shape[-2:] != (self.image_size, self.image_size):
            raise ganzoo.DataError(f"method 'starganv2': the training images are {tuple(b['image'].shape[-2:])} px, "
                                   f"but discriminator.image_size is {self.image_size}; set it to {side} or resize "
                                   "the data")
        for key in ("domain", "ref_domain"):
            top = int(b[key].max())
            if top >= self.num_domains:
                raise ganzoo.DataError(f"method 'starganv2': the data has domain index {top}, but the method has "
                                       f"{self.num_domains} domains ({', '.join(self.domains) or 'method.domains'})")
        return b

    # ------------------------------------------------------------------ the steps

    def _d_loss(self, b: dict[str, Tensor], style: Tensor) -> dict[str, Tensor]:
        real = b["image"].detach().requires_grad_(True)
        logits = self.D(real, b["domain"])
        with torch.no_grad():
            fake = self.G(b["image"], style)
        losses = {"real": adversarial(logits, True), "fake": adversarial(self.D(fake, b["ref_domain"]), False)}
        if self.config.lambda_reg:
            losses["R1"] = self.config.lambda_reg * r1_penalty(logits, real)
        return losses

    def d_latent_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        self.iteration += 1
        b = self._batch = self._read(batch)
        n = len(b["image"])
        b["z"], b["z2"] = self._z(n, b["image"]), self._z(n, b["image"])
        with torch.no_grad():
            style = self.F(b["z"], b["ref_domain"])
        return {f"D_latent_{k}": v for k, v in self._d_loss(b, style).items()}

    def d_ref_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        b = self._batch
        with torch.no_grad():
            style = self.E(b["ref"], b["ref_domain"])
        return {f"D_ref_{k}": v for k, v in self._d_loss(b, style).items()}

    def _g_loss(self, b: dict[str, Tensor], style: Tensor, style2: Tensor, tag: str) -> dict[str, Tensor]:
        c, x, target = self.config, b["image"], b["ref_domain"]
        fake = self.G(x, style)
        losses = {f"G_{tag}_adv": adversarial(self.D(fake, target), True)}
        if c.lambda_sty:
            losses[f"G_{tag}_sty"] = c.lambda_sty * (self.E(fake, target) - style).abs().mean()
        ds = diversity_weight(c.lambda_ds, c.ds_iter, self.iteration)
        if ds:
            fake2 = self.G(x, style2).detach()
            losses[f"G_{tag}_ds"] = -ds * (fake - fake2).abs().mean()
        if c.lambda_cyc:
            rec = self.G(fake, self.E(x, b["domain"]))
            losses[f"G_{tag}_cyc"] = c.lambda_cyc * (rec - x).abs().mean()
        self._visuals = {"real": x, f"fake_{tag}": fake}
        return losses

    def g_latent_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        b = self._batch
        return self._g_loss(b, self.F(b["z"], b["ref_domain"]), self.F(b["z2"], b["ref_domain"]), "latent")

    def g_ref_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        b = self._batch
        return self._g_loss(b, self.E(b["ref"], b["ref_domain"]), self.E(b["ref2"], b["ref_domain"]), "ref")

    # ------------------------------------------------------------------ inference

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b", *, target: Tensor | None = None,
                  reference: Tensor | None = None) -> Tensor:
        """``x`` into domain ``target`` ((N,) long, or one index for all; None: domain 1, so that a
        two-domain model's ``translate(x)`` maps the first domain to the second) with the style of
        ``reference`` (images of the target domain, N or 1, resized to image_size) or, without one,
        of a random z drawn with torch's generator (seed it). ``direction`` is unused: the target
        domain says where to go."""
        n = len(x)
        if target is None:
            target = torch.ones(n, dtype=torch.long)
        target = torch.as_tensor(target, dtype=torch.long).reshape(-1).expand(n).to(x.device)
        if int(target.max()) >= self.num_domains or int(target.min()) < 0:
            raise ganzoo.GanzooError(f"starganv2: target domain {int(target.max())} out of range "
                                     f"(0..{self.num_domains - 1})")
        if reference is not None:
            ref = reference.to(x)
            if ref.shape[-2:] != (self.image_size, self.image_size):
                ref = nn.functional.interpolate(ref, size=(self.image_size,) * 2, mode="bilinear", align_corners=False)
            style = self.E(ref, target[: len(ref)]).expand(n, -1) if len(ref) == 1 else self.E(ref, target)
        else:
            style = self.F(self._z(n, x), target)
        return self.G(x, style)

    def export_module(self, direction: ganzoo.Direction = "a2b") -> tuple[nn.Module, str]:
        target = 1  # translate's default target
        with torch.no_grad():
            style = self.F(torch.zeros(1, self.latent_dim, device=next(self.F.parameters()).device),
                           torch.tensor([target]))
        return (_FixedStyle(self.G, style),
                f"latent-guided translation into domain {target} with z = 0 (the style the mapping network gives "
                "the centre of the latent space), not a random z")

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}

    def extra_state(self) -> dict[str, Any]:
        return {"iteration": self.iteration}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.iteration = int(state.get("iteration", 0))


class _FixedStyle(nn.Module):
    """G with one precomputed style code for every image: a deterministic path to export."""

    def __init__(self, generator: nn.Module, style: Tensor):
        super().__init__()
        self.G = generator
        self.register_buffer("style", style.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.G(x, self.style.expand(x.shape[0], -1))
