"""The training loop: everything around a recipe's math.

The recipe says which steps an iteration has and what each computes; the trainer owns the
device, seeding, data order, optimizers and schedules, logging, samples, evaluation,
checkpoints, resume and the handling of interruptions and non-finite losses.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ganzoo.components import Batch, Recipe
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.data import ResumableBatchSampler, infinite_batches
from ganzoo.engine.outputs import JsonlLog, save_grid
from ganzoo.errors import GanzooError, TrainingError
from ganzoo.metrics.paired import l1, psnr
from ganzoo.optim import build_optimizer, build_scheduler
from ganzoo.recipe import ResolvedRecipe


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanzooError(f"run.device = '{name}' but CUDA is not available (use 'auto' or 'cpu')")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def unique_run_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``... so a new run never overwrites an old one."""
    candidate, n = parent / name, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{name}-{n}"
    return candidate


@dataclass
class RunResult:
    run_dir: Path
    step: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    evaluations: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


class _StopRequested(Exception):
    pass


class Trainer:
    def __init__(
        self,
        resolved: ResolvedRecipe,
        *,
        run_dir: Path | None = None,
        resume: bool = False,
        console: Console | None = None,
        show_progress: bool = True,
    ):
        self.resolved = resolved
        self.train = resolved.train
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        parent = Path(resolved.run.out_dir)
        if run_dir is None:
            run_dir = parent / resolved.name if resume else unique_run_dir(parent, resolved.name)
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.device = resolve_device(resolved.run.device)
        self._stop_signal: int | None = None

    # ------------------------------------------------------------------ set-up

    def _setup(self) -> None:
        seed_everything(self.resolved.run.seed)
        self.dataset = self.resolved.build_dataset("train")
        if len(self.dataset) == 0:
            raise GanzooError("the training data set is empty")
        self.recipe: Recipe = self.resolved.build_recipe().to(self.device)
        self.recipe.train()
        self.sampler = ResumableBatchSampler(len(self.dataset), self.train.batch_size, self.resolved.run.seed)
        per_epoch = self.sampler.batches_per_epoch()
        self.total = self.train.iterations or (self.train.epochs or 1) * per_epoch
        groups = self.recipe.param_groups()
        self.optimizers = {
            name: build_optimizer(_unique(params), self.recipe.optimizer_config(name))
            for name, params in groups.items()
        }
        schedule = self.recipe.config.schedule  # type: ignore[attr-defined]
        self.schedulers = {n: build_scheduler(o, schedule, self.total) for n, o in self.optimizers.items()}
        self.steps = self.recipe.train_steps()
        for s in self.steps:
            if s.optimizer not in self.optimizers:
                raise GanzooError(f"recipe step '{s.name}' uses optimizer '{s.optimizer}', which "
                                  f"param_groups() does not define ({', '.join(self.optimizers)})")
        self.test_set = self._test_set()
        self.step = 0

    def _test_set(self):
        try:
            test = self.resolved.build_dataset("test")
        except GanzooError:
            return None
        return test if len(test) and getattr(test, "paired", False) else None

    def _start_run_dir(self) -> None:
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.samples_dir = self.run_dir / "samples"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = JsonlLog(self.run_dir / "metrics.jsonl")
        (self.run_dir / "recipe.toml").write_text(self.resolved.to_toml())
        (self.run_dir / "plugins.json").write_text(json.dumps(_plugin_versions(), indent=2))

    # ------------------------------------------------------------------ resume / checkpoint

    def _restore(self) -> None:
        directory = ckpt.resolve_checkpoint(self.ckpt_dir)
        state = ckpt.load_state(directory)
        ckpt.load_weights(directory, self.recipe)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        self.recipe.load_extra_state(state.get("recipe", {}))
        ckpt.set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.log.truncate_after(self.step)
        self.console.print(f"resumed from {directory} at step {self.step}")

    def save(self, name: str | None = None) -> Path:
        directory = self.ckpt_dir / (name or f"step_{self.step:07d}")
        state = {
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "recipe": self.recipe.extra_state(),
            "rng": ckpt.rng_state(),
        }
        meta = {"recipe": self.resolved.recipe.spec.name, "run": self.resolved.name}
        path = ckpt.save_checkpoint(directory, step=self.step, model=self.recipe, state=state, meta=meta)
        ckpt.prune(self.ckpt_dir, self.train.keep_last, protect={path.name})
        return path

    # ------------------------------------------------------------------ the loop

    def fit(self) -> RunResult:
        if self.resume and not (self.run_dir / "checkpoints").is_dir():
            raise GanzooError(f"--resume: {self.run_dir} has no checkpoints to resume from")
        self._setup()
        self._start_run_dir()
        if self.resume:
            self._restore()
        else:
            self.log.write({"step": 0, "event": "start", "total": self.total, "device": str(self.device)})
        result = RunResult(self.run_dir, self.step, 0.0)
        if self.step == 0 and self.test_set is not None:
            result.evaluations.append(self.evaluate())
        batches = infinite_batches(self.dataset, self.sampler, self.step, **self._loader_kwargs())
        start, window = time.perf_counter(), defaultdict(list)
        with self._signals(), self._progress() as progress:
            task = progress.add_task(self.resolved.name, total=self.total, completed=self.step, losses="")
            try:
                while self.step < self.total:
                    if self._stop_signal is not None:
                        raise _StopRequested
                    losses = self._iteration(self._to_device(next(batches)))
                    self.step += 1
                    for k, v in losses.items():
                        window[k].append(v)
                    self._periodic(window, progress, task, result)
            except (KeyboardInterrupt, _StopRequested):
                path = self.save()
                self.console.print(f"[yellow]interrupted at step {self.step}; saved {path}. "
                                   f"Continue with --resume.[/yellow]")
                result.stopped_early = True
                self.log.write({"step": self.step, "event": "interrupted"})
            except torch.cuda.OutOfMemoryError:
                raise TrainingError(
                    f"out of GPU memory at step {self.step}; try a smaller train.batch_size, a smaller "
                    "crop (data.crop_size / image_size), train.precision = 'bf16', or a narrower network "
                    "(generator.ngf)") from None
        result.step, result.seconds = self.step, time.perf_counter() - start
        if not result.stopped_early:
            self.save("final")
            self._samples("final")
            if self.test_set is not None:
                result.evaluations.append(self.evaluate())
            self.log.write({"step": self.step, "event": "end", "seconds": round(result.seconds, 2)})
        result.losses = {k: v[-1] for k, v in window.items() if v}
        return result

    def _iteration(self, batch: Batch) -> dict[str, float]:
        logged: dict[str, float] = {}
        for step in self.steps:
            for _ in range(step.repeat):
                optimizer = self.optimizers[step.optimizer]
                frozen = [p for m in step.frozen for p in m.parameters() if p.requires_grad]
                for p in frozen:
                    p.requires_grad_(False)
                try:
                    optimizer.zero_grad(set_to_none=True)
                    terms = dict(step.compute(batch))
                    total = sum(terms.values())
                    bad = [k for k, v in terms.items() if not torch.isfinite(v.detach()).all()]
                    if bad:
                        raise TrainingError(
                            f"loss {', '.join(bad)} became {terms[bad[0]].item()} at step {self.step + 1} "
                            f"({step.name} step); the last good checkpoint is kept in {self.ckpt_dir}. Try a "
                            "lower learning rate or fp32 precision.")
                    total.backward()
                    optimizer.step()
                finally:
                    for p in frozen:
                        p.requires_grad_(True)
                logged.update({k: float(v.detach()) for k, v in terms.items()})
        for sched in self.schedulers.values():
            sched.step()
        return logged

    def _periodic(self, window, progress, task, result) -> None:
        t = self.train
        step = self.step
        if step % t.log_every == 0 or step == self.total:
            means = {k: sum(v) / len(v) for k, v in window.items()}
            lrs = {f"lr/{n}": o.param_groups[0]["lr"] for n, o in self.optimizers.items()}
            self.log.write({"step": step, **{k: round(v, 6) for k, v in means.items()}, **lrs})
            progress.update(task, losses=" ".join(f"{k} {v:.3f}" for k, v in means.items()))
            window.clear()
        progress.update(task, completed=step)
        if t.sample_every and step % t.sample_every == 0:
            self._samples(f"step_{step:07d}")
        if t.eval_every and step % t.eval_every == 0 and self.test_set is not None and step < self.total:
            result.evaluations.append(self.evaluate())
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < self.total:
            self.save()

    def _samples(self, name: str) -> None:
        visuals = self.recipe.visuals()
        if visuals:
            save_grid(visuals, self.samples_dir / f"{name}.png")

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """PSNR and L1 of both directions against the paired test ground truth."""
        was_training = self.recipe.training
        self.recipe.eval()
        sums: dict[str, float] = defaultdict(float)
        n = min(self.train.eval_items, len(self.test_set))
        bs = max(self.train.batch_size, 8)
        count = 0
        for begin in range(0, n, bs):
            items = [self.test_set[i] for i in range(begin, min(begin + bs, n))]
            a = torch.stack([it["A"] for it in items]).to(self.device)
            b = torch.stack([it["B"] for it in items]).to(self.device)
            k = a.shape[0]
            for direction, src, dst in (("a2b", a, b), ("b2a", b, a)):
                out = self.recipe.translate(src, direction).clamp(-1, 1)
                sums[f"psnr_{direction}"] += float(psnr(out, dst)) * k
                sums[f"l1_{direction}"] += float(l1(out, dst)) * k
            sums["psnr_identity_a2b"] += float(psnr(a, b)) * k
            count += k
        self.recipe.train(was_training)
        metrics = {f"eval/{key}": round(v / count, 4) for key, v in sums.items()}
        self.log.write({"step": self.step, **metrics})
        return {"step": self.step, **metrics}

    # ------------------------------------------------------------------ helpers

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.train.num_workers
        return {"num_workers": workers, "pin_memory": self.device.type == "cuda",
                "persistent_workers": False, **({"prefetch_factor": 4} if workers else {})}

    def _to_device(self, batch: Batch) -> Batch:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()}

    def _progress(self) -> Progress:
        return _LossProgress(self.console, disable=not self.show_progress)

    @contextlib.contextmanager
    def _signals(self):
        """SIGTERM (cluster pre-emption, ``kill``) stops at the next iteration with a checkpoint."""
        def handler(signum, frame):
            self._stop_signal = signum

        if os.name == "posix" and _in_main_thread():
            previous = signal.signal(signal.SIGTERM, handler)
            try:
                yield
            finally:
                signal.signal(signal.SIGTERM, previous)
        else:
            yield


class _LossProgress(Progress):
    """Progress bar with it/s computed from the task's own speed estimate, and the losses."""

    def __init__(self, console: Console, disable: bool):
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
        task.fields["rate"] = f"{speed:.1f} it/s" if speed and math.isfinite(speed) else ""

    def add_task(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("rate", "")
        return super().add_task(*args, **kwargs)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _unique(params):
    """Parameters shared between networks (UNIT's tied layers) must reach an optimizer once."""
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _plugin_versions() -> dict[str, Any]:
    from ganzoo import __version__
    from ganzoo.plugins import get_plugins

    plugins = get_plugins().plugins
    return {"ganzoo": __version__, "torch": torch.__version__,
            "plugins": [{"name": p.name, "dist": p.dist, "version": p.version, "status": p.status}
                        for p in plugins]}
