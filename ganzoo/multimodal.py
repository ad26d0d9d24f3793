"""Many outputs per input: the translations of a stochastic method (MUNIT's styles, UNSB's noise)
under several seeds, and reference-guided translation (the style of a given image).

Why seeds and not "N draws in a row": :class:`ganzoo.inference.Translator` seeds torch before
each image, so sample ``k`` of an input is exactly what ``ganzoo translate --seed S+k`` writes
for it, whatever the batch, the order or the other inputs. ``--samples N --seed S`` therefore
writes the outputs of seeds S..S+N-1, as numbered files ``name_0.png`` ... or one grid per
input (the input, then the N samples, left to right).
"""

from __future__ import annotations

import copy
import inspect
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ganzoo.data.images import READ_ERRORS, load_image, save_image
from ganzoo.errors import GanzooError
from ganzoo.inference import (
    Job,
    TranslateReport,
    Translator,
    _translate_group,
    batch_jobs,
    iter_batches,
)


def check_reference(method: nn.Module) -> None:
    """Refuse a style reference for a method whose ``translate`` takes none."""
    if "reference" not in inspect.signature(method.translate).parameters:
        raise GanzooError(f"--style-from: {type(method).__name__} has no reference-guided translation (its "
                          "translate takes no reference image; munit has one)")


def load_reference(path: Path | str, method: nn.Module, direction: str = "a2b") -> Tensor:
    """The style reference ``path`` as a (1, C, H, W) batch in [-1, 1], C the target domain's channels."""
    check_reference(method)
    path = Path(path)
    channels = Translator.from_method(method, direction, device=torch.device("cpu")).out_channels
    if not path.is_file():
        raise GanzooError(f"--style-from {path}: no such file (give one image of the target domain)")
    try:
        return load_image(path, channels)[None]
    except READ_ERRORS as exc:
        raise GanzooError(f"--style-from {path}: cannot be read as an image ({type(exc).__name__})") from None


def seeded_translators(translator: Translator, samples: int) -> list[Translator]:
    """``samples`` copies of ``translator`` with seeds ``seed, seed + 1, ...``; refuses a method
    that translates deterministically (every copy would give the same image)."""
    if samples < 1:
        raise GanzooError(f"--samples must be at least 1, got {samples}")
    method = translator.method
    if samples > 1 and not getattr(method, "stochastic_inference", False):
        name = type(method).__name__ if method is not None else "a bare generator"
        raise GanzooError(f"--samples {samples}: {name} translates each input to one image; several samples need "
                          "a stochastic method (munit, unsb)")
    copies = []
    for k in range(samples):
        t = copy.copy(translator)
        t.seed = translator.seed + k
        copies.append(t)
    return copies


def numbered(target: Path, k: int) -> Path:
    """``out/name.png`` -> ``out/name_k.png``."""
    return target.with_name(f"{target.stem}_{k}{target.suffix}")


def sample_grid(source: Tensor, samples: Sequence[Tensor]) -> Tensor:
    """The input then its samples, left to right (the input left out when its channels differ)."""
    row = [source] if source.shape[0] == samples[0].shape[0] else []
    return torch.cat([*row, *samples], dim=-1)


def translate_samples(translators: Sequence[Translator], jobs: Sequence[Job], *, grid: bool = False,
                      batch_size: int = 4, workers: int = 0, quality: int = 95,
                      on_batch: Callable[[int], None] | None = None,
                      on_skip: Callable[[Path, str], None] | None = None) -> TranslateReport:
    """Each input read once and translated by every translator; written as numbered files
    (``name_0.png`` ...) or, with ``grid``, as one image per input. ``report.written`` counts inputs."""
    report = TranslateReport()
    if not grid:
        targets = [numbered(job.target, k) for job in jobs for k in range(len(translators))]
        clash = {t for t, n in Counter(targets).items() if n > 1} | (set(targets) & {j.target for j in jobs})
        if clash:
            raise GanzooError(f"numbered outputs collide: {sorted(map(str, clash))[:3]} (rename the inputs or "
                              "use --grid)")
    skipped: set[Path] = set()

    def skip(job: Job, why: str) -> None:
        if job.source not in skipped:
            skipped.add(job.source)
            report.skipped.append((job.source, why))
            if on_skip:
                on_skip(job.source, why)

    for group, loaded in iter_batches(batch_jobs(jobs, batch_size), translators[0].in_channels, workers):
        items = []
        for job, x in zip(group, loaded, strict=True):
            if isinstance(x, str):
                skip(job, x)
            else:
                items.append((job, x))
        outputs: dict[Path, list[Tensor]] = {}
        for translator in translators:
            for job, y in _translate_group(translator, items, skip):
                outputs.setdefault(job.source, []).append(y)
        for job, x in items:
            ys = outputs.get(job.source, [])
            if len(ys) != len(translators):
                continue  # skipped above
            try:
                if grid:
                    save_image(sample_grid(x, ys), job.target, quality=quality)
                else:
                    for k, y in enumerate(ys):
                        save_image(y, numbered(job.target, k), quality=quality)
                report.written += 1
            except (OSError, MemoryError) as exc:
                skip(job, f"cannot be written next to {job.target} ({getattr(exc, 'strerror', None) or exc})")
        if on_batch:
            on_batch(len(group))
    return report
