"""The StarGAN training algorithm (Choi et al., "StarGAN: Unified Generative Adversarial Networks
for Multi-Domain Image-to-Image Translation", CVPR 2018), as yunjey/stargan's ``solver.py``.

One generator G(x, c) translates an image into any target label c. Per iteration, as the
reference: target labels are the batch's own labels shuffled across the batch; D steps on
real and translated images (WGAN-GP's critic terms, gradient penalty 10, and the domain
classification of the *real* images); every ``n_critic``-th iteration G steps on the same batch
and targets (adversarial term, classification of its outputs as the targets, and the L1
reconstruction G(G(x, c_trg), c_org) ~ x, weight 10). Classification is binary cross-entropy
per attribute (summed over attributes, averaged over images) for attribute labels, and
cross-entropy for single domains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo


class StarGANOptimizerConfig(ganzoo.OptimizerConfig):
    """The reference's Adam, lr 1e-4 for G and D, betas (0.5, 0.999); a subclass so that a partial
    ``[method.optimizer]`` table keeps these defaults."""

    lr: float = Field(1e-4, gt=0, description="Learning rate of G and D (reference g_lr = d_lr = 1e-4).")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam (beta1, beta2) (reference 0.5, 0.999).")


class StarGANConfig(ganzoo.MultiDomainConfig):
    """The schedule is the engine's default, the reference's: constant lr for the first half, then a
    linear decay to 0 (200k iterations, the last 100k decaying)."""

    optimizer: StarGANOptimizerConfig = Field(default_factory=StarGANOptimizerConfig,
                                              description="Adam(1e-4, betas 0.5/0.999) for G and D, as the reference.")
    n_critic: int = Field(5, ge=1, description="D steps per G step; each iteration is one D step on a fresh batch "
                          "and G steps every n_critic-th (reference 5).")
    lambda_cls: float = Field(1.0, ge=0, description="Weight of the domain-classification terms of D and G "
                              "(reference 1).")


def classification_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Domain classification: attribute labels (float (N, K) of 0/1) by binary cross-entropy summed
    over attributes and averaged over images (the reference's ``size_average=False`` / N); domain
    indices (long (N,)) by cross-entropy."""
    if target.is_floating_point():
        return F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="sum") / logits.shape[0]
    return F.cross_entropy(logits.float(), target)


class _Scores(nn.Module):
    """D as the adversarial loss sees it: the real/fake score map. The class logits of every call
    are kept in ``logits`` (the loss calls D on the real batch first), so one D forward serves
    both heads. Holds D without registering it: D's parameters belong to the method once."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.__dict__["d"] = discriminator
        self.logits: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        scores, logits = self.d(x)
        self.logits.append(logits)
        return scores


class StarGAN(ganzoo.Method):
    """Many domains with one generator (Choi et al. 2018): WGAN-GP + domain classification + cycle."""

    Config = StarGANConfig
    needs_labels = ("domain", "attributes")
    directions = ("a2b",)
    """Translation goes to a target label (``translate(x, target=...)``); the direction is unused."""
    slots = {
        "generator": ganzoo.Slot("generator", "stargan", help="G(x, c): every domain or attribute change."),
        "discriminator": ganzoo.Slot("discriminator", "stargan", help="Real/fake scores and class logits."),
        "gan_loss": ganzoo.Slot("loss", "wgangp", {"gp_weight": 10.0},
                                help="WGAN with gradient penalty (reference lambda_gp 10)."),
        "rec_loss": ganzoo.Slot("loss", "l1", {"weight": 10.0},
                                help="G(G(x, c_trg), c_org) ~ x (reference lambda_rec 10)."),
    }

    def __init__(self, config: StarGANConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.num_labels = len(config.domains)
        if self.num_labels < 2:
            raise ganzoo.GanzooError(f"method 'stargan': method.domains lists {self.num_labels} domain(s); it is "
                                     "filled from a multi-domain data set (data.type = multidomain_procedural, "
                                     "domain_folders or celeba_attributes), or set it to the label names")
        self.G = parts["generator"](c_dim=self.num_labels)
        self.D = parts["discriminator"](c_dim=self.num_labels)
        object.__setattr__(self, "scores", _Scores(self.D))  # not a child: see _Scores
        self.gan_loss = parts["gan_loss"]()
        self.rec_loss = parts["rec_loss"]()
        self._targets: Tensor | None = None
        self._visuals: dict[str, Tensor] = {}

    def param_groups(self) -> dict[str, list]:
        return {"G": list(self.G.parameters()), "D": list(self.D.parameters())}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D,), every=self.config.n_critic),
        ]

    def code(self, label: Tensor) -> Tensor:
        """What G is given: a one-hot vector for a domain index, the attribute vector as it is."""
        return label.float() if label.is_floating_point() else F.one_hot(label, self.num_labels).float()

    @staticmethod
    def labels(batch: ganzoo.Batch) -> Tensor:
        for key in ("attributes", "domain"):
            if isinstance(batch.get(key), Tensor):
                return batch[key]
        raise ganzoo.GanzooError("stargan: the batch has no 'domain' or 'attributes' labels (a multi-domain data set "
                                 "gives them)")

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real, label = batch["image"], self.labels(batch)
        side = self.D.config.image_size
        if real.shape[-2:] != (side, side):
            raise ganzoo.GanzooError(f"stargan: the discriminator is built for {side} px images "
                                     f"(discriminator.image_size) and the data gives {tuple(real.shape[-2:])}; set "
                                     "discriminator.image_size to the data's image size")
        self._targets = label[torch.randperm(label.shape[0], device=label.device)]  # the reference's targets
        with torch.no_grad():
            fake = self.G(real, self.code(self._targets))
        self.scores.logits.clear()
        adversarial = self.gan_loss.discriminator_loss(self.scores, real, fake)
        real_logits = self.scores.logits[0]
        self.scores.logits.clear()
        return {"D_adv": adversarial, "D_cls": self.config.lambda_cls * classification_loss(real_logits, label)}

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real, label = batch["image"], self.labels(batch)
        targets = self._targets if self._targets is not None else label.flip(0)
        fake = self.G(real, self.code(targets))
        rec = self.G(fake, self.code(label))
        self.scores.logits.clear()
        adversarial = self.gan_loss.generator_loss(self.scores, fake)
        fake_logits = self.scores.logits[0]
        self.scores.logits.clear()
        self._visuals = {"real": real, "fake": fake, "rec": rec}
        return {"G_adv": adversarial, "G_cls": self.config.lambda_cls * classification_loss(fake_logits, targets),
                "G_rec": self.rec_loss(rec, real)}

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b", *, target: Tensor | None = None,
                  reference: Tensor | None = None) -> Tensor:
        """``x`` into ``target``: domain indices (long (N,)) or attribute vectors (float (N, K))."""
        if target is None:
            raise ganzoo.GanzooError("stargan translates into a target domain: give one (ganzoo translate --to "
                                     f"DOMAIN; domains: {', '.join(self.config.domains)})")
        if reference is not None:
            raise ganzoo.GanzooError("stargan has no style codes: reference images (--style-from) are for "
                                     "starganv2 and munit")
        return self.G(x, self.code(target.to(x.device)))

    def export_module(self, direction: ganzoo.Direction = "a2b") -> tuple[nn.Module, str] | None:
        """Not yet: an export is one image -> image function, and StarGAN's target is an input too."""
        raise ganzoo.GanzooError("ganzoo export writes one image-to-image function; a stargan run also takes the "
                                 "target label, which export does not support yet. Translate with ganzoo translate "
                                 "--to DOMAIN, or use the generator itself: ganzoo.load(RUN).method.G(x, c)")

    def classify(self, x: Tensor) -> Tensor:
        """D's estimate of the labels of ``x``: attribute probabilities (N, K), for ``translate --to
        A=1`` to keep the attributes it does not name (D resizes them to its image_size)."""
        return torch.sigmoid(self.D(x)[1].float())

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}

