"""Saving and restoring a run, so that a resumed run continues as if it had never stopped.

What a run needs beyond its weights: the optimizers, schedules and fp16 scalers, the weight
average, the best score so far, the seconds trained (for ``train.max_seconds``), and the state
that differs between processes (random streams, a method's image pools, the augmentation
generator). Each rank's own state is gathered to rank 0, which alone writes (the checkpoint's
file layout is :mod:`ganzoo.engine.checkpoint`'s). A run resumed on another number of
processes gets exact weights and optimizers, and rank 0's pools with fresh random streams
elsewhere.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine import distributed as ddp
from ganzoo.engine.clock import TrainClock
from ganzoo.engine.runtime import Runtime
from ganzoo.engine.steps import StepRunner
from ganzoo.errors import GanzooError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class RunState:
    """Writes and reads the checkpoints of one run directory's ``checkpoints/`` folder."""

    def __init__(self, folder: Path, *, method: nn.Module, runner: StepRunner, runtime: Runtime,
                 ema: Any = None, augment: Any = None, clock: TrainClock | None = None, meta: dict[str, Any],
                 files: dict[str, str] | None = None, seed: int = 0, keep_last: int = 3,
                 warn: Callable[[str], None] = print):
        self.folder, self.method, self.runner, self.runtime = folder, method, runner, runtime
        self.ema, self.augment, self.meta, self.files, self.seed = ema, augment, meta, files or {}, seed
        self.clock = clock or TrainClock()
        self.keep_last, self.warn = keep_last, warn

    def _own_state(self) -> dict[str, Any]:
        """What differs between ranks: random streams, method state such as image pools."""
        gen = getattr(self.augment, "generator", None)
        return ddp.to_cpu({"rng": ckpt.rng_state(), "method": self.method.extra_state(),  # type: ignore[operator]
                           "augment": gen.get_state() if gen is not None else None})

    def save(self, step: int, best: dict[str, Any] | None, name: str | None = None, *,
             point_latest: bool = True) -> Path:
        """Write a checkpoint (every rank must call this in a distributed run; rank 0 writes)."""
        self.runner.guard.check()  # a checkpoint never holds weights from a non-finite step,
        self.runner.check_state(step)  # nor non-finite weights or optimizer states
        directory = self.folder / (name or f"step_{step:07d}")
        dist = self.runtime.dist
        everyone = ddp.gather_objects(self._own_state(), dist)
        if dist.is_main:
            assert everyone is not None
            own = everyone[0]
            state = {**self.runner.state_dict(), **self.clock.state_dict(), "method": own["method"], "rng": own["rng"],
                     "augment": own["augment"], "best": best, "world_size": dist.world_size}
            if dist.enabled:
                state["ranks"] = everyone
            extra = {ckpt.EMA_WEIGHTS: self.ema.average} if self.ema is not None else None
            directory = ckpt.save_checkpoint(directory, step=step, model=self.method, state=state,
                                             meta={**self.meta, "ema": self.ema is not None,
                                                   "world_size": dist.world_size},
                                             extra_weights=extra, files=self.files, point_latest=point_latest)
            if point_latest:
                ckpt.prune(self.folder, self.keep_last, protect={directory.name})
        ddp.barrier(dist)
        return directory

    def restore(self, directory: Path | None = None, *, clock: bool = True) -> tuple[int, dict[str, Any] | None, Path]:
        """Load the latest complete checkpoint (or ``directory``) into the method, the runner, the
        average, the random streams and (``clock``) the training seconds; returns (step, best so far,
        the checkpoint's directory)."""
        directory = directory or ckpt.resolve_checkpoint(self.folder)
        state = ckpt.load_state(directory)
        ckpt.load_weights(directory, self.method)
        if self.ema is not None:
            if (directory / ckpt.EMA_WEIGHTS).is_file():
                ckpt.load_weights(directory, self.ema.average, filename=ckpt.EMA_WEIGHTS)
            else:
                self.ema.reset()
                self.warn(f"{directory} has no weight average; train.ema starts from the current weights")
        self.runner.load_state_dict(state)
        if clock:  # a health rollback keeps counting: the time it threw away was spent
            self.clock.load_state_dict(state)
        step = int(state["step"])
        own = self._rank_state(state)
        self.method.load_extra_state(own.get("method") or {})  # type: ignore[operator]
        if own.get("rng") is not None:
            ckpt.set_rng_state(own["rng"])
        else:
            seed_everything(ddp.rank_seed(self.seed + step, self.runtime.dist.rank))
        gen = getattr(self.augment, "generator", None)
        if gen is not None and own.get("augment") is not None:
            gen.set_state(own["augment"])
        return step, state.get("best"), directory

    def before(self, step: int) -> Path | None:
        """The newest complete periodic checkpoint of a step below ``step`` (a health rollback's target)."""
        older = [d for d in self.folder.glob("step_*") if (d / ckpt.STATE).is_file() and ckpt.step_of(d) < step]
        return max(older, key=ckpt.step_of, default=None)

    def _rank_state(self, state: dict[str, Any]) -> dict[str, Any]:
        dist = self.runtime.dist
        method_state = state.get("method", state.get("recipe", {}))  # "recipe": checkpoints of ganzoo 0.1
        ranks = state.get("ranks")
        if ranks and len(ranks) == dist.world_size:
            own = dict(ranks[dist.rank])
            own.setdefault("method", own.pop("recipe", {}))
            return own
        saved = len(ranks) if ranks else int(state.get("world_size", 1))
        if saved != dist.world_size:  # said once: the trainer's warn prints on rank 0 only
            self.warn(f"resuming on {dist.world_size} process(es) a checkpoint of {saved}: weights and "
                      "optimizers are exact, per-rank random streams and image pools are not")
        if dist.rank == 0:
            return {"rng": state["rng"], "method": method_state, "augment": state.get("augment")}
        return {"rng": None, "method": method_state, "augment": None}


def resumed_message(directory: Path, step: int, total: int, rates: Mapping[str, float]) -> str:
    """What a resume says: where it continues and, when ``train.iterations`` grew since the
    checkpoint (``ganzoo resume --set train.iterations=N``), how the learning rate goes on.

    Schedules are functions of (iteration, run length), so an extended run follows the schedule
    of a run planned with the new length from its current step: a linear decay that had reached
    0 at the old end starts again from the rate the longer run has at this step and decays to 0
    at the new end; constant and step schedules are unaffected; cosine is stretched likewise."""
    if step > total:
        raise GanzooError(f"{directory} is at step {step}, past this run's length of {total} iterations; "
                          f"to train on, give a larger length: ganzoo resume RUN_DIR --set train.iterations=N")
    try:
        before = int(json.loads((directory / ckpt.META).read_text())["total"])
    except (OSError, ValueError, KeyError, TypeError):  # checkpoints before ganzoo 0.3 do not record it
        before = total
    message = f"resumed from {directory} at step {step}"
    if before != total:
        lrs = ", ".join(f"{k} {v:.3g}" for k, v in rates.items())
        message += (f"; extended from {before} to {total} iterations: the learning rate follows the schedule of a "
                    f"{total}-iteration run from here ({lrs})")
    return message
