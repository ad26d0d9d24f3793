"""Speed settings of the training loop: mixed precision, gradient scaling, torch.compile.

Each is a switch in ``[train]`` because each has a cost or a pitfall that depends on the model
(see docs/engine.md for measured effects): fp16 needs loss scaling, bf16 needs an Ampere or
newer GPU, compiling takes minutes and cannot double-backward, channels_last can be slower with
instance norm.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ganzoo.components import AdversarialLoss, Discriminator, Method
from ganzoo.errors import GanzooError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_BACKEND_ENV = "GANZOO_COMPILE_BACKEND"
"""Debugging aid: another torch.compile backend ('eager', 'aot_eager') to tell a compiler bug
from a model bug, and what the tests use to check the plumbing in seconds."""


class Precision:
    """Autocast around each step's forward pass and losses, and for fp16 one ``GradScaler`` per
    optimizer: the G and D losses of a GAN differ by orders of magnitude and overflow at
    different times, so one shared scale would keep skipping the steps of the well-behaved one.
    Weights, gradients and optimizer states stay float32."""

    def __init__(self, name: str, device: torch.device, optimizers: Iterable[str]):
        if name not in DTYPES:
            raise GanzooError(f"unknown precision '{name}' (fp32, bf16, fp16)")
        self.name, self.device, self.dtype = name, device, DTYPES[name]
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise GanzooError("train.precision = 'bf16' needs an Ampere or newer GPU; use 'fp16' on this one")
        self.scalers: dict[str, torch.amp.GradScaler] = (
            {n: torch.amp.GradScaler(device.type) for n in optimizers} if name == "fp16" else {}
        )

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {n: s.state_dict() for n, s in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, s in self.scalers.items():
            if n in state:
                s.load_state_dict(state[n])


def discriminators(method: Method) -> dict[str, nn.Module]:
    """The method's discriminators: its direct children that are ``ganzoo.Discriminator``."""
    return {n: m for n, m in method.named_children() if isinstance(m, Discriminator)}


def networks(method: Method) -> dict[str, nn.Module]:
    nets = dict(method.generators())
    nets.update(discriminators(method))
    return nets


def needs_double_backward(method: Method) -> bool:
    """Whether an adversarial loss of the method adds a penalty (WGAN-GP, R1): those take the
    gradient of D's gradient, which compiled graphs do not support."""
    return any(isinstance(m, AdversarialLoss) and type(m).penalty is not AdversarialLoss.penalty
               for m in method.modules())


def compile_targets(method: Method, *, include_discriminators: bool = True) -> dict[str, nn.Module]:
    """The modules to compile, by dotted name.

    ``nn.Module.compile`` compiles ``__call__``, so a network the method drives through other
    methods (UNIT's ``encode``/``decode``) gets its direct children compiled instead. A method
    can name its own targets with a ``compile_targets()`` method returning ``{name: module}``.
    """
    custom = getattr(method, "compile_targets", None)
    if callable(custom):
        return dict(custom())
    nets = dict(method.generators())
    if include_discriminators:
        nets.update(discriminators(method))
    targets: dict[str, nn.Module] = {}
    for name, net in nets.items():
        if any(callable(getattr(net, m, None)) for m in ("encode", "decode")):
            targets.update({f"{name}.{c}": child for c, child in net.named_children()
                            if any(True for _ in child.parameters())})
        else:
            targets[name] = net
    return targets


def compile_method(method: Method, setting: bool | str, warn: Any = None) -> list[str]:
    """Compile the method's networks in place (``module.compile()``: the method keeps calling
    the same attributes and state-dict keys do not change). Returns the compiled names."""
    if setting is False:
        return []
    mode = None if setting in (True, "default") else str(setting)
    with_d = True
    if needs_double_backward(method):
        with_d = False
        if warn:
            warn("train.compile: the adversarial loss has a gradient penalty (double backward), which compiled "
                 "graphs cannot do; the discriminators stay eager")
    kwargs: dict[str, Any] = {"mode": mode}
    backend = os.environ.get(COMPILE_BACKEND_ENV)
    if backend:
        kwargs = {"backend": backend}
    targets = compile_targets(method, include_discriminators=with_d)
    for module in targets.values():
        module.compile(**kwargs)
    return list(targets)


@contextlib.contextmanager
def eager() -> Any:
    """Run compiled modules eagerly inside the block (evaluation and samples use other shapes and
    eval mode; compiling them would cost minutes and could push training graphs out of the cache)."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    if set_stance is None:  # torch < 2.6
        yield
        return
    with set_stance("force_eager"):
        yield
