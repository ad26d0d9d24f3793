"""torch.compile for a method's networks, in place.

A switch in ``[train]`` because it has a cost and a pitfall that depend on the model (see
docs/engine.md for measured effects): compiling takes minutes and cannot double-backward, so
discriminators of losses with a gradient penalty stay eager. (Mixed precision lives with the
device in :mod:`ganzoo.engine.runtime`; fp16 gradient scaling with the steps, in
:mod:`ganzoo.engine.steps`.)
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from torch import nn

from ganzoo.components import AdversarialLoss, Discriminator, Method

COMPILE_BACKEND_ENV = "GANZOO_COMPILE_BACKEND"
"""Debugging aid: another torch.compile backend ('eager', 'aot_eager') to tell a compiler bug
from a model bug, and what the tests use to check the plumbing in seconds."""


def discriminators(method: Method) -> dict[str, nn.Module]:
    """The method's discriminators: its direct children that are ``ganzoo.Discriminator``."""
    return {n: m for n, m in method.named_children() if isinstance(m, Discriminator)}


def needs_double_backward(method: Method) -> bool:
    """Whether an adversarial loss of the method adds a penalty (WGAN-GP, R1): those take the
    gradient of D's gradient, which compiled graphs do not support."""
    return any(isinstance(m, AdversarialLoss) and m.double_backward for m in method.modules())


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
