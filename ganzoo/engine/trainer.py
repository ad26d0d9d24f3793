"""The training loop: everything around a method's math.

The method says which steps an iteration has and what each computes; the trainer owns the
device, seeding, data order, optimizers and schedules, precision, compilation, data-parallel
processes, the weight average, logging, samples, evaluation, checkpoints, resume and the
handling of interruptions and non-finite losses.

The loop never waits for the GPU except where a number is needed on the CPU: losses stay on
the device until a log line is written, and finiteness checks (one small wait each) run every
``train.check_finite_every`` iterations and before every checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from ganzoo.components import Batch, Method
from ganzoo.engine import accel
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine import distributed as ddp
from ganzoo.engine.data import ResumableBatchSampler, infinite_batches
from ganzoo.engine.ema import EMA
from ganzoo.engine.outputs import JsonlLog, NullLog, TensorBoard, plot_losses, save_grid, write_index
from ganzoo.errors import GanzooError, TrainingError
from ganzoo.inference import resolve_device
from ganzoo.metrics.paired import l1, psnr
from ganzoo.optim import build_optimizer, build_scheduler
from ganzoo.recipe import ResolvedRecipe


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


@dataclass
class _Pending:
    """Finiteness flags of one step's loss terms, still on the device."""

    step: int
    name: str
    keys: list[str]
    finite: Tensor
    values: Tensor


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
        self.dist, self.device = ddp.init_from_env(resolve_device(resolved.run.device))
        self.show_progress = show_progress and self.dist.is_main
        parent = Path(resolved.run.out_dir)
        if run_dir is None:
            run_dir = parent / resolved.name if resume else unique_run_dir(parent, resolved.name)
        # rank 0 names the run directory: two ranks racing for "name-2" would split the outputs
        self.run_dir = Path(ddp.broadcast_object(str(run_dir), self.dist))
        self.resume = resume
        self._stop_signal: int | None = None
        self._setup_done = False

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _say(self, message: str) -> None:
        if self.is_main:
            self.console.print(message)

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        """Build data, networks, optimizers and the speed machinery; no file is written."""
        t, run = self.train, self.resolved.run
        seed_everything(run.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = t.cudnn_benchmark
        self.dataset = self.resolved.build_dataset("train")
        if len(self.dataset) == 0:
            raise GanzooError("the training data set is empty")
        method: Method = self.resolved.build_method().to(self.device)
        if method.requires_paired and not getattr(self.dataset, "paired", False):
            raise GanzooError(
                f"method '{self.resolved.method.spec.name}' trains on aligned pairs, but data "
                f"'{self.resolved.data.spec.name}' is unpaired; use data.type = 'aligned' (A|B side-by-side "
                "files) or 'paired_folders' (see: ganzoo list-components dataset)")
        if t.channels_last:
            method = method.to(memory_format=torch.channels_last)
        self.method = method
        self.method.train()
        self.sampler = ResumableBatchSampler(len(self.dataset), t.batch_size, run.seed,
                                             rank=self.dist.rank, world_size=self.dist.world_size)
        per_epoch = self.sampler.batches_per_epoch()
        self.total = t.iterations or (t.epochs or 1) * per_epoch
        groups = self.method.param_groups()
        self.group_params = {name: _unique(params) for name, params in groups.items()}
        fused = self.device.type == "cuda"  # one kernel per step for all parameters; foreach elsewhere
        self.optimizers = {
            name: build_optimizer(params, self.method.optimizer_config(name), fused=fused)
            for name, params in self.group_params.items()
        }
        schedule = self.method.config.schedule  # type: ignore[attr-defined]
        self.schedulers = {n: build_scheduler(o, schedule, self.total) for n, o in self.optimizers.items()}
        self.precision = accel.Precision(t.precision, self.device, self.optimizers)
        self.steps = self.method.train_steps()
        for s in self.steps:
            if s.optimizer not in self.optimizers:
                raise GanzooError(f"method step '{s.name}' uses optimizer '{s.optimizer}', which "
                                  f"param_groups() does not define ({', '.join(self.optimizers)})")
        # identical weights on every rank (they are seeded alike; this makes it a guarantee)
        ddp.broadcast_tensors(ddp.module_tensors(self.method), self.dist)
        self._sync_buffers = [b for b in self.method.buffers() if b.is_floating_point()]
        self.ema = EMA(self.method.generators(), t.ema) if t.ema > 0 else None
        self.augment = None
        if t.augment.policy:
            from ganzoo.data.augment import BatchAugment

            self.augment = BatchAugment(t.augment)
        self.compiled = accel.compile_method(self.method, t.compile, warn=self._warn)
        # modes that capture CUDA graphs must be told where an iteration starts, or a graph's
        # outputs from the last iteration count as still in use
        self._cudagraphs = (bool(self.compiled) and self.device.type == "cuda"
                            and t.compile in ("reduce-overhead", "max-autotune"))
        if self.dist.rank > 0:  # each rank its own stream for noise, pools and augmentation
            seed_everything(ddp.rank_seed(run.seed, self.dist.rank))
        self.test_set = self._test_set()
        self.best: dict[str, Any] | None = None
        self._pending: list[_Pending] = []
        self.step = 0
        self._setup_done = True

    def _warn(self, message: str) -> None:
        self._say(f"[yellow]warning:[/yellow] {message}")

    def _test_set(self):
        try:
            test = self.resolved.build_dataset("test")
        except GanzooError:
            return None
        return test if len(test) and getattr(test, "paired", False) else None

    def _start_run_dir(self) -> None:
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.samples_dir = self.run_dir / "samples"
        self.log: JsonlLog = NullLog()
        self.tb = TensorBoard(self.run_dir / "tensorboard", enabled=False)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.log = JsonlLog(self.run_dir / "metrics.jsonl")
            (self.run_dir / "recipe.toml").write_text(self.resolved.to_toml())
            (self.run_dir / "plugins.json").write_text(json.dumps(_plugin_versions(), indent=2))
            self.tb = TensorBoard(self.run_dir / "tensorboard", enabled=self.train.tensorboard)
        ddp.barrier(self.dist)

    # ------------------------------------------------------------------ resume / checkpoint

    def _restore(self) -> None:
        directory = ckpt.resolve_checkpoint(self.ckpt_dir)
        state = ckpt.load_state(directory)
        ckpt.load_weights(directory, self.method)
        if self.ema is not None:
            if (directory / ckpt.EMA_WEIGHTS).is_file():
                ckpt.load_weights(directory, self.ema.average, filename=ckpt.EMA_WEIGHTS)
            else:
                self.ema.reset()
                self._warn(f"{directory} has no weight average; train.ema starts from the current weights")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        self.precision.load_state_dict(state.get("scalers", {}))
        ranks = state.get("ranks")
        if ranks and len(ranks) == self.dist.world_size:
            own = ranks[self.dist.rank]
        elif self.dist.rank == 0:
            own = {"rng": state["rng"], "method": state.get("method", {}), "augment": state.get("augment")}
        else:  # saved with another number of processes: rank 0's pools, a fresh random stream
            own = {"rng": None, "method": state.get("method", {}), "augment": None}
            if self.dist.rank == 1:
                self._warn("resuming with another number of processes than the checkpoint's: weights and "
                           "optimizers are exact, per-rank random streams and image pools are not")
        self.method.load_extra_state(own.get("method") or {})
        if own.get("rng") is not None:
            ckpt.set_rng_state(own["rng"])
        else:
            seed_everything(ddp.rank_seed(self.resolved.run.seed + int(state["step"]), self.dist.rank))
        if self.augment is not None and self.augment.generator is not None and own.get("augment") is not None:
            self.augment.generator.set_state(own["augment"])
        self.best = state.get("best")
        self.step = int(state["step"])
        self.log.truncate_after(self.step)
        self._say(f"resumed from {directory} at step {self.step}")

    def _own_state(self) -> dict[str, Any]:
        """What differs between ranks: random streams and method state such as image pools."""
        aug = self.augment.generator.get_state() if self.augment and self.augment.generator else None
        return ddp.to_cpu({"rng": ckpt.rng_state(), "method": self.method.extra_state(), "augment": aug})

    def save(self, name: str | None = None, *, point_latest: bool = True) -> Path:
        """Write a checkpoint (rank 0; every rank must call this in a distributed run)."""
        self._check_finite()  # a checkpoint never holds weights from a non-finite step
        directory = self.ckpt_dir / (name or f"step_{self.step:07d}")
        everyone = ddp.gather_objects(self._own_state(), self.dist)
        if self.is_main:
            assert everyone is not None
            own = everyone[0]
            state = {
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
                "scalers": self.precision.state_dict(),
                "method": own["method"],
                "rng": own["rng"],
                "augment": own["augment"],
                "best": self.best,
                "world_size": self.dist.world_size,
            }
            if self.dist.enabled:
                state["ranks"] = everyone
            meta = {"method": self.resolved.method.spec.name, "run": self.resolved.name,
                    "ema": self.ema is not None, "world_size": self.dist.world_size}
            extra = {ckpt.EMA_WEIGHTS: self.ema.average} if self.ema is not None else None
            directory = ckpt.save_checkpoint(directory, step=self.step, model=self.method, state=state, meta=meta,
                                             extra_weights=extra, point_latest=point_latest)
            if point_latest:
                ckpt.prune(self.ckpt_dir, self.train.keep_last, protect={directory.name})
        ddp.barrier(self.dist)
        return directory

    # ------------------------------------------------------------------ the loop

    def fit(self) -> RunResult:
        if self.resume and not (self.run_dir / "checkpoints").is_dir():
            raise GanzooError(f"--resume: {self.run_dir} has no checkpoints to resume from")
        batches: Iterator[Batch] | None = None
        try:
            self.setup()
            self._start_run_dir()
            if self.resume:
                self._restore()
            else:
                self.log.write({"step": 0, "event": "start", "total": self.total, "device": str(self.device),
                                "world_size": self.dist.world_size, "precision": self.train.precision,
                                "compiled": self.compiled})
            result = RunResult(self.run_dir, self.step, 0.0)
            if self.step == 0 and self.test_set is not None:
                result.evaluations.append(self.evaluate())
            seed = ddp.rank_seed(self.resolved.run.seed, self.dist.rank)
            batches = infinite_batches(self.dataset, self.sampler, self.step, seed=seed, **self._loader_kwargs())
            self._run_loop(batches, result)
            if not result.stopped_early:
                self.save("final")
                self._samples("final")
                if self.test_set is not None:
                    result.evaluations.append(self.evaluate())
                self.log.write({"step": self.step, "event": "end", "seconds": round(result.seconds, 2)})
            self._log_skipped_files()
            self._reports()
            return result
        finally:
            if batches is not None:
                batches.close()  # shuts persistent DataLoader workers down now, not at exit
            if hasattr(self, "tb"):
                self.tb.close()
            ddp.shutdown(self.dist)

    def _run_loop(self, batches: Iterator[Batch], result: RunResult) -> None:
        window: dict[str, list[Tensor]] = defaultdict(list)
        start = time.perf_counter()
        self._speed_mark = (start, self.step)
        self._last_means: dict[str, float] = {}
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        images = self.train.batch_size * self.dist.world_size
        with self._signals(), self._progress(images) as progress:
            task = progress.add_task(self.resolved.name, total=self.total, completed=self.step, losses="")
            try:
                while self.step < self.total:
                    if ddp.any_rank(self._stop_signal is not None, self.dist):
                        raise _StopRequested
                    losses = self._iteration(self._prepare(next(batches)))
                    self.step += 1
                    for k, v in losses.items():
                        window[k].append(v)
                    if self.step % self.train.check_finite_every == 0:
                        self._check_finite()
                    self._periodic(window, progress, task, result)
            except _StopRequested:
                path = self.save()
                self._say(f"[yellow]interrupted at step {self.step}; saved {path}. "
                          f"Continue with --resume.[/yellow]")
                result.stopped_early = True
                self.log.write({"step": self.step, "event": "interrupted"})
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, mid-iteration, without saving
                self.log.write({"step": self.step, "event": "aborted"})
                raise
            except torch.cuda.OutOfMemoryError:
                raise TrainingError(
                    f"out of GPU memory at step {self.step}; try a smaller train.batch_size, a smaller "
                    "crop (data.crop_size / image_size), train.precision = 'bf16', or a narrower network "
                    "(generator.ngf)") from None
        result.step, result.seconds = self.step, time.perf_counter() - start
        result.losses = {**self._last_means, **self._window_means(window)}

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

    def _to_device(self, batch: Batch) -> Batch:
        return self._prepare(batch)

    def _iteration(self, batch: Batch) -> dict[str, Tensor]:
        """One iteration: every step of the method, then schedules, the average and buffers.
        Returns the loss terms (and gradient norms) as detached device tensors."""
        logged: dict[str, Tensor] = {}
        clip = self.train.grad_clip
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        for step in self.steps:
            for _ in range(step.repeat):
                optimizer = self.optimizers[step.optimizer]
                scaler = self.precision.scalers.get(step.optimizer)
                params = self.group_params[step.optimizer]
                frozen = [p for m in step.frozen for p in m.parameters() if p.requires_grad]
                for p in frozen:
                    p.requires_grad_(False)
                try:
                    optimizer.zero_grad(set_to_none=True)
                    with self.precision.autocast():
                        terms = dict(step.compute(batch))
                        total = sum(terms.values())
                    self._guard(terms, step.name)
                    (scaler.scale(total) if scaler is not None else total).backward()  # type: ignore[union-attr]
                    ddp.all_reduce_gradients(params, self.dist)
                    if clip:
                        if scaler is not None:
                            scaler.unscale_(optimizer)
                        norm = torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                        logged[f"grad_norm/{step.optimizer}"] = norm.detach()
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                finally:
                    for p in frozen:
                        p.requires_grad_(True)
                logged.update({k: v.detach() for k, v in terms.items()})
        with warnings.catch_warnings():
            # a GradScaler skipping an overflowing step looks to torch like a scheduler stepped first
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for sched in self.schedulers.values():
                sched.step()
        if self.ema is not None:
            self.ema.update()
        if self.dist.enabled and self._sync_buffers:  # running statistics: rank 0's, as DDP does
            ddp.broadcast_tensors(self._sync_buffers, self.dist)
        return logged

    # ------------------------------------------------------------------ non-finite losses

    def _guard(self, terms: dict[str, Tensor], name: str) -> None:
        """Record whether every term is finite; with ``check_finite_every = 1`` check at once,
        before the backward pass, so the failing step never reaches the weights."""
        if not terms:
            return
        values = torch.stack([v.detach().float().sum() for v in terms.values()])
        self._pending.append(_Pending(self.step + 1, name, list(terms), torch.isfinite(values), values))
        if self.train.check_finite_every == 1:
            self._check_finite()

    def _check_finite(self) -> None:
        if not self._setup_done:
            return
        pending, self._pending = self._pending, []
        if not pending:  # every rank runs the same steps, so all agree on this
            return
        flags = torch.cat([p.finite for p in pending]).int()
        if self.dist.enabled:
            flags = ddp.all_reduce_min(flags, self.dist)
        ok = flags.tolist()
        if all(ok):
            return
        offset = 0
        for p in pending:
            seg = ok[offset:offset + len(p.keys)]
            offset += len(p.keys)
            if all(seg):
                continue
            bad = [k for k, good in zip(p.keys, seg, strict=True) if not good]
            local = float(p.values[p.keys.index(bad[0])])
            value = local if not math.isfinite(local) else "non-finite on another rank"
            raise TrainingError(
                f"loss {', '.join(bad)} became {value} at step {p.step} ({p.name} step); the last good "
                f"checkpoint is kept in {self.ckpt_dir}. Try a lower learning rate or fp32 precision.")

    # ------------------------------------------------------------------ periodic work

    def _periodic(self, window, progress, task, result) -> None:
        t = self.train
        step = self.step
        if step % t.log_every == 0 or step == self.total:
            means = self._window_means(window)
            lrs = {f"lr/{n}": o.param_groups[0]["lr"] for n, o in self.optimizers.items()}
            self.log.write({"step": step, **{k: round(v, 6) for k, v in means.items()}, **lrs})
            speed = self._speed()
            self.log.write({"step": step, "event": "speed", **speed})
            self.tb.scalars(step, {**means, **lrs, **{f"speed/{k}": v for k, v in speed.items()}})
            progress.update(task, losses=" ".join(f"{k} {v:.3f}" for k, v in means.items() if "/" not in k))
            self._last_means = means
            window.clear()
        progress.update(task, completed=step)
        if t.sample_every and step % t.sample_every == 0:
            self._samples(f"step_{step:07d}")
        if t.eval_every and step % t.eval_every == 0 and self.test_set is not None and step < self.total:
            result.evaluations.append(self.evaluate())
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < self.total:
            self.save()

    def _window_means(self, window: dict[str, list[Tensor]]) -> dict[str, float]:
        """Mean of each logged value since the last log line (over every rank): the only point
        where the loop waits for the losses."""
        keys = sorted(window)
        if not keys:
            return {}
        means = torch.stack([_finite_mean(torch.stack(window[k]).float()) if k.startswith("grad_norm/")
                             else torch.stack(window[k]).float().mean() for k in keys])
        means = ddp.all_reduce_mean(means, self.dist)
        return dict(zip(keys, means.tolist(), strict=True))

    def _speed(self) -> dict[str, float]:
        now = time.perf_counter()
        then, step0 = self._speed_mark
        self._speed_mark = (now, self.step)
        its = (self.step - step0) / max(now - then, 1e-9)
        speed = {"it_s": round(its, 3), "img_s": round(its * self.train.batch_size * self.dist.world_size, 3)}
        if self.device.type == "cuda":
            speed["mem_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 3)
        return speed

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode, no gradients, compiled networks run eagerly, and the weight average in
        place of the live generators when train.ema is on."""
        was_training = self.method.training
        self.method.eval()
        try:
            with torch.no_grad(), accel.eager(), (self.ema.swapped() if self.ema else contextlib.nullcontext()):
                yield
        finally:
            self.method.train(was_training)

    def _samples(self, name: str) -> None:
        if not self.is_main:
            return
        visuals = self.method.visuals()
        if not visuals:
            return
        if self.ema is not None:  # the average's translations of the same inputs, beside the live ones
            with self._inference():
                for key, direction in (("real_A", "a2b"), ("real_B", "b2a")):
                    if key in visuals and visuals[key].dim() == 4:
                        with contextlib.suppress(Exception):  # one-way recipes may refuse b2a
                            visuals[f"ema_{direction}"] = self.method.translate(visuals[key][:4].float(), direction)
        save_grid(visuals, self.samples_dir / f"{name}.png")
        self.tb.image("samples", visuals, self.step)
        self._write_index()

    def evaluate(self) -> dict[str, float]:
        """PSNR and L1 of both directions against the paired test ground truth (rank 0 computes,
        every rank gets the result), with the weight average when train.ema is on. Keeps
        checkpoints/best when ``train.best_metric`` improves (periodic evaluations only)."""
        metrics = self._evaluate() if self.is_main else None
        metrics = ddp.broadcast_object(metrics, self.dist)
        self._track_best(metrics)
        return metrics

    def _evaluate(self) -> dict[str, float]:
        sums: dict[str, float] = defaultdict(float)
        n = min(self.train.eval_items, len(self.test_set))
        bs = max(self.train.batch_size, 8)
        count = 0
        with self._inference():
            for begin in range(0, n, bs):
                items = [self.test_set[i] for i in range(begin, min(begin + bs, n))]
                a = torch.stack([it["A"] for it in items]).to(self.device)
                b = torch.stack([it["B"] for it in items]).to(self.device)
                k = a.shape[0]
                for direction, src, dst in (("a2b", a, b), ("b2a", b, a)):
                    if direction not in self.method.directions:
                        continue
                    out = self.method.translate(src, direction).float().clamp(-1, 1)
                    sums[f"psnr_{direction}"] += float(psnr(out, dst)) * k
                    sums[f"l1_{direction}"] += float(l1(out, dst)) * k
                sums["psnr_untranslated"] += float(psnr(a, b)) * k  # the do-nothing baseline
                count += k
        metrics = {f"eval/{key}": round(v / count, 4) for key, v in sums.items()}
        self.log.write({"step": self.step, **metrics})
        self.tb.scalars(self.step, metrics)
        return {"step": self.step, **metrics}

    def _track_best(self, metrics: dict[str, float]) -> None:
        t = self.train
        key = t.best_metric
        if not key or not t.eval_every or self.step == 0 or key not in metrics:
            return
        value = float(metrics[key])
        if not math.isfinite(value):
            return
        best = self.best["value"] if self.best else None
        if best is None or (value > best if t.best_mode == "max" else value < best):
            self.best = {"metric": key, "value": value, "step": self.step}
            self.save("best", point_latest=False)
            self.log.write({"step": self.step, "event": "best", "metric": key, "value": value})

    def _log_skipped_files(self) -> None:
        """Unreadable images were skipped with a warning each; the run log keeps the count."""
        skipped = getattr(self.dataset, "skipped", None)
        if self.is_main and skipped is not None and len(skipped):
            paths = [str(p) for p in list(skipped)[:20]]
            self.log.write({"step": self.step, "event": "skipped_files", "count": len(skipped), "first": paths})
            self._warn(f"{len(skipped)} unreadable image(s) were skipped; see metrics.jsonl")

    def _reports(self) -> None:
        """The loss-curve image and the HTML index, rebuilt from the whole log."""
        if not self.is_main:
            return
        with contextlib.suppress(Exception):  # a report must never fail a finished run
            plot_losses(self.log.records(), self.run_dir / "loss_curves.png")
        self._write_index()

    def _write_index(self) -> None:
        t = self.train
        info = {
            "method": self.resolved.method.spec.name,
            "data": self.resolved.data.spec.name,
            "step": f"{self.step} / {self.total}",
            "device": f"{self.device} x {self.dist.world_size}" if self.dist.enabled else str(self.device),
            "batch": t.batch_size,
            "precision": t.precision,
            "ema": t.ema or "off",
            "best": (f"{self.best['metric']} = {self.best['value']:.4f} at step {self.best['step']}"
                     if self.best else "-"),
        }
        with contextlib.suppress(OSError):
            write_index(self.run_dir, title=f"ganzoo run {self.resolved.name}", records=self.log.records(),
                        info=info)

    # ------------------------------------------------------------------ helpers

    def _loader_kwargs(self) -> dict[str, Any]:
        t = self.train
        kwargs: dict[str, Any] = {"num_workers": t.num_workers, "pin_memory": self.device.type == "cuda"}
        if t.num_workers:
            kwargs.update(persistent_workers=t.persistent_workers, prefetch_factor=t.prefetch_factor)
        return kwargs

    def _progress(self, images_per_iteration: int = 1) -> Progress:
        return _LossProgress(self.console, disable=not self.show_progress, images=images_per_iteration)

    @contextlib.contextmanager
    def _signals(self):
        """SIGTERM (cluster pre-emption, ``kill``) and a first Ctrl-C stop at the end of the
        current iteration with a checkpoint; a second Ctrl-C aborts at once without saving."""
        def handler(signum, frame):
            if signum == signal.SIGINT:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                self._say("[yellow]stopping after this iteration (Ctrl-C again to abort without saving)[/yellow]")
            self._stop_signal = signum

        if os.name == "posix" and _in_main_thread():
            previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
            try:
                yield
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)
        else:
            yield


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


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _finite_mean(values: Tensor) -> Tensor:
    """Mean of the finite values (NaN if none): gradient norms of steps the fp16 scaler skipped
    are inf and say nothing about the others. No wait for the device."""
    return torch.where(torch.isfinite(values), values, torch.nan).nanmean()


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
