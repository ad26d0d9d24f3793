"""The task loss, CyCADA's semantic consistency, and DANN's gradient reversal."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import ganzoo


class TaskLossConfig(ganzoo.LossConfig):
    ignore_index: int = Field(255, description="Label value that counts for nothing (unlabelled pixels: 255, "
                                               "as Cityscapes' train ids).")


def _flat(logits: Tensor) -> Tensor:
    """A classifier's (N, C, 1, 1) logits as (N, C); per-pixel logits unchanged."""
    return logits.flatten(1) if logits.dim() == 4 and logits.shape[-2:] == (1, 1) else logits


class TaskCrossEntropy(ganzoo.ReconstructionLoss):
    """Cross-entropy of logits (N, C[, H, W]) against class indices (N[, H, W]), skipping
    ``ignore_index``; against float labels of the logits' shape (multi-hot) it is the per-label
    binary cross-entropy. A distance of an output to its target, so a ``ReconstructionLoss``."""

    Config = TaskLossConfig

    def distance(self, output: Tensor, target: Tensor) -> Tensor:
        logits = _flat(output)
        if target.is_floating_point():
            return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype).reshape(logits.shape))
        return F.cross_entropy(logits, target.long(), ignore_index=self.config.ignore_index)


class SemanticConsistency(ganzoo.ReconstructionLoss):
    """CyCADA's semantic consistency (Hoffman et al. 2018): the task model's prediction on the
    translated image should be the class it predicts on the source image. Cross-entropy against
    the source prediction's arg-max (its sigmoid > 0.5 for multi-hot labels), which gets no
    gradient: the translation is what must keep the semantics, not the source prediction."""

    Config = ganzoo.LossConfig

    def forward(self, output: Tensor, target: Tensor, multi_label: bool = False) -> Tensor:
        """``output``: logits on the translated images; ``target``: logits on the source images."""
        return self.weight * self.distance(output, target, multi_label)

    def distance(self, output: Tensor, target: Tensor, multi_label: bool = False) -> Tensor:
        translated, source = _flat(output), _flat(target).detach()
        if multi_label:
            return F.binary_cross_entropy_with_logits(translated, (source > 0).to(translated.dtype))
        return F.cross_entropy(translated, source.argmax(1))


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``-lambda`` (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambda_: float) -> Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.lambda_ * grad, None


def grad_reverse(x: Tensor, lambda_: float = 1.0) -> Tensor:
    """``x`` unchanged, its gradient reversed and scaled by ``lambda_`` on the way back."""
    return GradientReversal.apply(x, lambda_)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's schedule 2 / (1 + exp(-gamma p)) - 1: from 0 at the start (p = 0) towards 1, so the
    domain classifier's noisy early gradient does not disturb the task features."""
    p = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0
