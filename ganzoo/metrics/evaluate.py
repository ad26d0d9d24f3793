"""Run a trained method over a test split and score it with registered metrics.

One function serves ``ganzoo evaluate`` and the trainer's periodic evaluation
(:mod:`ganzoo.engine.evaluation`), so the numbers logged during training and those reported
afterwards on the same checkpoint are the same numbers. The protocol
(which split, how many images, what was resized or quantised, which weights) is returned with
the scores, because FID moves by several points with such details (clean-fid's findings).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric
from ganzoo.metrics.diversity import draw_samples
from ganzoo.metrics.weights import MissingWeightsError

DEFAULT_METRICS = ("fid", "kid", "psnr", "ssim", "lpips")
DIRECTIONS = ("a2b", "b2a")
_DOMAINS = {"a2b": ("A", "B"), "b2a": ("B", "A")}


@dataclass
class EvaluationReport:
    """Scores by ``"<direction>/<key>"`` (e.g. ``a2b/fid``), what was skipped and why, and the protocol."""

    results: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0

    def require_results(self) -> None:
        """Raise when no metric produced a score: one line saying why and what to do."""
        if self.results:
            return
        reasons = list(dict.fromkeys(self.skipped.values()))
        todo = []
        if any("weights fetch" in r for r in reasons):
            todo.append("fetch the weights with the command above")
        if any("unpaired" in r for r in reasons):
            todo.append("on unpaired data use --metrics fid,kid")
        todo = todo or ["choose other metrics with --metrics (see: ganzoo list-components metric)"]
        raise GanzooError(f"no metric could be computed ({len(self.skipped)} skipped, see above); "
                          + "; ".join(todo))

    def to_dict(self) -> dict[str, Any]:
        return {"results": self.results, "skipped": self.skipped, "higher_is_better": self.higher_is_better,
                "protocol": self.protocol, "seconds": round(self.seconds, 2)}


def build_metrics(
    names: Sequence[str] = DEFAULT_METRICS,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    registry: Any = None,
) -> dict[str, Metric]:
    """Metric instances by registered name; ``options[name]`` is that metric's config (validated
    by its pydantic model, so a typo is reported with the field name)."""
    if registry is None:
        from ganzoo.plugins import get_registry

        registry = get_registry()
    options = options or {}
    unknown = set(options) - set(names)
    if unknown:
        raise GanzooError(f"options given for metrics that are not evaluated: {', '.join(sorted(unknown))}")
    from pydantic import ValidationError

    metrics = {}
    for name in names:
        spec = registry.get("metric", name)
        try:
            metrics[name] = spec.build(dict(options.get(name, {})))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise GanzooError(f"metric {name}: {where}: {first['msg']}") from None
    return metrics


def _batches(dataset: Any, n: int, batch_size: int, workers: int) -> Iterator[list[dict[str, Any]]]:
    """Items 0..n-1 in order, grouped into runs of at most ``batch_size`` items of one size."""
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, range(n)), batch_size=None, num_workers=workers,
        prefetch_factor=4 if workers else None)
    group: list[dict[str, Any]] = []
    for item in loader:
        if group and (len(group) == batch_size or _sizes(group[0]) != _sizes(item)):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def _first_seen(group: list[dict[str, Any]], key: str, seen: set[str]) -> list[bool]:
    """Per item: whether its ``key`` file is new (items without file names are always new)."""
    flags = []
    for item in group:
        path = item.get(key)
        flags.append(path is None or path not in seen)
        if path is not None:
            seen.add(path)
    return flags


def _sizes(item: Mapping[str, Any]) -> tuple:
    return tuple(tuple(item[k].shape) for k in ("A", "B") if isinstance(item.get(k), Tensor))


def evaluate(
    method: nn.Module,
    dataset: Any,
    metrics: Mapping[str, Metric],
    *,
    device: torch.device | str = "cpu",
    max_items: int | None = None,
    directions: Sequence[str] = DIRECTIONS,
    batch_size: int = 8,
    precision: str = "fp32",
    quantize: bool = True,
    workers: int = 0,
    on_batch: Callable[[str, int], None] | None = None,
    steps: int | None = None,
    seed: int | None = None,
) -> EvaluationReport:
    """Translate the first ``max_items`` items of ``dataset`` in each direction and score them.

    Outputs (and targets) are clamped to [-1, 1] and, with ``quantize``, rounded to 8 bits, so
    that the scores are those of the PNG files ``ganzoo translate`` would write. Metrics that
    cannot run are skipped, with the reason in ``report.skipped``, and the others still run:
    those that need pairs on an unpaired split, those whose weights are not in the usual places
    (checked before anything is translated), those that fail on these images.
    ``steps``: the number of generator calls of a multi-step method (None: its default); ``seed``:
    of a stochastic method's noise (None: :data:`ganzoo.inference.TEST_SEED`).
    """
    from ganzoo.data.images import quantize as to_8bit
    from ganzoo.engine.runtime import resolve_device
    from ganzoo.inference import TEST_SEED, Translator, check_steps

    if getattr(dataset, "label_kind", None):  # many domains: scores per domain pair (ignores directions)
        from ganzoo.engine.runtime import resolve_device as _resolve
        from ganzoo.metrics.multidomain import evaluate_domains

        return evaluate_domains(method, dataset, metrics, EvaluationReport(), device=_resolve(str(device))
                                if isinstance(device, str) else device, max_items=max_items, batch_size=batch_size,
                                precision=precision, quantize=quantize, versions=_versions(), on_batch=on_batch)
    steps = check_steps(method, steps)
    seed = TEST_SEED if seed is None else seed

    start = time.perf_counter()
    device = resolve_device(str(device)) if isinstance(device, str) else device
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n < 2:
        raise GanzooError(f"the evaluation split has {len(dataset)} items; at least 2 are needed")
    paired = bool(getattr(dataset, "paired", False))
    report = EvaluationReport()
    unavailable: dict[str, str] = {}
    for name, metric in metrics.items():
        if paired or not metric.needs_pairs:
            try:
                metric.check()
            except MissingWeightsError as exc:
                unavailable[name] = str(exc)
    sizes: set[tuple] = set()
    used: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for direction in directions:
        if direction not in _DOMAINS:
            raise GanzooError(f"direction must be a2b or b2a, got '{direction}'")
        source, target = _DOMAINS[direction]
        active = {}
        for name, metric in metrics.items():
            if metric.needs_pairs and not paired:
                report.skipped[f"{direction}/{name}"] = "needs ground truth; the split is unpaired"
                continue
            if getattr(metric, "needs_samples", False) and not getattr(method, "stochastic_inference", False):
                report.skipped[f"{direction}/{name}"] = "the method translates each input to one image"
                continue
            if name in unavailable:
                report.skipped[f"{direction}/{name}"] = unavailable[name]
                continue
            if metric.target_key and not callable(getattr(method, "predict", None)):
                report.skipped[f"{direction}/{name}"] = "a task metric; this method makes no task predictions"
                continue
            metric.to(device).reset()
            active[name] = metric
            used.add(name)
        if not active:
            continue
        translator = Translator.from_method(method, direction, device=device, precision=precision, steps=steps,
                                            seed=seed)
        # Unpaired splits are as long as the larger domain and wrap the smaller one; an image
        # seen before (same file) is scored once, so no set holds duplicates.
        seen_src: set[str] = set()
        seen_tgt: set[str] = set()
        count = counts[direction] = {"translated": 0, "real": 0}
        for group in _batches(dataset, n, batch_size, workers):
            new_src = _first_seen(group, f"{source}_path", seen_src)
            new_tgt = _first_seen(group, f"{target}_path", seen_tgt)
            if paired:  # pairs stay aligned
                new_src = new_tgt = [a and b for a, b in zip(new_src, new_tgt, strict=True)]
            src = [item[source] for item, new in zip(group, new_src, strict=True) if new]
            real = [item[target] for item, new in zip(group, new_tgt, strict=True) if new]
            tgt = torch.stack(real).float().clamp(-1, 1) if real else None
            if src:
                sizes.add(tuple(src[0].shape[-2:]))
                out = translator(torch.stack(src)).cpu()
            else:  # only new real images in this batch (the smaller domain has wrapped)
                out = torch.zeros(0, translator.out_channels, *group[0][source].shape[-2:])
            if quantize:
                out = to_8bit(out)
                tgt = to_8bit(tgt) if tgt is not None else None
            count["translated"] += len(out)
            count["real"] += 0 if tgt is None else len(tgt)
            tasks = {name: m for name, m in active.items() if m.target_key}
            if tasks and src:
                _score_task(method, tasks, [i for i, new in zip(group, new_src, strict=True) if new], source,
                            direction, device, report)
                active = {name: m for name, m in active.items() if f"{direction}/{name}" not in report.skipped}
            for name in list(active):
                if active[name].target_key:
                    continue
                if len(out) == 0 and (tgt is None or active[name].needs_pairs):
                    continue
                # a metric that compares with a baseline made from the input (SR's bicubic) sees it
                extra = {"source": torch.stack(src)} if src and getattr(active[name], "needs_source", False) else {}
                try:
                    active[name].update(out, tgt, **extra)
                    if getattr(active[name], "needs_samples", False) and src:  # several outputs per input
                        active[name].update_samples(draw_samples(translator, torch.stack(src), active[name], quantize))
                except GanzooError as exc:  # one metric that cannot run must not sink the others
                    report.skipped[f"{direction}/{name}"] = str(exc)
                    del active[name]
            if on_batch:
                on_batch(direction, len(group))
        for name, metric in active.items():
            try:
                scores = metric.compute()
            except GanzooError as exc:
                report.skipped[f"{direction}/{name}"] = str(exc)
                continue
            for key, value in scores.items():
                report.results[f"{direction}/{key}"] = float(value)
            for key, better in type(metric).higher_is_better.items():
                report.higher_is_better[f"{direction}/{key}"] = better
    report.protocol = {
        "split": getattr(dataset, "split", None),
        "paired": paired,
        "items": n,
        "items_available": len(dataset),
        "images": counts,
        "directions": list(directions),
        "image_sizes": sorted(f"{h}x{w}" for h, w in sizes),
        "inputs": "the data set's evaluation transform (see the data table of the recipe); "
                  "sides not multiple of the generator stride are reflect-padded, translated, cropped back",
        "outputs": "clamped to [-1, 1]" + (", rounded to 8 bits (as saved to PNG)" if quantize else ", float"),
        "targets": "real images of the target domain from the same items"
                   + (", rounded to 8 bits" if quantize else ""),
        "precision": precision,
        "test_mode": getattr(method, "test_mode", "eval"),
        **({"inference_steps": steps or method.inference_steps} if getattr(method, "inference_steps", None) else {}),
        **({"seed": seed} if getattr(method, "stochastic_inference", False) else {}),
        "device": str(device),
        "metrics": {name: {**m.protocol(), "config": m.config.model_dump(mode="json")}
                    for name, m in metrics.items() if name in used},
        "versions": _versions(),
    }
    report.seconds = time.perf_counter() - start
    return report


def _score_task(method: nn.Module, metrics: Mapping[str, Metric], items: list[dict[str, Any]], source: str,
                direction: str, device: torch.device, report: EvaluationReport) -> None:
    """Feed task metrics the method's raw predictions on ``items``' ``source`` images and the labels
    under each metric's ``target_key``; a metric whose labels the items lack is skipped."""
    from ganzoo.inference import testing

    with torch.no_grad(), testing(method):
        pred = method.predict(torch.stack([i[source] for i in items]).to(device), direction).float().cpu()
    for name, metric in metrics.items():
        key = f"{source}{metric.target_key}"
        if key not in items[0]:
            report.skipped[f"{direction}/{name}"] = f"the test items carry no '{key}' labels"
            continue
        try:
            metric.update(pred, torch.stack([torch.as_tensor(i[key]) for i in items]))
        except GanzooError as exc:
            report.skipped[f"{direction}/{name}"] = str(exc)


def by_steps(reports: Mapping[int, EvaluationReport]) -> EvaluationReport:
    """One report from evaluations of a multi-step method at several step counts (NFE): scores
    keyed ``<direction>/nfe<N>/<key>`` (``a2b/nfe3/fid``), the protocol of the first with the
    list of step counts."""
    merged = EvaluationReport()
    for n, report in reports.items():
        for field_name in ("results", "skipped", "higher_is_better"):
            target = getattr(merged, field_name)
            for key, value in getattr(report, field_name).items():
                direction, rest = key.split("/", 1)
                target[f"{direction}/nfe{n}/{rest}"] = value
        merged.seconds += report.seconds
    first = next(iter(reports.values()))
    merged.protocol = {**first.protocol, "inference_steps": list(reports)}
    return merged


def _versions() -> dict[str, str]:
    import torchvision

    from ganzoo import __version__

    return {"ganzoo": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version()}
