"""The training loop: everything around a method's math, in the order it happens.

The method says which steps an iteration has and what each computes. The trainer builds the
run (data, method, runtime, optimizers) and runs the loop; each job around the loop is a small
piece that takes its inputs as arguments and never calls back:

- :class:`~ganzoo.engine.runtime.Runtime`: device, processes and precision;
- :class:`~ganzoo.engine.steps.StepRunner`: executing train steps (freezing, autocast,
  backward, gradient sync, clipping, optimizer and schedule steps, the finiteness guard);
- :class:`~ganzoo.engine.run_state.RunState`: saving and restoring the run;
- :class:`~ganzoo.engine.reporter.Reporter`: progress, logs, speed, samples, TensorBoard, HTML;
- :class:`~ganzoo.engine.evaluation.Evaluator` and ``BestTracker``: periodic evaluation (the
  code of ``ganzoo evaluate``) and the best checkpoint;
- :class:`~ganzoo.engine.signals.StopSignals`: SIGTERM and Ctrl-C;
- :mod:`~ganzoo.engine.run_dir`: a run directory holds one run, written by one process.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import Tensor

from ganzoo.components import Batch
from ganzoo.engine import accel
from ganzoo.engine import distributed as ddp
from ganzoo.engine.checkpoint import remove_stale_temporaries
from ganzoo.engine.data import ResumableBatchSampler, infinite_batches
from ganzoo.engine.ema import EMA
from ganzoo.engine.evaluation import BestTracker, Evaluator, sample_visuals
from ganzoo.engine.reporter import Reporter, write_run_files
from ganzoo.engine.run_dir import RunLock, check_new_run_dir, unique_run_dir
from ganzoo.engine.run_state import RunState, seed_everything
from ganzoo.engine.runtime import Runtime
from ganzoo.engine.signals import StopSignals
from ganzoo.engine.steps import StepRunner
from ganzoo.errors import GanzooError, TrainingError
from ganzoo.recipe import ResolvedRecipe


@dataclass
class RunResult:
    run_dir: Path
    step: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    evaluations: list[dict[str, float]] = field(default_factory=list)
    """``{"step": s, "a2b/psnr": ..., ...}`` per evaluation, keys as ``ganzoo evaluate`` reports."""
    stopped_early: bool = False
    stop_signal: int | None = None
    """The signal that stopped the run early (SIGINT, SIGTERM), after its checkpoint was saved."""


class _StopRequested(Exception):
    pass


class Trainer:
    def __init__(self, resolved: ResolvedRecipe, *, run_dir: Path | None = None, resume: bool = False,
                 overwrite: bool = False, console: Console | None = None, show_progress: bool = True):
        self.resolved, self.train = resolved, resolved.train
        self.console = console or Console(stderr=True)
        self.show_progress, self.resume, self.overwrite = show_progress, resume, overwrite
        self.runtime = Runtime.start(resolved.run.device, resolved.train.precision)
        parent = Path(resolved.run.out_dir)
        if run_dir is None:
            run_dir = parent / resolved.name if resume else unique_run_dir(parent, resolved.name)
        # rank 0 names the run directory: two ranks racing for "name-2" would split the outputs
        self.run_dir = Path(ddp.broadcast_object(str(run_dir), self.runtime.dist))
        self.step = 0

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def dist(self) -> ddp.DistContext:
        return self.runtime.dist

    @property
    def is_main(self) -> bool:
        return self.runtime.is_main

    def _warn(self, message: str) -> None:
        if self.is_main:
            self.console.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True, highlight=False)

    def setup(self) -> None:
        """Build data, the method, its optimizers and the speed machinery; no file is written."""
        t, run, rt = self.train, self.resolved.run, self.runtime
        seed_everything(run.seed)
        if rt.device.type == "cuda":
            torch.backends.cudnn.benchmark = t.cudnn_benchmark
        self.dataset = self.resolved.build_dataset("train")
        if len(self.dataset) == 0:
            raise GanzooError("the training data set is empty")
        method = self.resolved.build_method().to(rt.device)
        if method.requires_paired and not getattr(self.dataset, "paired", False):
            raise GanzooError(
                f"method '{self.resolved.method.spec.name}' trains on aligned pairs, but data "
                f"'{self.resolved.data.spec.name}' is unpaired; use data.type = 'aligned' (A|B side-by-side "
                "files) or 'paired_folders' (see: ganzoo list-components dataset)")
        self.method = (method.to(memory_format=torch.channels_last) if t.channels_last else method).train()
        self.sampler = ResumableBatchSampler(len(self.dataset), t.batch_size, run.seed,
                                             rank=rt.dist.rank, world_size=rt.dist.world_size)
        self.total = t.iterations or (t.epochs or 1) * self.sampler.batches_per_epoch()
        # identical weights on every rank (they are seeded alike; this makes it a guarantee)
        ddp.broadcast_tensors(ddp.module_tensors(self.method), rt.dist)
        self.ema = EMA(self.method.generators(), t.ema) if t.ema > 0 else None
        self.augment = None
        if t.augment.policy:
            from ganzoo.data.augment import BatchAugment

            self.augment = BatchAugment(t.augment)
        self.compiled = accel.compile_method(self.method, t.compile, warn=self._warn)
        # modes that capture CUDA graphs must be told where an iteration starts
        cudagraphs = bool(self.compiled) and rt.device.type == "cuda" and t.compile in ("reduce-overhead",
                                                                                       "max-autotune")
        self.runner = StepRunner(self.method, rt, total=self.total, grad_clip=t.grad_clip, ema=self.ema,
                                 check_finite_every=t.check_finite_every, cudagraphs=cudagraphs,
                                 checkpoint_dir=self.run_dir / "checkpoints")
        if rt.dist.rank > 0:  # each rank its own stream for noise, pools and augmentation
            seed_everything(ddp.rank_seed(run.seed, rt.dist.rank))
        self.evaluator = Evaluator.build(self.resolved, rt, self.method.directions)
        self.tracker = BestTracker(t.best_metric if t.eval_every else "", t.best_mode)
        self.state = RunState(self.run_dir / "checkpoints", method=self.method, runner=self.runner, runtime=rt,
                              ema=self.ema, augment=self.augment, seed=run.seed, keep_last=t.keep_last,
                              meta={"method": self.resolved.method.spec.name, "run": self.resolved.name},
                              files={"recipe.toml": self.resolved.to_toml()},
                              warn=self._warn)

    def fit(self) -> RunResult:
        """Train, in the run directory, which is locked for the whole run (rank 0 holds it)."""
        if self.resume and not (self.run_dir / "checkpoints").is_dir():
            raise GanzooError(f"--resume: {self.run_dir} has no checkpoints to resume from")
        lock = RunLock(self.run_dir, "resume" if self.resume else "run", warn=self._warn)
        try:
            with lock if self.is_main else contextlib.nullcontext():
                if self.is_main and not self.resume:
                    check_new_run_dir(self.run_dir, overwrite=self.overwrite)
                ddp.barrier(self.dist)
                return self._fit()
        finally:
            self.runtime.close()

    def _fit(self) -> RunResult:
        batches: Iterator[Batch] | None = None
        self.reporter: Reporter | None = None
        try:
            self.setup()
            t, rt = self.train, self.runtime
            if self.resume:  # nothing in the run directory changes before the checkpoint is restored
                self.step, best, where = self.state.restore()
                self.tracker = BestTracker(self.tracker.key, self.tracker.mode, best)
            self.reporter = Reporter(
                self.run_dir, rt, console=self.console, images_per_iteration=t.batch_size * rt.dist.world_size,
                show_progress=self.show_progress, tensorboard=t.tensorboard, title=self.resolved.name,
                info={"method": self.resolved.method.spec.name, "data": self.resolved.data.spec.name,
                      "total": self.total, "device": rt.describe(), "batch": t.batch_size,
                      "precision": rt.precision, "ema": t.ema or "off", "best": "-"})
            if self.resume:
                self.reporter.log.truncate_after(self.step)
                self.reporter.say(f"resumed from {where} at step {self.step}")
            if self.is_main:
                write_run_files(self.run_dir, self.resolved.to_toml())
                for tmp in remove_stale_temporaries(self.run_dir / "checkpoints"):
                    self._warn(f"removed {tmp}, left by an interrupted checkpoint write")
            ddp.barrier(rt.dist)
            if not self.resume:
                self.reporter.event(0, "start", total=self.total, device=str(rt.device), precision=rt.precision,
                                    world_size=rt.dist.world_size, compiled=self.compiled)
            result = RunResult(self.run_dir, self.step, 0.0)
            if self.step == 0:
                self._evaluate(result)
            batches = infinite_batches(self.dataset, self.sampler, self.step, seed=ddp.rank_seed(
                self.resolved.run.seed, rt.dist.rank), stages=self.dataset.stages(self.total), **self._loader_kwargs())
            self._loop(batches, result)
            if not result.stopped_early:
                self.save("final")
                self._samples("final")
                self._evaluate(result)
                self.reporter.event(self.step, "end", seconds=round(result.seconds, 2))
            self.reporter.skipped_files(self.step, getattr(self.dataset, "skipped", None))
            self.reporter.finish(self.step, self.tracker.best)
            return result
        finally:
            if batches is not None:
                batches.close()  # shuts persistent DataLoader workers down now, not at exit
            if self.reporter is not None:
                self.reporter.close()

    def _loop(self, batches: Iterator[Batch], result: RunResult) -> None:
        assert self.reporter is not None
        start = time.perf_counter()
        with StopSignals(self.reporter.say) as stop, self.reporter.progress(self.total, self.step):
            try:
                while self.step < self.total:
                    if ddp.any_rank(stop.requested, self.dist):
                        raise _StopRequested
                    losses = self.runner.iteration(self._prepare(next(batches)), self.step + 1)
                    self.step += 1
                    self.reporter.losses(losses)
                    self._periodic(result)
            except _StopRequested:
                path = self.save()
                self.reporter.say(f"[yellow]interrupted at step {self.step}; saved {path}. Continue with: "
                                  f"ganzoo resume {self.run_dir}[/yellow]")
                # another rank's signal stops this one too: a stop request, as SIGTERM's
                result.stopped_early, result.stop_signal = True, stop.received or signal.SIGTERM
                self.reporter.event(self.step, "interrupted")
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, mid-iteration, without saving
                self.reporter.event(self.step, "aborted")
                raise
            except torch.cuda.OutOfMemoryError:
                raise TrainingError(
                    f"out of GPU memory at step {self.step}; try a smaller train.batch_size, a smaller "
                    "crop (data.crop_size / image_size), train.precision = 'bf16', or a narrower network "
                    "(generator.ngf)") from None
        result.step, result.seconds = self.step, time.perf_counter() - start
        result.losses = {**self.reporter.last_means, **self.reporter.flush_window()}

    def _periodic(self, result: RunResult) -> None:
        assert self.reporter is not None
        t, step = self.train, self.step
        if step % t.log_every == 0 or step == self.total:
            self.reporter.log_window(step, self.runner.learning_rates())
        self.reporter.advance(step)
        if t.sample_every and step % t.sample_every == 0:
            self._samples(f"step_{step:07d}")
        if t.eval_every and step % t.eval_every == 0 and step < self.total:
            self._evaluate(result)
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < self.total:
            self.save()

    def _prepare(self, batch: Batch) -> Batch:
        """Batch to the device (asynchronously from pinned memory), augmented there, in the
        networks' memory format."""
        batch = {k: v.to(self.device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}
        if self.augment is not None:
            batch = self.augment.apply_batch(batch, paired=bool(getattr(self.dataset, "paired", False)))
        if self.train.channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if isinstance(v, Tensor) and v.dim() == 4
                     else v for k, v in batch.items()}
        return batch

    def save(self, name: str | None = None, *, point_latest: bool = True) -> Path:
        """Write a checkpoint of the current step (every rank calls this; rank 0 writes)."""
        return self.state.save(self.step, self.tracker.best, name, point_latest=point_latest)

    def _samples(self, name: str) -> None:
        if self.is_main and self.reporter is not None:
            self.reporter.samples(name, self.step, sample_visuals(self.method, self.ema))

    def _evaluate(self, result: RunResult) -> None:
        """Score the method now, log it, and keep checkpoints/best when the tracked score improved."""
        if self.evaluator is None or self.reporter is None:
            return
        scores = self.evaluator(self.method, self.ema)
        self.reporter.evaluation(self.step, scores)
        result.evaluations.append({"step": self.step, **scores})
        if self.step == 0:  # nothing trained yet, but a best_metric no evaluation reports fails now
            self.tracker.check(scores)
        elif self.tracker.improved(self.step, scores):
            self.save("best", point_latest=False)
            self.reporter.event(self.step, "best", metric=self.tracker.key, value=self.tracker.best["value"])

    def _loader_kwargs(self) -> dict[str, Any]:
        t = self.train
        kwargs: dict[str, Any] = {"num_workers": t.num_workers, "pin_memory": self.device.type == "cuda"}
        if t.num_workers:
            kwargs.update(persistent_workers=t.persistent_workers, prefetch_factor=t.prefetch_factor)
        return kwargs
