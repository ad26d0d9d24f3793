"""ganzoo: a plugin-based GAN zoo for image-to-image translation.

This module is the public API a plugin may import (see docs/plugins.md), and the functions to
train, load and evaluate from Python (``ganzoo.train``, ``ganzoo.load``, ``ganzoo.evaluate``:
docs/python-api.md); everything else in the package is internal and may change between minor
versions.

Importing it is cheap: the names that need torch load on first use (PEP 562), so the command
line starts without torch and a plugin pays for it only when it touches a component class.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ganzoo.errors import DataError, GanzooError
from ganzoo.hookspecs import hookimpl

if TYPE_CHECKING:  # the static view; at run time _LAZY imports these on first use
    from ganzoo.api import Model, evaluate, load, train
    from ganzoo.batching import call_batched, per_sample
    from ganzoo.components import (
        AdversarialLoss,
        AdversarialLossConfig,
        Batch,
        Dataset,
        DatasetConfig,
        Direction,
        Discriminator,
        DiscriminatorConfig,
        Generator,
        GeneratorConfig,
        Loss,
        LossConfig,
        Method,
        MethodConfig,
        MultiDomainConfig,
        Parts,
        ReconstructionLoss,
        Slot,
        TaskNetwork,
        TaskNetworkConfig,
        TrainStep,
    )
    from ganzoo.config import ComponentConfig
    from ganzoo.engine.health_rules import HealthContext, HealthFinding
    from ganzoo.metrics.base import Metric, MetricConfig
    from ganzoo.metrics.weights import resolve_weights
    from ganzoo.optim import OptimizerConfig, ScheduleConfig
    from ganzoo.pool import ImagePool
    from ganzoo.registry import Registrar

__version__ = "0.2.0"
API_VERSION = 2
"""Bumped when anything exported here changes incompatibly (2: Recipe -> Method)."""

_LAZY = {
    "ganzoo.api": ("Model", "evaluate", "load", "train"),
    "ganzoo.batching": ("call_batched", "per_sample"),
    "ganzoo.components": ("AdversarialLoss", "AdversarialLossConfig", "Batch", "Dataset", "DatasetConfig", "Direction",
                          "Discriminator",
                          "DiscriminatorConfig", "Generator", "GeneratorConfig", "Loss", "LossConfig", "Method",
                          "MethodConfig", "MultiDomainConfig", "Parts", "ReconstructionLoss", "Slot", "TaskNetwork",
                          "TaskNetworkConfig", "TrainStep"),
    "ganzoo.config": ("ComponentConfig",),
    "ganzoo.engine.health_rules": ("HealthContext", "HealthFinding"),
    "ganzoo.metrics.base": ("Metric", "MetricConfig"),
    "ganzoo.metrics.weights": ("resolve_weights",),
    "ganzoo.optim": ("OptimizerConfig", "ScheduleConfig"),
    "ganzoo.pool": ("ImagePool",),
    "ganzoo.registry": ("Registrar",),
}
"""Module -> public names it defines, imported when first asked for (they import torch)."""


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any],
                                                                              Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for a package whose public names live in submodules
    (module -> names) and load on first use, so importing the package (for its entry-point
    module, say) costs nothing::

        __getattr__, __dir__ = ganzoo.lazy_exports(__name__, {"my_plugin.networks": ("MyGenerator",)})

    A plugin's package uses it so that ``ganzoo --help`` and ``ganzoo list-components`` load its
    entry-point module without torch (with components registered by import path)."""
    names = {name: module for module, module_names in exports.items() for name in module_names}
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


_lazy_getattr, __dir__ = lazy_exports(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    """A public name on first use; for a plugin written for API 1 asking for ``ganzoo.Recipe``,
    what to rename."""
    from ganzoo.renamed import API_NAMES, renamed_api

    if name in API_NAMES:
        raise renamed_api(name)
    return _lazy_getattr(name)


__all__ = [
    "API_VERSION",
    "AdversarialLoss",
    "AdversarialLossConfig",
    "Batch",
    "ComponentConfig",
    "DataError",
    "Dataset",
    "DatasetConfig",
    "Direction",
    "Discriminator",
    "DiscriminatorConfig",
    "GanzooError",
    "Generator",
    "GeneratorConfig",
    "HealthContext",
    "HealthFinding",
    "ImagePool",
    "Loss",
    "LossConfig",
    "Method",
    "MethodConfig",
    "Metric",
    "Model",
    "MetricConfig",
    "MultiDomainConfig",
    "OptimizerConfig",
    "Parts",
    "ReconstructionLoss",
    "Registrar",
    "ScheduleConfig",
    "Slot",
    "TaskNetwork",
    "TaskNetworkConfig",
    "TrainStep",
    "__version__",
    "call_batched",
    "evaluate",
    "hookimpl",
    "lazy_exports",
    "load",
    "per_sample",
    "resolve_weights",
    "train",
]
