"""Evaluation metrics: the :class:`Metric` interface, FID/KID on Inception features, PSNR/SSIM/LPIPS
against ground truth, and :func:`evaluate_recipe`, which runs a trained recipe over a test split.

Importing this package is cheap (no torch networks are built until a metric is used).
"""

from ganzoo.metrics.base import Metric, MetricConfig

__all__ = ["Metric", "MetricConfig"]
