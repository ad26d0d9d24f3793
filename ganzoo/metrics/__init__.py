"""Evaluation metrics: the :class:`Metric` interface, FID/KID on Inception features, PSNR/SSIM/LPIPS
against ground truth, and :func:`ganzoo.metrics.evaluate.evaluate`, which runs a trained method over a
test split (for ``ganzoo evaluate`` and the trainer alike).

Importing this package is cheap: ``Metric`` and ``MetricConfig`` (which need torch) load on first
use, so ``ganzoo weights list`` (:mod:`ganzoo.metrics.weights`) starts without torch.
"""

from typing import Any

__all__ = ["Metric", "MetricConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ganzoo.metrics import base

        return getattr(base, name)
    raise AttributeError(f"module 'ganzoo.metrics' has no attribute '{name}'")
