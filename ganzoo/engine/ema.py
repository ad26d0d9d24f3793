"""An exponential moving average of the generators' weights.

GAN generators oscillate around a good solution as G and D chase each other; averaging their
weights over the last ~1/(1-decay) iterations gives visibly steadier, usually better outputs
for free (Karras et al. 2018, Yazici et al. 2019). The average is kept in float32 beside the
live networks, is never trained, and replaces the live weights only for evaluation, samples
and export.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping

import torch
from torch import nn


class EMA:
    """``average = decay * average + (1 - decay) * live`` after every iteration; buffers (e.g.
    batch-norm statistics) are copied, not averaged.

    ``average`` is an ``nn.ModuleDict`` keyed by generator name, so its state-dict keys are
    ``<generator name>.<parameter>`` (what ``ema.safetensors`` holds). Layers shared between
    generators (UNIT) are shared in the copy as well and averaged once.
    """

    def __init__(self, generators: Mapping[str, nn.Module], decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.live = nn.ModuleDict(dict(generators))
        self.average = copy.deepcopy(self.live).eval().requires_grad_(False)
        # parameters() lists each tensor once, in the same order for the original and the deep copy
        self._live_params = [p for p in self.live.parameters()]
        self._avg_params = [p for p in self.average.parameters()]
        self._live_buffers = [b for b in self.live.buffers()]
        self._avg_buffers = [b for b in self.average.buffers()]
        assert len(self._live_params) == len(self._avg_params)

    @torch.no_grad()
    def update(self) -> None:
        if not self._avg_params:
            return
        live = [p.detach() for p in self._live_params]
        torch._foreach_lerp_(self._avg_params, live, 1.0 - self.decay)
        for avg, buf in zip(self._avg_buffers, self._live_buffers, strict=True):
            avg.copy_(buf)

    @torch.no_grad()
    def reset(self) -> None:
        """Start the average from the live weights (a run that turns EMA on when resumed)."""
        for avg, p in zip(self._avg_params, self._live_params, strict=True):
            avg.copy_(p)
        for avg, buf in zip(self._avg_buffers, self._live_buffers, strict=True):
            avg.copy_(buf)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Run the live generators with the averaged weights inside the block, then restore
        them: the recipe's own ``translate`` and ``visuals`` code keeps working unchanged, and
        compiled networks see the same parameter tensors (no recompilation)."""
        with torch.no_grad():
            backup = [p.detach().clone() for p in self._live_params]
            buffers = [b.detach().clone() for b in self._live_buffers]
            for p, avg in zip(self._live_params, self._avg_params, strict=True):
                p.copy_(avg)
            for b, avg in zip(self._live_buffers, self._avg_buffers, strict=True):
                b.copy_(avg)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, saved in zip(self._live_params, backup, strict=True):
                    p.copy_(saved)
                for b, saved in zip(self._live_buffers, buffers, strict=True):
                    b.copy_(saved)
