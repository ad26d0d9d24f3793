"""Where computation runs: the device, the processes of a distributed run, and the precision.

One vocabulary for precision everywhere (the ``[train]`` table, ``ganzoo translate`` and
``ganzoo evaluate``): ``fp32``, ``bf16``, ``fp16`` and ``auto``. ``auto`` is bf16 on GPUs that
have it (Ampere and later: the range of fp32, so instance norms do not overflow), fp16 on older
GPUs and fp32 on the CPU, where reduced precision is rarely faster. Weights, gradients and
optimizer states stay float32 whatever the choice; only forward passes and losses run under
autocast.

The trainer used to carry ``self.dist`` and ``self.device`` through thirty places; a
:class:`Runtime` is built once and handed to each piece of the engine that needs it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Literal

import torch

from ganzoo.engine import distributed as ddp
from ganzoo.engine.threads import configure_cpu_threads
from ganzoo.errors import GanzooError, TrainingError

PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when there is one; asking for CUDA without one is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanzooError(f"unknown device '{name}' (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanzooError(f"device '{name}' requested but CUDA is not available (use 'auto' or 'cpu')")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision name on ``device``; None means float32."""
    if name not in PRECISIONS:
        raise GanzooError(f"unknown precision '{name}' ({', '.join(PRECISIONS)})")
    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise GanzooError("precision 'bf16' needs an Ampere or newer GPU; use 'fp16' (or 'auto') on this one")
    return _DTYPES[name]


def precision_label(dtype: torch.dtype | None) -> str:
    """The name of an autocast dtype (what a log or a report records after ``auto``)."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")  # type: ignore[arg-type]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class Runtime:
    """The device, this process's place in a (possibly one-process) run, and the precision."""

    device: torch.device
    dist: ddp.DistContext = field(default_factory=ddp.DistContext)
    dtype: torch.dtype | None = None
    notes: list[str] = field(default_factory=list)
    """Messages for the run's log about how it runs here (an oversubscribed CPU)."""

    @classmethod
    def start(cls, device: str = "auto", precision: str = "fp32") -> Runtime:
        """Resolve the device, join the process group torchrun describes (if any; each process
        then takes its LOCAL_RANK's GPU), resolve the precision on that device and, on a CPU,
        set the threads (:mod:`ganzoo.engine.threads`)."""
        dist, dev = ddp.init_from_env(resolve_device(device))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)) if dist.enabled else 1
        notes = configure_cpu_threads(local) if dev.type == "cpu" else []
        return cls(dev, dist, resolve_precision(precision, dev), notes)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def precision(self) -> str:
        return precision_label(self.dtype)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.dtype)

    def describe(self) -> str:
        where = f"{self.device} x {self.dist.world_size}" if self.dist.enabled else str(self.device)
        return f"{where} ({torch.get_num_threads()} threads)" if self.device.type == "cpu" else where

    def close(self) -> None:
        ddp.shutdown(self.dist)


def out_of_memory(step: int) -> TrainingError:
    """What a run says when the GPU runs out of memory: the settings that need less of it."""
    return TrainingError(f"out of GPU memory at step {step}; try a smaller train.batch_size, a smaller crop "
                         "(data.crop_size / image_size), train.precision = 'bf16', or a narrower network "
                         "(generator.ngf)")
