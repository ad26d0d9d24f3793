"""Pixel distances for cycle, identity and reconstruction terms."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

import ganzoo


class L1Loss(ganzoo.ReconstructionLoss):
    """Mean absolute error: CycleGAN's cycle and identity terms, pix2pix's L1 term."""

    def distance(self, output: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(output, target)


class MSELoss(ganzoo.ReconstructionLoss):
    """Mean squared error."""

    def distance(self, output: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(output, target)
