"""Optimizer and learning-rate schedule settings shared by every recipe.

A recipe config embeds these models, so each recipe states its reference defaults (CycleGAN:
Adam 2e-4, constant then linear decay; UNIT: Adam 1e-4 with weight decay, step decay) while
the engine alone turns them into torch objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import Field

from ganzoo.config import ComponentConfig


class OptimizerConfig(ComponentConfig):
    """Optimizer settings for one parameter group (Adam family, or plain SGD)."""

    type: Literal["adam", "adamw", "sgd"] = Field(
        "adam", description="Adam, AdamW (decoupled weight decay), or sgd: plain SGD without momentum "
        "(betas and eps unused), whose update is the learning rate times the gradient.")
    lr: float = Field(2e-4, gt=0, description="Learning rate.")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam (beta1, beta2); GANs use beta1=0.5.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (Adam) or decoupled decay (AdamW).")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")


class ScheduleConfig(ComponentConfig):
    """How the learning rate changes over the run (applied per iteration)."""

    policy: Literal["constant", "linear", "step", "multistep", "cosine"] = Field(
        "linear",
        description="constant; linear: constant until decay_start then linearly to 0 (CycleGAN); "
        "step: x gamma every step_size iterations (UNIT); multistep: x gamma at each of milestones (ESRGAN); "
        "cosine: cosine to 0.",
    )
    milestones: list[int] = Field(
        default_factory=list, description="multistep: iterations at which the lr is multiplied by gamma "
        "(ESRGAN's GAN stage: [50000, 100000, 200000, 300000]).")
    decay_start: float = Field(
        0.5, ge=0, le=1, description="linear: fraction of the run at constant lr before the decay."
    )
    step_size: int = Field(100_000, gt=0, description="step: iterations between decays.")
    gamma: float = Field(0.5, gt=0, le=1, description="step: factor applied at each decay.")
    warmup: int = Field(0, ge=0, description="Iterations of linear warm-up from 0 (all policies).")


def lr_factor(schedule: ScheduleConfig, iteration: int, total: int) -> float:
    """The multiplier of the base lr at ``iteration`` (0-based) of a ``total``-iteration run."""
    factor = 1.0
    if schedule.warmup and iteration < schedule.warmup:
        factor = (iteration + 1) / schedule.warmup
    total = max(total, 1)
    if schedule.policy == "linear":
        start = int(round(schedule.decay_start * total))
        span = max(total - start, 1)
        factor *= 1.0 - max(0, iteration - start) / span if iteration >= start else 1.0
    elif schedule.policy == "step":
        factor *= schedule.gamma ** (iteration // schedule.step_size)
    elif schedule.policy == "multistep":
        factor *= schedule.gamma ** sum(iteration >= m for m in schedule.milestones)
    elif schedule.policy == "cosine":
        factor *= 0.5 * (1.0 + math.cos(math.pi * min(iteration, total) / total))
    return max(factor, 0.0)


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: OptimizerConfig, *, fused: bool = False
) -> torch.optim.Optimizer:
    kwargs: dict = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.type == "sgd":
        cls: type[torch.optim.Optimizer] = torch.optim.SGD
        kwargs["momentum"] = 0.0
    else:
        cls = torch.optim.AdamW if config.type == "adamw" else torch.optim.Adam
        kwargs.update(betas=config.betas, eps=config.eps)
    if fused:
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = True
    return cls(list(params), **kwargs)


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: ScheduleConfig, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(schedule, it, total))
