"""What a run tells its user while it trains: the progress bar, the JSONL log, the loggers
(TensorBoard, CSV, W&B), sample grids, the loss-curve image and the HTML index.

Losses stay on the device between log lines: the window of each logged value is reduced (and
averaged across processes) only when a line is written, the one point where the loop waits for
the GPU. Only rank 0 writes; the others keep no log.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from ganzoo.engine import distributed as ddp
from ganzoo.engine.data import loader_clock
from ganzoo.engine.loggers import LoggerContext, Loggers, build_loggers
from ganzoo.engine.outputs import JsonlLog, NullLog, plot_losses, write_index
from ganzoo.engine.runtime import Runtime

DATA_WAIT_WARN = 0.2
"""Share of a log window spent waiting for batches above which the run log warns (once)."""


class Reporter:
    def __init__(self, run_dir: Path, runtime: Runtime, *, console: Console, images_per_iteration: int,
                 show_progress: bool = True, loggers: Sequence[str] = ("tensorboard",), title: str = "",
                 info: Mapping[str, Any] | None = None, resume_step: int | None = None,
                 config: Mapping[str, Any] | None = None):
        self.run_dir, self.runtime, self.console = run_dir, runtime, console
        self.images, self.title, self.info = images_per_iteration, title, dict(info or {})
        self.show_progress = show_progress and runtime.is_main
        # Not a terminal (a log file, nohup, a cluster job, | tee): a bar would appear only at the
        # end, cut to 80 columns, so each log window prints one plain, whole line instead.
        self.plain_lines = self.show_progress and not console.is_terminal
        self.log: JsonlLog = JsonlLog(run_dir / "metrics.jsonl") if runtime.is_main else NullLog()
        context = LoggerContext(run_dir, title, dict(config or {}), resume_step)
        self.loggers = Loggers(build_loggers(list(loggers), context, self.warn) if runtime.is_main else [])
        self.window: dict[str, list[Tensor]] = defaultdict(list)
        self.last_means: dict[str, float] = {}
        self._mark = (time.perf_counter(), 0)
        self._progress: _LossProgress | None = None
        self._task: Any = None
        self._warned_data, self._first_window, self.data_hint = False, True, "raise train.num_workers"

    # ------------------------------------------------------------------ messages and events

    @classmethod
    def for_run(cls, resolved: Any, run_dir: Path, runtime: Runtime, *, console: Console, total: int,
                show_progress: bool, resumed: bool, step: int) -> Reporter:
        """The reporter of a training run (``resolved`` a ResolvedRecipe): its title, config and header."""
        t = resolved.train
        reporter = cls(run_dir, runtime, console=console, images_per_iteration=t.batch_size * runtime.dist.world_size,
                       show_progress=show_progress, loggers=t.loggers, title=resolved.name,
                       resume_step=step if resumed else None, config=resolved.to_dict(),
                       info={"method": resolved.method.spec.name, "data": resolved.data.spec.name, "total": total,
                             "device": runtime.describe(), "batch": t.batch_size, "precision": runtime.precision,
                             "ema": t.ema or "off", "best": "-"})
        for note in runtime.notes:
            reporter.warn(note)
        reporter.data_hint = (f"train.num_workers is {t.num_workers}: raise it" if t.num_workers < 8 else
                              "the loader cannot keep up: smaller images on disk, or data on a faster disk")
        return reporter

    def say(self, message: str) -> None:
        """A message, never hard-wrapped: paths and commands in it stay whole for copying."""
        if self.runtime.is_main:
            self.console.print(message, soft_wrap=True, highlight=False)

    def warn(self, message: str) -> None:
        """A plain-text warning (brackets in it, as in pip's extras, are not markup)."""
        self.say(f"[yellow]warning:[/yellow] {escape(message)}")

    def event(self, step: int, name: str, *, kind: str = "event", **fields: Any) -> None:
        self.log.write({"step": step, "event": name, **fields}, kind=kind)

    def checkpoint(self, step: int, path: Path) -> None:
        where = path.relative_to(self.run_dir) if path.is_relative_to(self.run_dir) else path
        self.log.write({"step": step, "name": path.name, "path": where.as_posix()}, kind="checkpoint")

    # ------------------------------------------------------------------ the loop

    @contextlib.contextmanager
    def progress(self, total: int, start: int) -> Iterator[None]:
        self._mark = (time.perf_counter(), start)
        if self.runtime.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.runtime.device)
        with _LossProgress(self.console, disable=not self.show_progress or self.plain_lines, images=self.images) as bar:
            self._progress = bar
            self._task = bar.add_task(self.title, total=total, completed=start, losses="")
            try:
                yield
            finally:
                self._progress = None

    def losses(self, values: Mapping[str, Tensor]) -> None:
        for key, value in values.items():
            self.window[key].append(value)

    def advance(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def rewind(self, step: int) -> None:
        """Training went back to ``step`` (a health rollback): speed counts from here, the bar shows it."""
        self.window.clear()
        self._mark = (time.perf_counter(), step)
        self.advance(step)

    def log_window(self, step: int, extra: Mapping[str, float]) -> None:
        """One log line with the means since the last one (and ``extra``, e.g. learning rates),
        one speed line, the same to TensorBoard and the losses on the progress bar."""
        means = self.flush_window()
        self.log.write({"step": step, **{k: round(v, 6) for k, v in means.items()}, **extra}, kind="train")
        speed = self._speed(step)
        self.log.write({"step": step, **speed}, kind="speed")
        self.loggers.scalars(step, {**means, **extra, **{f"speed/{k}": v for k, v in speed.items()}})
        losses = " ".join(f"{k} {v:.3f}" for k, v in means.items() if "/" not in k)
        if self._progress is not None:
            self._progress.update(self._task, losses=losses)
        if self.plain_lines:
            total = int(self.info.get("total", step))
            eta = (total - step) / speed["it_s"] if speed["it_s"] > 0 else float("nan")
            eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?"
            self.console.print(f"{self.title} step {step}/{total}  {speed['it_s']:.2f} it/s {speed['img_s']:.1f} "
                               f"img/s  ETA {eta_text}  {losses}", highlight=False, soft_wrap=True, markup=False)

    def flush_window(self) -> dict[str, float]:
        """Mean of each value since the last call (over every rank); gradient norms of steps the
        fp16 scaler skipped are inf and say nothing about the others, so they are left out."""
        keys = sorted(self.window)
        if not keys:
            return {}
        means = torch.stack([_finite_mean(torch.stack(self.window[k]).float()) if k.startswith("grad_norm/")
                             else torch.stack(self.window[k]).float().mean() for k in keys])
        means = ddp.all_reduce_mean(means, self.runtime.dist)
        self.window.clear()
        self.last_means = dict(zip(keys, means.tolist(), strict=True))
        return self.last_means

    def _speed(self, step: int) -> dict[str, float]:
        now = time.perf_counter()
        then, step0 = self._mark
        self._mark = (now, step)
        its = (step - step0) / max(now - then, 1e-9)
        speed = {"it_s": round(its, 3), "img_s": round(its * self.images, 3)}
        if self.runtime.device.type == "cuda":
            speed["mem_gb"] = round(torch.cuda.max_memory_allocated(self.runtime.device) / 2**30, 3)
        waited, batches = loader_clock.take()
        if batches:  # the loader's throughput as training saw it, next to training's
            speed["data_wait"] = round(waited / max(now - then, 1e-9), 3)
            speed["loader_it_s"] = round(batches / max(waited, 1e-6), 1)
            first, self._first_window = self._first_window, False  # the workers' start-up: not a verdict
            if speed["data_wait"] > DATA_WAIT_WARN and not self._warned_data and not first:
                self._warned_data = True
                self.warn(f"training waited for data {speed['data_wait']:.0%} of the time up to step {step} (the "
                          f"loader delivers {speed['loader_it_s']:.1f} batches/s while waited for; training runs "
                          f"{its:.2f} it/s); {self.data_hint}")
        return speed

    # ------------------------------------------------------------------ outputs

    def evaluation(self, step: int, scores: Mapping[str, float]) -> None:
        logged = {f"eval/{k}": v for k, v in scores.items()}
        self.log.write({"step": step, **logged}, kind="eval")
        self.loggers.scalars(step, logged)

    def samples(self, step: int, image: Any, columns: Sequence[str], split: str) -> None:
        """Write the grid of ``step`` (``samples/step_NNNNNNN.png``), log it, and bring the loss
        curves and the HTML page up to date, so the report is current whenever there is a new grid."""
        if not self.runtime.is_main:
            return
        path = self.run_dir / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")  # a grid on disk is always a whole PNG
        image.save(tmp, format="PNG")
        tmp.replace(path)
        self.log.write({"step": step, "path": path.relative_to(self.run_dir).as_posix(), "columns": list(columns),
                        "inputs": f"first {split} items"}, kind="samples")
        self.loggers.image(step, "samples", image)
        self.curves()
        self.index(step)

    def skipped_files(self, step: int, skipped: Any) -> None:
        """Unreadable images were skipped with a warning each; the run log keeps the count."""
        if self.runtime.is_main and skipped is not None and len(skipped):
            self.event(step, "skipped_files", count=len(skipped), first=[str(p) for p in list(skipped)[:20]])
            self.warn(f"{len(skipped)} unreadable image(s) were skipped; see metrics.jsonl")

    def index(self, step: int, best: Mapping[str, Any] | None = None) -> None:
        """The HTML page of the run (facts, evaluations, curves, samples), rebuilt from the log."""
        if not self.runtime.is_main:
            return
        if best is not None:
            self.info["best"] = f"{best['metric']} = {best['value']:.4f} at step {best['step']}"
        self.info["step"] = f"{step} / {self.info.get('total', '?')}"
        with contextlib.suppress(OSError):
            write_index(self.run_dir, title=f"ganzoo run {self.title}", records=self.log.records(), info=self.info)

    def curves(self) -> None:
        """The loss-curve image, rebuilt from the whole log (a resumed run's reports cover the
        whole run); a report never fails a run."""
        if self.runtime.is_main:
            with contextlib.suppress(Exception):
                plot_losses(self.log.records(), self.run_dir / "loss_curves.png")

    def finish(self, step: int, best: Mapping[str, Any] | None) -> None:
        """The loss curves and the HTML index as the run ends."""
        self.curves()
        self.index(step, best)

    def close(self) -> None:
        self.loggers.close()


def write_run_files(run_dir: Path, recipe_toml: str) -> None:
    """The resolved recipe (re-runnable as it is) and the versions that produced the run."""
    from ganzoo import __version__
    from ganzoo.plugins import get_plugins

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.toml").write_text(recipe_toml)
    versions = {"ganzoo": __version__, "torch": torch.__version__,
                "plugins": [{"name": p.name, "dist": p.dist, "version": p.version, "status": p.status}
                            for p in get_plugins().plugins]}
    (run_dir / "plugins.json").write_text(json.dumps(versions, indent=2))


class _LossProgress(Progress):
    """Progress bar with it/s and images/s from the task's own speed estimate, ETA and losses."""

    def __init__(self, console: Console, disable: bool, images: int = 1):
        self.images = images
        super().__init__(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
            console=console, disable=disable,
        )

    def update(self, task_id, **kwargs):  # type: ignore[override]
        super().update(task_id, **kwargs)
        task = self._tasks[task_id]
        speed = task.finished_speed or task.speed
        task.fields["rate"] = (f"{speed:.2f} it/s {speed * self.images:.1f} img/s"
                               if speed and math.isfinite(speed) else "")

    def add_task(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("rate", "")
        return super().add_task(*args, **kwargs)


def _finite_mean(values: Tensor) -> Tensor:
    """Mean of the finite values (NaN if none), without waiting for the device."""
    return torch.where(torch.isfinite(values), values, torch.nan).nanmean()
