"""The interface of an evaluation metric, so that plugins can add metrics the way they add networks.

A metric is a streaming accumulator: the evaluator feeds it batches of translated images
(``update``) and asks for the scores at the end (``compute``). Streaming matters because an
evaluation may cover thousands of images that do not fit in memory at once, and because
distribution metrics (FID, KID) can only be computed over the whole set.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from ganzoo.config import ComponentConfig


class MetricConfig(ComponentConfig):
    """Metrics share no required field; each declares its own (weights, subset sizes, ...)."""

    batch_size: int = Field(32, gt=0, description="Images per forward pass of the metric's own network, if any.")


class Metric(abc.ABC):
    """Scores translated images, optionally against real images of the target domain.

    Images are NCHW tensors in [-1, 1], like everything else in ganzoo. Flags tell the
    evaluator what a metric needs:

    ``needs_pairs``
        ``target`` must be the ground truth of ``output`` (same content, pixel aligned):
        PSNR, SSIM, LPIPS. The evaluator skips such a metric on an unpaired test split
        instead of reporting a meaningless number.
    ``needs_target``
        ``target`` must be given; when ``needs_pairs`` is False it may be any real images of
        the target domain (FID and KID compare distributions, not pairs).
    ``higher_is_better``
        Per result key (as returned by ``compute``); used to pick a best checkpoint.
    ``target_key``
        For task metrics (mIoU, accuracy: docs/adaptation.md): the evaluator scores the method's
        raw task outputs, ``method.predict(x, direction)``, on the direction's *source* images
        against their labels ``item[source + target_key]`` (``"_mask"``: ``B_mask`` for ``b2a``),
        instead of translations against target images. None (every image metric): unused.
    """

    Config: ClassVar[type[ComponentConfig]] = MetricConfig
    needs_pairs: ClassVar[bool] = False
    needs_target: ClassVar[bool] = True
    higher_is_better: ClassVar[dict[str, bool]] = {}
    target_key: ClassVar[str | None] = None

    def __init__(self, config: ComponentConfig | None = None):
        self.config = config if config is not None else type(self).Config()
        self.device = torch.device("cpu")
        self.reset()

    def to(self, device: torch.device | str) -> Metric:
        """Move the metric's networks (if any) to ``device``; accumulated state stays on the CPU."""
        self.device = torch.device(device)
        return self

    def check(self) -> None:
        """Raise :class:`ganzoo.errors.GanzooError` if something the metric needs (a weights
        file) is missing. Called before any image is translated, so a missing download fails
        in a second, not after an hour of inference."""
        return None

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every accumulated batch. Called by ``__init__`` (so it creates the accumulators)
        and by the evaluator before each evaluation and direction."""

    @abc.abstractmethod
    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        """Accumulate one batch of translated images (and their targets, see the flags).

        For metrics that do not need pairs the two batches may differ in length, and ``output``
        may be empty: on an unpaired split each file is scored once, so once the smaller domain
        has been seen whole only new target images arrive.
        """

    @abc.abstractmethod
    def compute(self) -> dict[str, float]:
        """The scores over everything accumulated since the last ``reset``, by name."""

    def protocol(self) -> dict[str, Any]:
        """What a reader needs to reproduce the numbers (network weights and their hash,
        resizing, subset sizes...): recorded next to the results."""
        return {"config": self.config.model_dump(mode="json")}
