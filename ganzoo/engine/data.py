"""Batches in a reproducible order that a resumed run can continue mid-epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from ganzoo.components import Batch, Dataset


class ResumableBatchSampler(Sampler[list[int]]):
    """Shuffles each epoch with a generator seeded by (seed, epoch), so the order of every epoch
    is known in advance and a resumed run skips to its batch without loading the skipped data."""

    def __init__(self, length: int, batch_size: int, seed: int, *, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1):
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def batches_per_epoch(self) -> int:
        return max(self.length // (self.batch_size * self.world_size), 1)

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        if len(order) < self.batch_size * self.world_size:  # tiny data sets: repeat to fill a batch
            order = (order * (self.batch_size * self.world_size // max(len(order), 1) + 1))
        per = self.batch_size * self.world_size
        for b in range(self.start_batch, self.batches_per_epoch()):
            chunk = order[b * per:(b + 1) * per]
            yield chunk[self.rank::self.world_size]


def infinite_batches(dataset: Dataset, sampler: ResumableBatchSampler, start_step: int, *, seed: int = 0,
                     stages: Mapping[int, Callable[[], None]] | None = None, **loader_kwargs) -> Iterator[Batch]:
    """Yield batches forever, starting where iteration ``start_step`` would be.

    One DataLoader serves every epoch, so ``persistent_workers`` keeps its workers (and their
    prefetched batches) across epoch boundaries. It draws its workers' base seed from its own
    generator, seeded by (seed, epoch), never from torch's global one: the global generator is
    checkpointed for the recipe's own randomness, and a draw at a different moment after a
    resume would shift it. (With ``num_workers > 0``, random transforms inside workers depend on
    how far a worker got, so bit-exact resume holds for ``num_workers = 0``.)

    ``stages`` (the data set's :meth:`~ganzoo.Dataset.stages`) maps an iteration to a change of
    the data set that holds from that iteration's batch on. The loader restarts there, exactly
    as a run resumed at that iteration starts it, so worker processes (persistent or not) see
    the change and nothing prefetched before it is used after it; a run resumed past a stage
    makes the change before its first batch.
    """
    stages = dict(stages or {})
    for at in sorted(stages):
        if at <= start_step:
            stages.pop(at)()
    step = start_step
    while True:
        stop = min(stages, default=None)
        yield from _batches_until(dataset, sampler, step, stop, seed, loader_kwargs)
        assert stop is not None  # the loop above ends only at a stage
        step = stop
        stages.pop(stop)()


def _batches_until(dataset: Dataset, sampler: ResumableBatchSampler, step: int, stop: int | None, seed: int,
                   loader_kwargs: dict[str, Any]) -> Iterator[Batch]:
    """One DataLoader's batches from iteration ``step`` up to ``stop`` (forever when None)."""
    per_epoch = sampler.batches_per_epoch()
    sampler.epoch, sampler.start_batch = divmod(step, per_epoch)
    generator = torch.Generator()
    loader = DataLoader(dataset, batch_sampler=sampler, generator=generator, **loader_kwargs)
    while True:
        generator.manual_seed(seed * 1_000_003 + sampler.epoch)
        batches = iter(loader)
        for _ in range(len(sampler)):
            if step == stop:  # before loading the batch: its random crops belong to the next stage
                return
            yield next(batches)
            step += 1
        sampler.epoch += 1
        sampler.start_batch = 0


def loader_options(train: Any, device: torch.device) -> dict[str, Any]:
    """DataLoader options from the [train] table: pinned memory only where copies go to a GPU;
    persistent workers and prefetching only with workers (DataLoader refuses them without)."""
    options: dict[str, Any] = {"num_workers": train.num_workers, "pin_memory": device.type == "cuda"}
    if train.num_workers:
        options.update(persistent_workers=train.persistent_workers, prefetch_factor=train.prefetch_factor)
    return options


def prepare_batch(batch: Batch, device: torch.device, augment: Any, *, paired: bool, channels_last: bool) -> Batch:
    """A batch on the device (asynchronously from pinned memory), augmented there (where it is
    cheap), in the networks' memory format."""
    batch = {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}
    if augment is not None:  # multi-domain items: the image and its references, each on its own
        keys = ("image", "ref", "ref2") if "image" in batch else ("A", "B")
        batch = augment.apply_batch(batch, paired=paired and "image" not in batch, keys=keys)
    if channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) if isinstance(v, Tensor) and v.dim() == 4
                 else v for k, v in batch.items()}
    return batch
