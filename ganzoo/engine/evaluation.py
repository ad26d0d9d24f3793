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
from torch import Tensor

from ganzoo.components import Dataset, Method
from ganzoo.engine import accel
from ganzoo.engine import distributed as ddp
from ganzoo.engine.runtime import Runtime
from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric
from ganzoo.metrics.evaluate import build_metrics, evaluate


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


def sample_visuals(method: Method, ema: Any = None) -> dict[str, Tensor]:
    """The method's images of the last iteration and, with a weight average, the average's
    translations of the same inputs beside them."""
    visuals = method.visuals()
    if visuals and ema is not None:
        with inference_mode(method, ema):
            for key, direction in (("real_A", "a2b"), ("real_B", "b2a")):
                if direction in method.directions and key in visuals and visuals[key].dim() == 4:
                    visuals[f"ema_{direction}"] = method.translate(visuals[key][:4].float(), direction)
    return visuals


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
        """None when there is nothing to score: no metrics asked for, no test split, or only
        metrics that need ground truth on an unpaired split. A test split that is missing or too
        small is said through ``warn``: the run goes on, but without the scores it asked for."""
        names = list(resolved.train.eval_metrics)
        if not names:
            return None
        metrics = build_metrics(names)
        unused = f"the run is not evaluated (train.eval_metrics: {', '.join(names)}) and keeps no checkpoints/best"
        try:
            test_set = resolved.build_dataset("test")
        except GanzooError as exc:
            warn(f"no usable test split ({str(exc).splitlines()[0]}): {unused}")
            return None
        if len(test_set) < 2:
            warn(f"the test split has {len(test_set)} item(s), and evaluation needs 2: {unused}")
            return None
        if not getattr(test_set, "paired", False) and all(m.needs_pairs for m in metrics.values()):
            return None
        return cls(test_set, metrics, runtime, max_items=resolved.train.eval_items, directions=directions)

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


class BestTracker:
    """The best value of one score so far (``{"metric", "value", "step"}``, kept in checkpoints)."""

    def __init__(self, key: str, mode: str = "max", best: Mapping[str, Any] | None = None):
        self.key, self.mode = key, mode
        self.best = dict(best) if best and best.get("metric") == key else None

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
