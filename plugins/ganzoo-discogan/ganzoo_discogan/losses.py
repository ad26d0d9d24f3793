"""DiscoGAN's feature-matching term (the reference's ``get_fm_loss``).

The reference feeds the squared difference of the batch means of D's intermediate features,
``l2 = (mean(real) - mean(fake))^2``, to ``nn.HingeEmbeddingLoss`` with every target 1, which
is simply ``mean(l2)``. Summed over the compared layers, that is the MSE between the mean
real and mean fake features: the generator is pushed to match the statistics of D's view of
real images (Salimans et al. 2016), which steadies training where the plain GAN term alone
collapses.
"""

from __future__ import annotations

import ganzoo
import torch
from torch import Tensor, nn


class FeatureMatchingLoss(ganzoo.Loss):
    """Feature matching: MSE between the batch-mean discriminator features of real and fake
    images, summed over layers (DiscoGAN's ``get_fm_loss``).

    Needs a discriminator with ``forward_features(x) -> (logits, [features...])``, such as
    ``discogan``. Gradients reach the generator through the fake features only; the real
    features are computed without a graph, as nothing upstream of them is trained.
    """

    def forward(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        features = getattr(discriminator, "forward_features", None)
        if features is None:
            raise ganzoo.GanzooError(
                f"the feature-matching loss needs a discriminator with forward_features(); "
                f"{type(discriminator).__name__} has none (use discriminator type 'discogan', or set the "
                f"{self.name} weight to 0)"
            )
        with torch.no_grad():
            _, real_features = features(real)
        _, fake_features = features(fake)
        total = sum(
            (((r.mean(0) - f.mean(0)) ** 2).mean() for r, f in zip(real_features, fake_features, strict=True)),
            fake.new_zeros(()),  # a tensor even when D has no intermediate layer to compare
        )
        return self.weight * total
