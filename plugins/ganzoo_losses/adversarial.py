"""GAN objectives. Each defines the per-scale terms; ganzoo.AdversarialLoss sums over scales,
applies the weight, calls the discriminator and offers the stabilisers of
ganzoo.AdversarialLossConfig (R1/R2, instance noise, label smoothing, D augmentation with ADA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import ganzoo


class LSGANLoss(ganzoo.AdversarialLoss):
    """Least-squares GAN (Mao et al. 2017): MSE to 1 for real, 0 for fake. CycleGAN's and UNIT's default.

    The discriminator loss is 0.5 x (real + fake), as the reference CycleGAN scales it, so D
    learns at half the rate of G.
    """

    threshold = 0.5
    label_smoothing = True

    def generator_term(self, fake_pred: Tensor) -> Tensor:
        return F.mse_loss(fake_pred, torch.ones_like(fake_pred))

    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        real = F.mse_loss(real_pred, torch.full_like(real_pred, self.real_label))
        fake = F.mse_loss(fake_pred, torch.zeros_like(fake_pred))
        return 0.5 * (real + fake)


class VanillaGANLoss(ganzoo.AdversarialLoss):
    """The original GAN objective as binary cross-entropy with logits (pix2pix's default)."""

    label_smoothing = True

    def generator_term(self, fake_pred: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_pred, torch.ones_like(fake_pred))

    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_pred, torch.full_like(real_pred, self.real_label))
        fake = F.binary_cross_entropy_with_logits(fake_pred, torch.zeros_like(fake_pred))
        return 0.5 * (real + fake)


class HingeLoss(ganzoo.AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): D maximises margins, G raises D's score."""

    def generator_term(self, fake_pred: Tensor) -> Tensor:
        return -fake_pred.mean()

    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        return F.relu(1.0 - real_pred).mean() + F.relu(1.0 + fake_pred).mean()


class WGANGPConfig(ganzoo.AdversarialLossConfig):
    gp_weight: float = Field(10.0, ge=0, description="Weight of the gradient penalty (Gulrajani et al.: 10).")


class WGANGPLoss(ganzoo.AdversarialLoss):
    """Wasserstein loss with gradient penalty on random interpolates (Gulrajani et al. 2017).

    The penalty needs a double backward, which torch.compile does not support: leave the
    discriminator uncompiled with this loss.
    """

    Config = WGANGPConfig

    def generator_term(self, fake_pred: Tensor) -> Tensor:
        return -fake_pred.mean()

    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        return fake_pred.mean() - real_pred.mean()

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        if self.config.gp_weight == 0:
            return real.new_zeros(())
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        preds = discriminator(mixed)
        preds = [preds] if isinstance(preds, Tensor) else list(preds)
        grads = torch.autograd.grad(
            outputs=[p.sum() for p in preds], inputs=mixed, create_graph=True
        )[0].flatten(1)
        return self.config.gp_weight * ((grads.norm(2, dim=1) - 1.0) ** 2).mean()
