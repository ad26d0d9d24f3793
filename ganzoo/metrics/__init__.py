"""Evaluation metrics: the :class:`Metric` interface, FID/KID on Inception features, PSNR/SSIM/LPIPS
against ground truth, and :func:`ganzoo.metrics.evaluate.evaluate`, which runs a trained method over a
test split (for ``ganzoo evaluate`` and the trainer alike).

Importing this package is cheap: its names load on first use, so loading the built-in metrics'
registration (:mod:`ganzoo.metrics.builtin`) for a listing needs no torch.
"""

from ganzoo import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"ganzoo.metrics.base": ("Metric", "MetricConfig")})

__all__ = ["Metric", "MetricConfig"]

