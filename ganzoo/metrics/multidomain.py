"""Scores of a multi-domain method, per domain pair and averaged over pairs.

For domain-labelled data every ordered pair (source s, target t != s) is one translation task:
the test images of domain s are translated into t. Metrics against ground truth (PSNR, SSIM)
compare with the item's ``targets[t]`` (the built-in procedural set draws every test scene in
every domain); distribution metrics (FID, KID) compare with the real test images of domain t,
as StarGAN v2 reports FID per pair and then its mean. For attribute data each attribute is one
task: the images without it are translated to have it (a hair colour set clears the others),
and compared with the real images that have it. Scores are keyed ``<task>/<metric>``
(``warm2cool/psnr``, ``Blond_Hair/fid``) plus ``mean/<metric>`` over the tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.data.labels import HAIR_COLOURS
from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric
from ganzoo.metrics.weights import MissingWeightsError


@dataclass
class Task:
    """One translation task: which items go in, their target label, what they are compared with."""

    key: str
    sources: list[int]
    target: Callable[[Tensor], Tensor]
    """A source item's label -> its target label."""
    reals: list[int]
    truth: int | None = None
    """Index into an item's ``targets`` of its ground truth, when the data has one."""


def item_labels(dataset: Any, n: int) -> list[Tensor]:
    """The labels of items 0..n-1, without decoding images where the data set knows them."""
    if hasattr(dataset, "domain_of"):
        return [torch.tensor(dataset.domain_of(i)) for i in range(n)]
    if hasattr(dataset, "index") and dataset.label_kind == "domain":
        return [torch.tensor(dataset.index[i][0]) for i in range(n)]
    if isinstance(getattr(dataset, "labels", None), Tensor):
        return list(dataset.labels[:n])
    return [dataset[i][dataset.label_kind] for i in range(n)]


def tasks(dataset: Any, n: int) -> list[Task]:
    """The translation tasks of the first ``n`` items (see the module's docstring)."""
    labels, names = item_labels(dataset, n), list(dataset.domains)
    if dataset.label_kind == "domain":
        by_domain = {d: [i for i, label in enumerate(labels) if int(label) == d] for d in range(len(names))}
        return [Task(f"{names[s]}2{names[t]}", by_domain[s], lambda _l, t=t: torch.tensor(t), by_domain[t],
                     t if getattr(dataset, "paired", False) else None)
                for s in range(len(names)) for t in range(len(names)) if s != t and by_domain[s] and by_domain[t]]
    hair = [i for i, name in enumerate(names) if name in HAIR_COLOURS]

    def setting(i: int) -> Callable[[Tensor], Tensor]:
        def target(label: Tensor) -> Tensor:
            out = label.float().clone()
            if i in hair:
                out[hair] = 0.0
            out[i] = 1.0
            return out
        return target

    return [Task(name, [j for j, lab in enumerate(labels) if lab[i] < 0.5], setting(i),
                 [j for j, lab in enumerate(labels) if lab[i] >= 0.5])
            for i, name in enumerate(names)]


def evaluate_domains(method: nn.Module, dataset: Any, metrics: Mapping[str, Metric], report: Any, *,
                     device: torch.device, max_items: int | None = None, batch_size: int = 8,
                     precision: str = "fp32", quantize: bool = True, versions: Mapping[str, str] | None = None,
                     on_batch: Callable[[str, int], None] | None = None) -> Any:
    """:func:`ganzoo.metrics.evaluate.evaluate` for multi-domain data (``dataset.label_kind``): fills
    and returns ``report`` (an empty :class:`~ganzoo.metrics.evaluate.EvaluationReport`, passed in
    so that this module does not import that one, which calls it)."""
    from ganzoo.data.images import quantize as to_8bit
    from ganzoo.inference import Translator

    start = time.perf_counter()
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n < 2:
        raise GanzooError(f"the evaluation split has {len(dataset)} items; at least 2 are needed")
    paired = bool(getattr(dataset, "paired", False))
    active: dict[str, Metric] = {}
    for name, metric in metrics.items():
        if metric.needs_pairs and not paired:
            report.skipped[f"mean/{name}"] = "needs ground truth; the split has none (use multidomain_procedural)"
            continue
        if getattr(metric, "needs_samples", False) and not getattr(method, "stochastic_inference", False):
            report.skipped[f"mean/{name}"] = "the method translates each input to one image"
            continue
        try:
            metric.check()
        except MissingWeightsError as exc:
            report.skipped[f"mean/{name}"] = str(exc)
            continue
        active[name] = metric.to(device)

    def stack(indices: list[int]) -> tuple[list[dict[str, Any]], Tensor]:
        items = [dataset[i] for i in indices]
        return items, torch.stack([item["image"] for item in items]).float()

    prepare = to_8bit if quantize else (lambda x: x)
    per_task: dict[str, list[float]] = {}
    todo = tasks(dataset, n)
    for task in todo:
        for metric in active.values():
            metric.reset()
        for lo in range(0, len(task.reals), batch_size):  # the real images of the target, once per task
            _, reals = stack(task.reals[lo:lo + batch_size])
            for metric in active.values():
                if not metric.needs_pairs:
                    metric.update(torch.zeros(0, *reals.shape[1:]), prepare(reals.clamp(-1, 1)))
        for lo in range(0, len(task.sources), batch_size):
            items, images = stack(task.sources[lo:lo + batch_size])
            targets = torch.stack([task.target(item[dataset.label_kind]) for item in items])
            translator = Translator.from_method(method, "a2b", device=device, precision=precision,  # type: ignore[arg-type]
                                                target=targets if targets.dim() == 2 else targets[0])
            out = prepare(translator(images).cpu())
            for metric in active.values():
                if getattr(metric, "needs_samples", False):  # diversity: several outputs of each input
                    from ganzoo.metrics.diversity import draw_samples

                    metric.update_samples(draw_samples(translator, images, metric, quantize))
                elif metric.needs_pairs:
                    truth = torch.stack([item["targets"][task.truth] for item in items]).float().clamp(-1, 1)
                    metric.update(out, prepare(truth))
                else:
                    metric.update(out, None)
            if on_batch:
                on_batch(task.key, len(items))
        for name, metric in active.items():
            try:
                scores = metric.compute()
            except GanzooError as exc:
                report.skipped[f"{task.key}/{name}"] = str(exc)
                continue
            for key, value in scores.items():
                report.results[f"{task.key}/{key}"] = float(value)
                per_task.setdefault(key, []).append(float(value))
                report.higher_is_better[f"{task.key}/{key}"] = type(metric).higher_is_better.get(key, True)
    for key, values in per_task.items():
        report.results[f"mean/{key}"] = sum(values) / len(values)
        report.higher_is_better[f"mean/{key}"] = next(v for k, v in report.higher_is_better.items()
                                                      if k.endswith(f"/{key}"))
    report.protocol = {
        "split": getattr(dataset, "split", None), "paired": paired, "items": n, "items_available": len(dataset),
        "labels": dataset.label_kind, "domains": list(dataset.domains),
        "tasks": {t.key: {"sources": len(t.sources), "reals": len(t.reals)} for t in todo},
        "columns": [*(t.key for t in todo), "mean"],
        "targets": "the same scene drawn in the target domain" if paired else
                   "real test images of the target domain (distribution metrics only)",
        "outputs": "clamped to [-1, 1]" + (", rounded to 8 bits (as saved to PNG)" if quantize else ", float"),
        "precision": precision, "device": str(device),
        "metrics": {name: {**m.protocol(), "config": m.config.model_dump(mode="json")} for name, m in active.items()},
        "versions": dict(versions or {}),
    }
    report.seconds = time.perf_counter() - start
    return report
