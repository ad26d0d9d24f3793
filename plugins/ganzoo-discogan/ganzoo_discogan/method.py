"""The DiscoGAN training algorithm (Kim et al. 2017), after SKTBrain/DiscoGAN
``discogan/image_translation.py`` (``--model_arch discogan``).

Two generators (G_AB: A -> B, G_BA: B -> A; the reference's generator_B and generator_A) and
two discriminators (D_A judges domain A, D_B judges domain B). The generator objective of
each direction is, as the reference writes it::

    (0.1 x GAN + 0.9 x feature matching) x (1 - rate) + reconstruction x rate

with ``rate`` = 0.01 for the first 10 000 updates (a strong GAN signal while the generators
are still poor) and 0.5 afterwards. The 0.1 and 0.9 are the weights of the ``gan_loss`` and
``fm_loss`` slots, so a recipe can change them; the curriculum lives in this method's config.

Image range. The reference's images are in [0, 1] (``dataset.py`` divides by 255, the generator
ends in a sigmoid); ganzoo's are in [-1, 1] (tanh). The reconstruction term is a distance in
pixel space, so it is computed on the images mapped back to [0, 1] (``x * 0.5 + 0.5``): on
[-1, 1] its MSE would be 4 times the reference's and the rates 0.01 / 0.5 would weigh it like
about 0.04 / 0.8 do there. The GAN and feature-matching terms need no such mapping: the GAN
term is a BCE of D's probabilities, whatever D's input, and the matched features come after
batch norm, which removes the scale of the input (doubling D's input leaves both terms
unchanged, tested). What remains of the range is the shift: D's first conv, which has no bias,
sees ``2x - 1``, so its weights take up the factor 2 and the -1 becomes a per-channel offset
tied to them, a slightly different parameterization of D rather than a factor on any loss.

The reference alternates updates: of every ``update_interval`` (3) iterations, the first steps
the discriminators and the others the generators, each on a fresh batch. Here one ganzoo
iteration is those ``update_interval`` updates on one batch: a D step, then
``update_interval - 1`` G steps. The curriculum counts updates, like the reference's
iteration counter, so ``gan_curriculum = 10000`` means 3 334 ganzoo iterations at the default
interval.
"""

from __future__ import annotations

from typing import Any

import ganzoo
import torch
from pydantic import Field
from torch import Tensor


class DiscoGANOptimizerConfig(ganzoo.OptimizerConfig):
    """The reference's Adam: lr 2e-4, betas (0.5, 0.999), weight decay 1e-5. A subclass with its
    own field defaults, so a partial ``[method.optimizer]`` table keeps the weight decay."""

    weight_decay: float = Field(1e-5, ge=0, description="L2 penalty added to Adam's gradient (reference: 1e-5).")


# The core's policy type, reused so that a policy added there is accepted here too.
_Policy = ganzoo.ScheduleConfig.model_fields["policy"].annotation


class DiscoGANScheduleConfig(ganzoo.ScheduleConfig):
    """The reference keeps the learning rate constant."""

    policy: _Policy = Field(  # type: ignore[valid-type]
        "constant", description="constant (the reference's); linear, step or cosine to decay.")


class DiscoGANConfig(ganzoo.MethodConfig):
    optimizer: DiscoGANOptimizerConfig = Field(
        default_factory=DiscoGANOptimizerConfig,
        description="Adam(2e-4, betas 0.5/0.999, weight decay 1e-5) for G and D, as the reference.",
    )
    schedule: DiscoGANScheduleConfig = Field(
        default_factory=DiscoGANScheduleConfig, description="Constant learning rate, as the reference.")
    gan_curriculum: int = Field(
        10_000, ge=0,
        description="Updates (D and G updates counted together, as the reference's iterations) during which "
        "the reconstruction weight is starting_rate; default_rate afterwards.",
    )
    starting_rate: float = Field(
        0.01, ge=0, le=1, description="Reconstruction weight (and 1 - GAN weight) during the curriculum."
    )
    default_rate: float = Field(0.5, ge=0, le=1, description="Reconstruction weight after the curriculum.")
    update_interval: int = Field(
        3, ge=2,
        description="Updates per iteration: one of the discriminators, then update_interval - 1 of the "
        "generators (the reference's 3).",
    )


class DiscoGAN(ganzoo.Method):
    """Unpaired translation with two encoder-decoder generators tied by reconstruction, trained
    with a GAN plus feature-matching objective (Kim et al. 2017, "Learning to Discover
    Cross-Domain Relations with Generative Adversarial Networks").

    Per iteration: D_A and D_B step on real images and fresh fakes (0.5 x (real + fake) BCE
    each), then the generators step ``update_interval - 1`` times with both discriminators
    frozen. The reconstruction term's share follows the curriculum (see the config).
    """

    Config = DiscoGANConfig
    # The reference never calls eval(): its generators test on batch-norm statistics of the test
    # batch. Here each image's own (batch 1), so a translation does not depend on its batch.
    test_mode = "train"
    slots = {
        "generator": ganzoo.Slot("generator", "discogan_encdec", help="Both G_AB (A->B) and G_BA (B->A)."),
        "discriminator": ganzoo.Slot(
            "discriminator", "discogan",
            help="Both D_A (judges A) and D_B (judges B); needs forward_features for the feature-matching term.",
        ),
        "gan_loss": ganzoo.Slot(
            "loss", "vanilla", {"weight": 0.1},
            help="Adversarial objective (the reference's sigmoid + BCE). Its weight (0.1) is its share of the "
            "generators' GAN part; the discriminators' loss uses it at weight 1, as the reference.",
        ),
        "fm_loss": ganzoo.Slot(
            "loss", "discogan_fm", {"weight": 0.9},
            help="Feature matching on D's intermediate features (0.9 of the generators' GAN part). 0 disables.",
        ),
        "recon_loss": ganzoo.Slot(
            "loss", "mse",
            help="A->B->A and B->A->B reconstruction (MSE, as the reference), on images mapped to the reference's "
            "[0, 1], scaled by the rate.",
        ),
    }

    def __init__(self, config: DiscoGANConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G_AB, self.G_BA = parts["generator"](), parts["generator"]()
        self.D_A, self.D_B = parts["discriminator"](), parts["discriminator"]()
        self.gan_loss = parts["gan_loss"]()
        self.fm_loss = parts["fm_loss"]()
        self.recon_loss = parts["recon_loss"]()
        # The reference's D loss is not scaled by the 0.1 of the generators' GAN term; Adam's
        # weight decay makes that scale matter, so D gets the same objective at weight 1.
        self.d_gan_loss = _unit_weight(self.gan_loss)
        if self.fm_loss.enabled and not hasattr(self.D_A, "forward_features"):
            raise ganzoo.GanzooError(
                f"discogan: the fm_loss slot needs a discriminator with forward_features(), which "
                f"{type(self.D_A).__name__} lacks; use discriminator type 'discogan' or set fm_loss.weight = 0"
            )
        self.updates = 0
        self._visuals: dict[str, Tensor] = {}

    def rate(self) -> float:
        """The reconstruction share at the current update (the reference's curriculum)."""
        config: DiscoGANConfig = self.config  # type: ignore[assignment]
        return config.starting_rate if self.updates < config.gan_curriculum else config.default_rate

    def param_groups(self) -> dict[str, list]:
        return {
            "G": [*self.G_AB.parameters(), *self.G_BA.parameters()],
            "D": [*self.D_A.parameters(), *self.D_B.parameters()],
        }

    def train_steps(self) -> list[ganzoo.TrainStep]:
        repeat = self.config.update_interval - 1  # type: ignore[attr-defined]
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D_A, self.D_B), repeat=repeat),
        ]

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        with torch.no_grad():
            fake_B, fake_A = self.G_AB(real_A), self.G_BA(real_B)
        self.updates += 1
        return {
            "D_A": self.d_gan_loss.discriminator_loss(self.D_A, real_A, fake_A),
            "D_B": self.d_gan_loss.discriminator_loss(self.D_B, real_B, fake_B),
        }

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        rate = self.rate()
        self.updates += 1
        fake_B, fake_A = self.G_AB(real_A), self.G_BA(real_B)
        rec_A, rec_B = self.G_BA(fake_B), self.G_AB(fake_A)
        self._visuals = {"real_A": real_A, "fake_B": fake_B, "rec_A": rec_A,
                         "real_B": real_B, "fake_A": fake_A, "rec_B": rec_B}
        adv = 1.0 - rate
        losses = {
            "recon_A": rate * self.recon_loss(_unit(rec_A), _unit(real_A)),
            "recon_B": rate * self.recon_loss(_unit(rec_B), _unit(real_B)),
        }
        if self.gan_loss.enabled:
            losses["G_AB"] = adv * self.gan_loss.generator_loss(self.D_B, fake_B)
            losses["G_BA"] = adv * self.gan_loss.generator_loss(self.D_A, fake_A)
        if self.fm_loss.enabled:
            losses["fm_AB"] = adv * self.fm_loss(self.D_B, real_B, fake_B)
            losses["fm_BA"] = adv * self.fm_loss(self.D_A, real_A, fake_A)
        return losses

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        return (self.G_AB if direction == "a2b" else self.G_BA)(x)

    def generators(self) -> dict[str, Any]:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA}

    def visuals(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self._visuals.items()}

    def extra_state(self) -> dict[str, Any]:
        # The curriculum position must survive a resume, or a resumed run restarts the curriculum.
        return {"updates": self.updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))


def _unit(x: Tensor) -> Tensor:
    """An image in ganzoo's [-1, 1] on the reference's [0, 1] scale."""
    return x * 0.5 + 0.5


def _unit_weight(loss: ganzoo.Loss) -> ganzoo.Loss:
    """The same loss component at weight 1, built the way the registry builds components (so D
    still learns, for the feature-matching term, when the generators' GAN weight is 0)."""
    config = loss.config
    if getattr(config, "weight", 1.0) == 1.0 or not isinstance(config, ganzoo.ComponentConfig):
        return loss
    return type(loss)(config.merged(weight=1.0), name=loss.name)
