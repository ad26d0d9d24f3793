"""Fewer, larger network calls where that changes nothing but the speed.

CycleGAN calls each generator three times per iteration, twice on inputs that do not depend on
each other (G_A on real A for the translation and on real B for the identity term). When every
layer treats the samples of a batch independently (instance norm, convolutions, activations:
no batch statistics, no random masks), one call on the concatenated inputs computes exactly the
same per-sample outputs and, through the split, the same gradients, with larger, better-used
kernels and half the per-call overhead. Batch norm in training mode (statistics across the
batch), dropout (masks drawn in another order) and modules that declare ``per_sample = False``
make a network not per-sample; :func:`call_batched` then makes the calls one by one, so a
method written with it stays correct whatever networks a recipe plugs in.

Results agree with separate calls to float rounding (a convolution may pick another algorithm
for another batch size), which tests/test_batching.py checks for outputs and gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

_STATS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


def per_sample(module: Any) -> bool:
    """Whether ``module``'s output for one sample depends only on that sample, deterministically,
    so that a batched call equals separate calls. A module can decide for itself and its children
    with a boolean ``per_sample`` attribute; otherwise norms that use or update statistics across
    the batch in training mode (batch norm; any norm tracking running statistics) and active
    dropout make a network batch-coupled."""
    declared = getattr(module, "per_sample", None)
    if isinstance(declared, bool):
        return declared
    if not isinstance(module, nn.Module):  # a callable wrapping a network (a partial with a time step): unknown
        return False
    if module.training:
        if isinstance(module, nn.modules.batchnorm._BatchNorm) or (
                isinstance(module, _STATS) and module.track_running_stats):
            return False
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return False
    elif isinstance(module, nn.modules.batchnorm._BatchNorm) and not module.track_running_stats:
        return False  # no running statistics: batch statistics even in eval mode
    return all(per_sample(child) for child in module.children())


def call_batched(net: nn.Module, inputs: Sequence[Tensor]) -> list[Tensor]:
    """``[net(x) for x in inputs]``, computed as one call on the concatenated inputs when ``net``
    is :func:`per_sample` and the inputs differ only in batch size (else call by call)."""
    inputs = list(inputs)
    if len(inputs) < 2 or not same_sample_shape(inputs) or not per_sample(net):
        return [net(x) for x in inputs]
    sizes = [x.shape[0] for x in inputs]
    out = net(torch.cat(inputs, 0))
    if not isinstance(out, Tensor) or out.shape[0] != sum(sizes):  # a network that is not batch-first
        return [net(x) for x in inputs]
    return list(out.split(sizes, 0))


def same_sample_shape(tensors: Sequence[Tensor]) -> bool:
    first = tensors[0]
    return all(t.shape[1:] == first.shape[1:] and t.dtype == first.dtype and t.device == first.device
               for t in tensors)
