"""Evaluation during training, and which checkpoint is the best.

The scores a run logs must be the scores ``ganzoo evaluate`` gives on the same checkpoint, or a
researcher cannot trust either. So there is one evaluation path: the trainer calls
:func:`ganzoo.metrics.evaluate.evaluate` with its defaults (the data set's test-time
transform, reflect padding to the generator's stride, fp32, outputs rounded to 8 bits as saved
PNGs are), on the first ``train.eval_items`` test items, with any registered metrics
(``train.eval_metrics``), and with the weight average when ``train.ema`` is on, which is also
what ``ganzoo evaluate`` loads. Any score it reports can choose ``checkpoints/best``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from ganzoo.components import Dataset, Method
from ganzoo.engine import accel
from ganzoo.engine import distributed as ddp
from ganzoo.engine.runtime import Runtime
from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric
from ganzoo.metrics.evaluate import build_metrics, evaluate
from ganzoo.metrics.weights import MissingWeightsError


@contextlib.contextmanager
def inference_mode(method: Method, ema: Any = None) -> Iterator[None]:
    """Eval mode, no gradients, compiled networks run eagerly (other shapes would recompile),
    and the weight average in place of the live generators when there is one."""
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad(), accel.eager(), (ema.swapped() if ema is not None else contextlib.nullcontext()):
            yield
    finally:
        method.train(was_training)


class Evaluator:
    """Scores a method on the first ``max_items`` test items with the given metrics (rank 0
    computes, every rank gets the result)."""

    def __init__(self, test_set: Dataset, metrics: Mapping[str, Metric], runtime: Runtime, *,
                 max_items: int, directions: Sequence[str]):
        self.test_set, self.metrics, self.runtime = test_set, dict(metrics), runtime
        self.max_items, self.directions = max_items, list(directions)

    @classmethod
    def build(cls, resolved: Any, runtime: Runtime, directions: Sequence[str],
              warn: Callable[[str], None] = print) -> Evaluator | None:
        """None when there is nothing to score: no metrics asked for, no test split, or no
        metric that can run on it; each case but the first is said through ``warn``: the run
        goes on, but without the scores it asked for. Fills in the recipe's unset
        ``eval_metrics``, ``best_metric`` and ``best_mode`` from the test split (see
        :func:`default_metrics`), so the run's saved recipe names what was used. Metrics whose
        weights are missing are left out with one warning (what will not be measured, and the
        command that fetches the weights)."""
        t = resolved.train
        if t.eval_metrics == []:
            return None
        asked = f" (train.eval_metrics: {', '.join(t.eval_metrics)})" if t.eval_metrics else ""
        unused = f"the run is not evaluated{asked} and keeps no checkpoints/best"
        try:
            test_set = resolved.build_dataset("test")
        except GanzooError as exc:
            warn(f"no usable test split ({str(exc).splitlines()[0]}): {unused}")
            return None
        if len(test_set) < 2:
            warn(f"the test split has {len(test_set)} item(s), and evaluation needs 2: {unused}")
            return None
        paired = bool(getattr(test_set, "paired", False))
        if t.eval_metrics is None:
            t.eval_metrics = default_metrics(paired)
        names = list(t.eval_metrics)
        metrics = build_metrics(names, {k: v for k, v in t.eval_options.items() if k in names})
        unpaired = [name for name, m in metrics.items() if not paired and m.needs_pairs]
        if unpaired:
            warn(f"{', '.join(unpaired)} need(s) paired test data, and this test split is unpaired: not measured")
        metrics = {name: m for name, m in metrics.items() if name not in unpaired}
        missing: dict[str, list[str]] = {}
        for name, metric in list(metrics.items()):
            try:
                metric.check()
            except MissingWeightsError as exc:
                missing.setdefault(str(exc), []).append(name)
                del metrics[name]
        for reason, dropped in missing.items():
            warn(f"{' and '.join(dropped)} will not be measured during training: {reason}")
        if not metrics:
            warn(f"no metric can run on this test split: {unused}")
            return None
        choose_best(t, metrics, "mean" if getattr(test_set, "label_kind", None) else directions[0], paired)
        return cls(test_set, metrics, runtime, max_items=t.eval_items, directions=directions)

    def __call__(self, method: Method, ema: Any = None) -> dict[str, float]:
        """Scores now. Evaluating draws from torch's random generator (each DataLoader takes a
        seed), so the draw happens on a fork of it: how often a run evaluates never changes
        what it trains."""
        scores = None
        if self.runtime.is_main:
            cuda = [self.runtime.device] if self.runtime.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda), inference_mode(method, ema):
                report = evaluate(method, self.test_set, self.metrics, device=self.runtime.device,
                                  max_items=self.max_items, directions=self.directions)
            scores = report.results
        return ddp.broadcast_object(scores, self.runtime.dist)


def default_metrics(paired: bool) -> list[str]:
    """What a run evaluates unless told: ground-truth scores on paired test data, the
    distribution scores (which need no pairs) on unpaired data."""
    return ["psnr", "ssim"] if paired else ["fid", "kid"]


def choose_best(train: Any, metrics: Mapping[str, Metric], direction: str, paired: bool) -> None:
    """Fill in unset ``best_metric`` (a2b/psnr on paired, a2b/fid on unpaired data, else the
    first score of the first metric) and ``best_mode`` (as the metric's ``higher_is_better``)."""
    better = {key: up for m in metrics.values() for key, up in type(m).higher_is_better.items()}
    if train.best_metric is None:
        preferred = "psnr" if paired else "fid"
        key = preferred if preferred in better else next(iter(better), None)
        if key is None:
            return
        train.best_metric = f"{direction}/{key}"
    if train.best_mode is None and train.best_metric:
        up = better.get(train.best_metric.split("/", 1)[1], True)
        train.best_mode = "max" if up else "min"


class BestTracker:
    """The best value of one score so far (``{"metric", "value", "step"}``, kept in checkpoints)."""

    def __init__(self, key: str | None, mode: str | None = "max", best: Mapping[str, Any] | None = None):
        self.key, self.mode = key or "", mode or "max"
        self.best = dict(best) if best and best.get("metric") == self.key else None

    def check(self, scores: Mapping[str, float]) -> None:
        """Raise when the evaluation does not report the tracked score (a typo, a missing metric)."""
        if self.key and scores and self.key not in scores:
            raise GanzooError(f"train.best_metric '{self.key}' is not among the evaluation's scores "
                              f"({', '.join(sorted(scores))}); choose one of them, or add its metric to "
                              "train.eval_metrics")

    def improved(self, step: int, scores: Mapping[str, float]) -> bool:
        """Record ``scores`` of ``step``; True when the tracked score is the best so far."""
        self.check(scores)
        if not self.key or not scores:
            return False
        value = float(scores[self.key])
        if not math.isfinite(value):
            return False
        old = self.best["value"] if self.best else None
        if old is None or (value > old if self.mode == "max" else value < old):
            self.best = {"metric": self.key, "value": value, "step": step}
            return True
        return False
