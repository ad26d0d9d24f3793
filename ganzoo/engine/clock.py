"""A wall-clock budget for training (``train.max_seconds``).

Comparing methods "at equal time" needs a clock that counts the same thing for every run: the
seconds spent training, not evaluating (an evaluation measures the run, it is not part of it).
The clock is saved with every checkpoint, so a resumed run continues its budget instead of
starting a new one. The loop asks :meth:`TrainClock.expired` before each iteration, so a run
stops at the first iteration that ends past the limit, and the time it actually took is kept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

timer = time.perf_counter
"""The time source (a module attribute, so a test can replace it with a fake clock)."""


class TrainClock:
    """Seconds of training so far, across resumes; ``limit`` None means no budget."""

    def __init__(self, limit: float | None = None):
        self.limit = limit
        self._before = 0.0  # seconds counted by earlier processes (from the checkpoint) and earlier spans
        self._since: float | None = None  # start of the running span, None when stopped

    @property
    def elapsed(self) -> float:
        running = timer() - self._since if self._since is not None else 0.0
        return self._before + running

    def start(self) -> None:
        if self._since is None:
            self._since = timer()

    def stop(self) -> None:
        self._before, self._since = self.elapsed, None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time inside is not counted (evaluations)."""
        running = self._since is not None
        self.stop()
        try:
            yield
        finally:
            if running:
                self.start()

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        """Counting inside (the training loop)."""
        self.start()
        try:
            yield
        finally:
            self.stop()

    def expired(self, dist: Any = None) -> bool:
        """Whether the budget is spent; with a distributed context, on any rank, so that every rank
        stops on the same step (a rank leaving the loop alone would hang the others' all-reduce)."""
        if self.limit is None:
            return False
        spent = self.elapsed >= self.limit
        if dist is None:
            return spent
        from ganzoo.engine import distributed as ddp

        return ddp.any_rank(spent, dist)

    def state_dict(self) -> dict[str, float]:
        return {"train_seconds": self.elapsed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's count (checkpoints before the clock existed count 0)."""
        self._before, self._since = float(state.get("train_seconds") or 0.0), None
