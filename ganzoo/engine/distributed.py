"""Data-parallel training over processes started by ``torchrun`` (``torch.distributed``).

Why gradients are averaged by hand instead of wrapping networks in DistributedDataParallel:
recipes call their networks freely. CycleGAN runs ``G_A`` twice before one backward,
UNIT calls ``encode``/``decode`` rather than ``forward``, discriminators are frozen in one
step and trained in the next, and gradient penalties need a double backward. DDP's reducer
only arms through ``DDP.forward`` and expects a gradient for every parameter that requires one
after each backward, so each of these patterns needs its own workaround (find_unused_parameters,
static graphs, no_sync) and some silently skip the synchronisation. Instead, each step's
gradients are averaged across ranks by the engine: by default in ~25 MB buckets all-reduced
asynchronously as soon as autograd has finished their parameters, overlapping the rest of the
backward (:mod:`ganzoo.engine.grad_sync`, what DDP's reducer does, without its constraints);
with ``train.grad_sync = "after_backward"``, by :func:`all_reduce_gradients` after the whole
backward, one all-reduce per dtype (StyleGAN2-ADA's way). Parameters and buffers are broadcast
from rank 0 at the start. Every rank then applies the same update to the same weights, so the
networks stay bit-identical without any wrapper, and state-dict keys are those of a single
process. Measurements: docs/performance.md.

Control decisions (stop on SIGTERM, evaluation results, the run directory's name) travel over
a gloo group on the CPU so that they never wait for the GPU.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ganzoo.errors import GanzooError


@dataclass
class DistContext:
    """Where this process stands in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False
    control: Any = None
    """The process group for CPU-side agreement (gloo); None: the default group."""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, samples and checkpoints."""
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_from_env(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1); on CUDA
    each process takes the GPU of its LOCAL_RANK. Returns the context and the device to use."""
    world = env_world_size()
    if world <= 1:
        return DistContext(), device
    try:
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError):
        raise GanzooError("WORLD_SIZE > 1 but RANK is not set: start distributed runs with torchrun "
                          "(torchrun --nproc_per_node N -m ganzoo.cli run recipe.toml)") from None
    if device.type == "cuda":  # one GPU per process: LOCAL_RANK's, whatever index run.device names
        device = torch.device("cuda", local % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend, **kwargs)
        owns = True
    control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local,
                       owns_group=owns, control=control), device


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------- tensors


def _by_dtype_device(tensors: Iterable[Tensor]) -> dict[tuple, list[Tensor]]:
    groups: dict[tuple, list[Tensor]] = defaultdict(list)
    for t in tensors:
        groups[(t.dtype, t.device)].append(t)
    return groups


def all_reduce_gradients(params: Sequence[torch.nn.Parameter], ctx: DistContext) -> None:
    """Average the gradients of ``params`` across ranks in place, one flat all-reduce per dtype.

    Parameters without a gradient are skipped; recipes run the same code on every rank, so the
    set is the same everywhere (a data-dependent branch that leaves a parameter without a
    gradient on one rank only would make the flat buffers differ and hang)."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    for group in _by_dtype_device(grads).values():
        flat = torch.cat([g.reshape(-1) for g in group])
        flat.div_(ctx.world_size)
        dist.all_reduce(flat)
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view(g.shape))
            offset += n


def broadcast_tensors(tensors: Iterable[Tensor], ctx: DistContext, src: int = 0) -> None:
    """Overwrite ``tensors`` on every rank with rank ``src``'s values (flat, one call per dtype)."""
    if not ctx.enabled:
        return
    unique: dict[int, Tensor] = {}
    for t in tensors:
        unique.setdefault(id(t), t)
    for group in _by_dtype_device(unique.values()).values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src)
        offset = 0
        with torch.no_grad():
            for t in group:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view(t.shape))
                offset += n


def module_tensors(module: torch.nn.Module) -> list[Tensor]:
    """Parameters and buffers of ``module``, each once (shared layers are listed once)."""
    return [*module.parameters(), *module.buffers()]


def all_reduce_min(t: Tensor, ctx: DistContext) -> Tensor:
    if ctx.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return t


def all_reduce_mean(t: Tensor, ctx: DistContext) -> Tensor:
    if ctx.enabled:
        dist.all_reduce(t)
        t /= ctx.world_size
    return t


# ---------------------------------------------------------------------- control


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank if ``flag`` is true on any (a CPU all-reduce; never waits for the GPU)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=ctx.control)
    return bool(t.item())


def broadcast_object(obj: Any, ctx: DistContext, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects only)."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, group=ctx.control)
    return box[0]


def gather_objects(obj: Any, ctx: DistContext) -> list[Any] | None:
    """Every rank's ``obj`` as a list on rank 0, None elsewhere; tensors must be on the CPU."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0, group=ctx.control)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier(group=ctx.control)


def to_cpu(obj: Any) -> Any:
    """A copy of nested dicts/lists/tuples with every tensor moved to the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_cpu(v) for v in obj)
    return obj


def rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps ``seed`` (so a one-process run is unchanged); others get their own stream."""
    return seed if rank == 0 else (seed * 1_000_003 + 7919 * rank) % 2**63
