"""ganzoo: a plugin-based GAN zoo for image-to-image translation.

This module is the public API a plugin may import (see docs/plugins.md); everything else in
the package is internal and may change between minor versions.

Importing it is cheap: the names that need torch load on first use (PEP 562), so the command
line starts without torch and a plugin pays for it only when it touches a component class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ganzoo.errors import DataError, GanzooError
from ganzoo.hookspecs import hookimpl

if TYPE_CHECKING:  # the static view; at run time _LAZY imports these on first use
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
        Parts,
        ReconstructionLoss,
        Slot,
        TrainStep,
    )
    from ganzoo.config import ComponentConfig
    from ganzoo.metrics.base import Metric, MetricConfig
    from ganzoo.optim import OptimizerConfig, ScheduleConfig
    from ganzoo.pool import ImagePool
    from ganzoo.registry import Registrar

__version__ = "0.2.0"
API_VERSION = 2
"""Bumped when anything exported here changes incompatibly (2: Recipe -> Method)."""

_LAZY = {
    "ganzoo.components": ("AdversarialLoss", "AdversarialLossConfig", "Batch", "Dataset", "DatasetConfig", "Direction",
                          "Discriminator",
                          "DiscriminatorConfig", "Generator", "GeneratorConfig", "Loss", "LossConfig", "Method",
                          "MethodConfig", "Parts", "ReconstructionLoss", "Slot", "TrainStep"),
    "ganzoo.config": ("ComponentConfig",),
    "ganzoo.metrics.base": ("Metric", "MetricConfig"),
    "ganzoo.optim": ("OptimizerConfig", "ScheduleConfig"),
    "ganzoo.pool": ("ImagePool",),
    "ganzoo.registry": ("Registrar",),
}
"""Module -> public names it defines, imported when first asked for (they import torch)."""
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    """A public name on first use; for a plugin written for API 1 asking for ``ganzoo.Recipe``,
    what to rename."""
    module = _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    from ganzoo.renamed import API_NAMES, renamed_api

    if name in API_NAMES:
        raise renamed_api(name)
    raise AttributeError(f"module 'ganzoo' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


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
    "ImagePool",
    "Loss",
    "LossConfig",
    "Method",
    "MethodConfig",
    "Metric",
    "MetricConfig",
    "OptimizerConfig",
    "Parts",
    "ReconstructionLoss",
    "Registrar",
    "ScheduleConfig",
    "Slot",
    "TrainStep",
    "__version__",
    "hookimpl",
]
