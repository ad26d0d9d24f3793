"""One bench entry: train one recipe with one seed, and describe the run in a JSON file.

The runner starts this module in a process of its own (``python -m ganzoo.bench.worker
SPEC.json``), so that a recipe that crashes, leaks memory or hangs a library takes nothing else
down, and so that peak memory is this entry's alone. The same :func:`run_entry` runs in-process
with ``ganzoo bench --in-process`` (faster to start; less isolation).

With ``spec["resume"]`` (the runner sets it for an entry that was interrupted), an entry whose
run directory holds a checkpoint continues from it (``ganzoo resume``'s path); otherwise the
run directory starts over.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError


def _log(run_dir: Path) -> list[dict[str, Any]]:
    from ganzoo.engine.outputs import JsonlLog, record_kind

    return [{**r, "kind": record_kind(r)} for r in JsonlLog(run_dir / "metrics.jsonl").records()]


def read_evaluations(run_dir: Path) -> list[dict[str, float]]:
    """Every evaluation of a run, from its log (so a resumed run's earlier evaluations count):
    ``[{"step": s, "a2b/psnr": ...}, ...]`` in step order, the last record of a step kept."""
    by_step: dict[int, dict[str, float]] = {}
    for record in _log(run_dir):
        if record["kind"] == "eval":
            scores = {k.removeprefix("eval/"): v for k, v in record.items() if k.startswith("eval/")}
            by_step[int(record["step"])] = {"step": int(record["step"]), **scores}
    return [by_step[s] for s in sorted(by_step)]


def steady_speed(run_dir: Path) -> float | None:
    """Iterations per second of the run's last log window (the first one includes warm-up)."""
    speeds = [r["it_s"] for r in _log(run_dir) if r["kind"] == "speed"]
    return float(speeds[-1]) if speeds else None


def best_evaluation(evaluations: Sequence[Mapping[str, float]], metric: str, mode: str) -> dict[str, float] | None:
    """The evaluation after training began with the best ``metric`` (the first of equals), as
    ``checkpoints/best`` is chosen; None when the metric is not reported."""
    best = None
    for ev in evaluations:
        value = ev.get(metric)
        if ev["step"] == 0 or value is None or not math.isfinite(value):
            continue
        if best is None or (value > best[metric] if mode == "max" else value < best[metric]):
            best = dict(ev)
    return best


def peak_memory(device: Any) -> dict[str, int | None]:
    """Peak resident memory of this process, and the most CUDA memory allocated since the
    training loop started (None off CUDA)."""
    import resource

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB
    cuda = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"rss_bytes": int(rss), "cuda_bytes": None if cuda is None else int(cuda)}


def test_digest(resolved: Any) -> str | None:
    """A digest of the evaluated test items (the 8-bit pixels of every image they carry: A and B,
    a multi-domain item's image and targets, SR's LR and HR): equal digests mean that two recipes
    were scored on the same images."""
    import hashlib

    from torch import Tensor

    from ganzoo.data.images import to_uint8

    try:
        test = resolved.build_dataset("test")
    except GanzooError:
        return None
    digest = hashlib.sha256()
    for i in range(min(resolved.train.eval_items, len(test))):
        item = test[i]
        images = [k for k, v in item.items() if isinstance(v, Tensor) and v.is_floating_point() and v.dim() >= 3]
        for key in sorted(images):
            digest.update(to_uint8(item[key].float()).numpy().tobytes())
    return digest.hexdigest()[:12]


def copy_sample(run_dir: Path, step: int, to: Path) -> str | None:
    """The run's last sample grid (the engine's labelled grid of the first test inputs, the same
    for every recipe on the same data), copied to ``to``."""
    grid = run_dir / "samples" / f"step_{step:07d}.png"
    if not grid.is_file():
        return None
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(grid, to)
    return str(to)


def higher_is_better(evaluator: Any) -> dict[str, bool]:
    """Score key (``psnr``) -> whether higher is better, of the metrics the run evaluated."""
    metrics = evaluator.metrics.values() if evaluator is not None else ()
    return {key: up for m in metrics for key, up in type(m).higher_is_better.items()}


def run_entry(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train ``spec["recipe"]`` with ``spec["overrides"]`` in ``spec["run_dir"]``; the entry's
    description, with ``status`` ok, failed (and ``error``) or interrupted."""
    start = time.perf_counter()
    try:
        return _run(spec, start)
    except GanzooError as exc:
        return {"status": "failed", "error": str(exc).strip(), "wall_seconds": time.perf_counter() - start}
    except Exception as exc:  # noqa: BLE001 - any failure of one entry is recorded, the bench goes on
        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        return {"status": "failed", "error": f"{type(exc).__name__}: {first}",
                "wall_seconds": time.perf_counter() - start}


def _run(spec: Mapping[str, Any], start: float) -> dict[str, Any]:
    import torch

    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    run_dir = Path(spec["run_dir"])
    resume = bool(spec.get("resume")) and (run_dir / "checkpoints" / "latest").is_file()
    resolved = load_recipe(spec["recipe"], spec.get("overrides", []))
    trainer = Trainer(resolved, run_dir=run_dir, resume=resume, overwrite=not resume,
                      show_progress=bool(spec.get("progress", False)))
    result = trainer.fit()
    t = resolved.train
    images = result.step * t.batch_size * trainer.dist.world_size
    evaluations = read_evaluations(run_dir)
    entry: dict[str, Any] = {
        "status": "interrupted" if result.stopped_early else "ok",
        "method": resolved.method.spec.name,
        "seed": resolved.run.seed,
        "iterations": result.step,
        "planned_iterations": trainer.total,
        "stopped_by": "time" if result.step < trainer.total and not result.stopped_early else "length",
        "train_seconds": round(result.train_seconds, 3),
        "images_per_second": round(images / result.train_seconds, 3) if result.train_seconds > 0 else None,
        "batch_size": t.batch_size,
        "device": str(trainer.device),
        "threads": torch.get_num_threads(),
        "memory": peak_memory(trainer.device),
        "evaluations": evaluations,
        "last": evaluations[-1] if evaluations and evaluations[-1]["step"] == result.step else None,
        "best": best_evaluation(evaluations, t.best_metric or "", t.best_mode or "max"),
        "best_metric": t.best_metric,
        "higher_is_better": higher_is_better(trainer.evaluator),
        "test_digest": test_digest(resolved) if evaluations else None,
        "steady_it_s": steady_speed(run_dir),
    }
    if spec.get("sample") and not result.stopped_early:
        entry["sample"] = copy_sample(run_dir, result.step, Path(spec["sample"]))
    entry["wall_seconds"] = round(time.perf_counter() - start, 3)
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ganzoo.bench.worker SPEC.json``: run the entry, write ``spec["result"]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text())
    entry = run_entry(spec)
    if entry["status"] == "failed":
        print(f"error: {entry['error']}", file=sys.stderr)
    Path(spec["result"]).write_text(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
