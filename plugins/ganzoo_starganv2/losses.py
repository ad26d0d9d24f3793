"""StarGAN v2's loss terms that are not a generic ganzoo loss: the non-saturating objective on
one logit per image, R1 on the logits of real images, and the diversity weight's schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def adversarial(logits: Tensor, real: bool) -> Tensor:
    """Binary cross-entropy with logits against all-ones (``real``) or all-zeros targets."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def r1_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018) as the reference weighs it: ``0.5 * E_x ||d sum(logits) / dx||^2``,
    differentiable (for D's step). ``images`` must require grad and have produced ``logits``."""
    grad = torch.autograd.grad(logits.sum(), images, create_graph=True)[0]
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean()


def diversity_weight(initial: float, ds_iter: int, iteration: int) -> float:
    """lambda_ds at ``iteration`` (1-based): ``initial`` falling linearly to 0 over ``ds_iter``
    iterations, 0 afterwards (the reference subtracts initial / ds_iter after every iteration)."""
    if ds_iter <= 0:
        return 0.0
    return initial * max(0.0, 1.0 - (iteration - 1) / ds_iter)
