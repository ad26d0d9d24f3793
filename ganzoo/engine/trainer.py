"""The training loop: everything around a method's math, in the order it happens.

The method says which steps an iteration has and what each computes. The trainer builds the
run (data, method, runtime, optimizers) and runs the loop; each job around the loop is a small
piece that takes its inputs as arguments and never calls back:

- :class:`~ganzoo.engine.runtime.Runtime`: device, processes and precision;
- :class:`~ganzoo.engine.steps.StepRunner`: executing train steps (freezing, autocast,
  backward, gradient sync, clipping, optimizer and schedule steps, the finiteness guard);
- :class:`~ganzoo.engine.run_state.RunState`: saving and restoring the run;
- :class:`~ganzoo.engine.reporter.Reporter`: progress, logs, speed, loggers, HTML;
- :class:`~ganzoo.engine.samples.SampleInputs`: the fixed inputs of the labelled sample grids;
- :class:`~ganzoo.engine.evaluation.Evaluator` and ``BestTracker``: periodic evaluation (the
  code of ``ganzoo evaluate``) and the best checkpoint;
- :class:`~ganzoo.engine.signals.StopSignals`: SIGTERM and Ctrl-C;
- :class:`~ganzoo.engine.clock.TrainClock`: the seconds of training, and ``train.max_seconds``;
- :mod:`~ganzoo.engine.run_dir`: a run directory holds one run, written by one process;
- :mod:`~ganzoo.engine.rollback`: a health rule's rollback to the last healthy checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from ganzoo.components import Batch
from ganzoo.data.augment import BatchAugment
from ganzoo.engine import accel
from ganzoo.engine import distributed as ddp
from ganzoo.engine.checkpoint import remove_stale_temporaries
from ganzoo.engine.clock import TrainClock
from ganzoo.engine.data import ResumableBatchSampler, infinite_batches, loader_options, prepare_batch
from ganzoo.engine.ema import EMA
from ganzoo.engine.evaluation import BestTracker, Evaluator
from ganzoo.engine.health import HealthMonitor
from ganzoo.engine.reporter import Reporter, write_run_files
from ganzoo.engine.rollback import roll_back
from ganzoo.engine.run_dir import RunLock, check_new_run_dir, unique_run_dir
from ganzoo.engine.run_state import RunState, resumed_message, seed_everything
from ganzoo.engine.runtime import Runtime, out_of_memory
from ganzoo.engine.samples import SampleInputs
from ganzoo.engine.signals import StopSignals
from ganzoo.engine.steps import StepRunner
from ganzoo.errors import GanzooError
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
    train_seconds: float = 0.0  # training only (not evaluations), across resumes: what train.max_seconds limits


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
            self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)

    def setup(self) -> None:
        """Build data, the method, its optimizers and the speed machinery; no file is written."""
        t, run, rt = self.train, self.resolved.run, self.runtime
        seed_everything(run.seed)
        if rt.device.type == "cuda":
            torch.backends.cudnn.benchmark = t.cudnn_benchmark
        self.dataset = self.resolved.build_dataset("train")
        if len(self.dataset) == 0:
            raise GanzooError("the training data set is empty")
        method = self.resolved.build_method(init=not self.resume).to(rt.device)
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
        self.augment = BatchAugment(t.augment) if t.augment.policy else None
        self.compiled = accel.compile_method(self.method, t.compile, warn=self._warn)
        # modes that capture CUDA graphs must be told where an iteration starts
        cudagraphs = bool(self.compiled) and rt.device.type == "cuda" and t.compile in ("reduce-overhead",
                                                                                       "max-autotune")
        self.runner = StepRunner(self.method, rt, total=self.total, grad_clip=t.grad_clip, ema=self.ema,
                                 check_finite_every=t.check_finite_every, cudagraphs=cudagraphs,
                                 checkpoint_dir=self.run_dir / "checkpoints")
        if rt.dist.rank > 0:  # each rank its own stream for noise, pools and augmentation
            seed_everything(ddp.rank_seed(run.seed, rt.dist.rank))
        self.evaluator = Evaluator.build(self.resolved, rt, self.method.directions, warn=self._warn)
        self.sample_inputs = SampleInputs.build(self.resolved, self.dataset, run.seed) if rt.is_main else None
        self.tracker = BestTracker(t.best_metric if t.eval_every else "", t.best_mode)
        self.clock = TrainClock(t.max_seconds)
        self.state = RunState(self.run_dir / "checkpoints", method=self.method, runner=self.runner, runtime=rt,
                              ema=self.ema, augment=self.augment, clock=self.clock, seed=run.seed,
                              keep_last=t.keep_last, meta={"method": self.resolved.method.spec.name,
                                                           "run": self.resolved.name, "total": self.total},
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
        self.batches: Iterator[Batch] | None = None
        self.reporter: Reporter | None = None
        try:
            self.setup()
            t, rt = self.train, self.runtime
            if self.resume:  # nothing in the run directory changes before the checkpoint is restored
                self.step, best, where = self.state.restore()
                self.tracker = BestTracker(self.tracker.key, self.tracker.mode, best)
                resumed = resumed_message(where, self.step, self.total, self.runner.learning_rates())
            self.reporter = Reporter.for_run(self.resolved, self.run_dir, rt, console=self.console, total=self.total,
                                             show_progress=self.show_progress, resumed=self.resume, step=self.step)
            self.health = HealthMonitor.for_run(self.resolved, self.method, self.runner, self.reporter, rt)
            if self.resume:
                self.reporter.log.truncate_after(self.step)
                self.health.replay(self.reporter.log.records())
                self.reporter.say(resumed)
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
            self.batches = self._batches()
            self._loop(result)
            if not result.stopped_early:
                self.save("final")
                if not (t.sample_every and self.step % t.sample_every == 0):  # else just written
                    self._samples()
                if not result.evaluations or result.evaluations[-1]["step"] != self.step:  # the clock may stop
                    self._evaluate(result)  # the loop on a step just evaluated: once per step
                self.reporter.event(self.step, "end", seconds=round(result.seconds, 2), train_seconds=round(
                    result.train_seconds, 3), stopped_by="time" if self.step < self.total else "length")
            self.reporter.skipped_files(self.step, getattr(self.dataset, "skipped", None))
            self.reporter.finish(self.step, self.tracker.best)
            return result
        finally:
            if self.batches is not None:
                self.batches.close()  # shuts persistent DataLoader workers down now, not at exit
            if self.reporter is not None:
                self.reporter.close()

    def _batches(self) -> Iterator[Batch]:
        """The training batches from ``self.step`` on, as an uninterrupted run would have drawn them."""
        return infinite_batches(self.dataset, self.sampler, self.step, seed=ddp.rank_seed(
            self.resolved.run.seed, self.dist.rank), stages=self.dataset.stages(self.total),
            **loader_options(self.train, self.device))

    def _loop(self, result: RunResult) -> None:
        assert self.reporter is not None
        start = time.perf_counter()
        with StopSignals(self.reporter.say) as stop, self.reporter.progress(self.total, self.step), self.clock.timing():
            try:
                while self.step < self.total and not self.clock.expired(self.dist):
                    if ddp.any_rank(stop.requested, self.dist):
                        raise _StopRequested
                    losses = self.runner.iteration(self._prepare(next(self.batches)), self.step + 1)
                    self.step += 1
                    self.reporter.losses(losses)
                    self._periodic(result)
            except _StopRequested:
                path, why = self.save(), self.health.stop_reason  # why: a health rule's reaction, or a signal
                self.reporter.say(f"[yellow]{f'stopped by train.health ({why})' if why else 'interrupted'} at step "
                                  f"{self.step}; saved {path}. Continue with: ganzoo resume {self.run_dir}[/yellow]")
                # another rank's signal stops this one too: a stop request, as SIGTERM's
                result.stopped_early, result.stop_signal = True, None if why else stop.received or signal.SIGTERM
                self.reporter.event(self.step, "interrupted", **({"health": why} if why else {}))
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, mid-iteration, without saving
                self.reporter.event(self.step, "aborted")
                raise
            except torch.cuda.OutOfMemoryError:
                raise out_of_memory(self.step) from None
        result.step, result.seconds, result.train_seconds = self.step, time.perf_counter() - start, self.clock.elapsed
        result.losses = {**self.reporter.last_means, **self.reporter.flush_window()}

    def _periodic(self, result: RunResult) -> None:
        assert self.reporter is not None
        t, step = self.train, self.step
        if step % t.log_every == 0 or step == self.total:
            self.reporter.log_window(step, self.runner.learning_rates())
            if self.health.window(step, self.reporter.last_means, self.runner.learning_rates()):
                raise _StopRequested  # a health rule whose reaction is stop (saved, resumable)
        self.reporter.advance(step)
        if t.sample_every and step % t.sample_every == 0:
            self._samples()
        if t.eval_every and step % t.eval_every == 0 and step < self.total:
            self._evaluate(result)
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < self.total:
            self.save()
        if self.health.pending is not None:  # a rule whose reaction is rollback
            self._rollback()

    def _rollback(self) -> None:
        """Back to the last healthy checkpoint with a lower lr (:mod:`ganzoo.engine.rollback`), or stop."""
        episode, self.health.pending = self.health.pending, None
        step = roll_back(episode, self.step, self.state, self.health, self.reporter)
        if step is None:
            raise _StopRequested
        self.step = step
        self.batches.close()
        self.batches = self._batches()
        self.save()  # the restored step with the lowered lr: what a crash from here resumes

    def _prepare(self, batch: Batch) -> Batch:
        return prepare_batch(batch, self.device, self.augment, paired=bool(getattr(self.dataset, "paired", False)),
                             channels_last=self.train.channels_last)

    def save(self, name: str | None = None, *, point_latest: bool = True) -> Path:
        """Write a checkpoint of the current step (every rank calls this; rank 0 writes)."""
        path = self.state.save(self.step, self.tracker.best, name, point_latest=point_latest)
        if self.reporter is not None:
            self.reporter.checkpoint(self.step, path)
        return path

    def _samples(self) -> None:
        """The grid of the fixed sample inputs now (rank 0 draws and writes it)."""
        if self.sample_inputs is not None and self.reporter is not None and self.sample_inputs.items:
            image, columns = self.sample_inputs.draw(self.method, self.ema)
            self.reporter.samples(self.step, image, columns, self.sample_inputs.split)

    def _evaluate(self, result: RunResult) -> None:
        """Score the method now, log it, and keep checkpoints/best when the tracked score improved."""
        if self.evaluator is None or self.reporter is None:
            return
        with self.clock.paused():
            scores = self.evaluator(self.method, self.ema)
        self.reporter.evaluation(self.step, scores)
        if self.health.evaluation(self.step, scores) and 0 < self.step < self.total:
            raise _StopRequested
        result.evaluations.append({"step": self.step, **scores})
        if self.step == 0:  # nothing trained yet, but a best_metric no evaluation reports fails now
            self.tracker.check(scores)
        elif self.tracker.improved(self.step, scores):
            self.save("best", point_latest=False)
            self.reporter.event(self.step, "best", metric=self.tracker.key, value=self.tracker.best["value"])
