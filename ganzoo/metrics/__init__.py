"""Evaluation metrics: the :class:`Metric` interface, FID/KID on Inception features, PSNR/SSIM/LPIPS
against ground truth, and :func:`ganzoo.metrics.evaluate.evaluate`, which runs a trained method over a
test split (for ``ganzoo evaluate`` and the trainer alike).

Importing this package is cheap (no torch networks are built until a metric is used).
"""

from ganzoo.metrics.base import Metric, MetricConfig

__all__ = ["Metric", "MetricConfig"]
