"""Gradient averaging that overlaps the backward pass: bucketed asynchronous all-reduce.

Why not DistributedDataParallel, and why not an all-reduce after the whole backward: see
:mod:`ganzoo.engine.distributed` and docs/performance.md (measured). DDP arms its reducer only
in ``DDP.forward`` and wants every network called once per backward; ganzoo's methods call
networks several times per backward (CycleGAN's G_A twice), through other methods (UNIT's
``encode``/``decode``) and freeze discriminators in one step and train them in the next. This
class needs none of that: a hook on every parameter (``register_post_accumulate_grad_hook``,
which autograd runs once per backward, after the gradients of all uses are summed) marks the
parameter ready; when every parameter of a bucket (~25 MB of gradients, in reverse order of
definition, so the last layers' bucket, ready first, goes first) is ready, the bucket is
flattened and all-reduced asynchronously while autograd computes the earlier layers. After the
backward, :meth:`finish` launches the buckets some parameters of which got no gradient (in
bucket order, identical on every rank), waits, and copies the averages back.

Only the buckets of the step's own optimizer groups are armed: another group's parameters that
happen to receive gradients are not that step's business (their own step zeroes them first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ganzoo.engine.distributed import DistContext

BUCKET_BYTES = 25 * 2**20
"""DDP's default bucket size: big enough to amortise a collective, small enough to start early."""


class OverlappedGradSync:
    def __init__(self, groups: Mapping[str, Sequence[nn.Parameter]], ctx: DistContext,
                 bucket_bytes: int = BUCKET_BYTES):
        self.ctx = ctx
        self.buckets: list[list[nn.Parameter]] = []
        self.group_buckets: dict[str, list[int]] = {}
        self._bucket_of: dict[int, int] = {}
        for name, params in groups.items():
            self.group_buckets[name] = []
            current: list[nn.Parameter] = []
            size = 0
            for p in reversed(list(params)):  # gradients arrive roughly from the last layer to the first
                if current and (size + p.numel() * p.element_size() > bucket_bytes
                                or (p.dtype, p.device) != (current[0].dtype, current[0].device)):
                    self._add(name, current)
                    current, size = [], 0
                current.append(p)
                size += p.numel() * p.element_size()
            if current:
                self._add(name, current)
        self._armed: set[int] = set()
        self._ready = [0] * len(self.buckets)
        self._launched: dict[int, tuple[Any, torch.Tensor, list[torch.Tensor]]] = {}
        self._hooks = [p.register_post_accumulate_grad_hook(self._on_ready)
                       for bucket in self.buckets for p in bucket]

    @staticmethod
    def applicable(groups: Mapping[str, Sequence[nn.Parameter]]) -> bool:
        """One bucket per parameter: a parameter in two optimizer groups needs the plain path."""
        ids = [id(p) for params in groups.values() for p in params]
        return len(ids) == len(set(ids))

    def _add(self, group: str, bucket: list[nn.Parameter]) -> None:
        index = len(self.buckets)
        self.buckets.append(bucket)
        self.group_buckets[group].append(index)
        for p in bucket:
            self._bucket_of[id(p)] = index

    def start(self, groups: Sequence[str]) -> None:
        """Arm the buckets of these optimizer groups for the coming backward."""
        self._armed = {b for g in groups for b in self.group_buckets[g]}
        self._ready, self._launched = [0] * len(self.buckets), {}

    def _on_ready(self, param: nn.Parameter) -> None:
        index = self._bucket_of[id(param)]
        if index not in self._armed or index in self._launched:
            return
        self._ready[index] += 1
        if self._ready[index] == len(self.buckets[index]):
            self._launch(index)

    def _launch(self, index: int) -> None:
        grads = [p.grad for p in self.buckets[index] if p.grad is not None]
        if not grads:  # the same on every rank (same code, same graph): nothing to average
            self._launched[index] = (None, torch.empty(0), [])
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat.div_(self.ctx.world_size)
        self._launched[index] = (dist.all_reduce(flat, async_op=True), flat, grads)

    def finish(self) -> None:
        """Launch what the backward left (buckets with parameters that got no gradient), wait for
        every bucket of the step and write the averages into ``.grad``."""
        for index in sorted(self._armed - set(self._launched)):
            self._launch(index)
        for work, flat, grads in self._launched.values():
            if work is None:
                continue
            work.wait()
            offset = 0
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset:offset + n].view_as(g))
                offset += n
        self._launched, self._armed = {}, set()

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
