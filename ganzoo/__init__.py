"""ganzoo: a plugin-based GAN zoo for image-to-image translation.

This module is the public API a plugin may import (see docs/plugins.md); everything else in
the package is internal and may change between minor versions.
"""

from ganzoo.components import (
    AdversarialLoss,
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
from ganzoo.errors import DataError, GanzooError
from ganzoo.hookspecs import hookimpl
from ganzoo.metrics.base import Metric, MetricConfig
from ganzoo.optim import OptimizerConfig, ScheduleConfig
from ganzoo.pool import ImagePool
from ganzoo.registry import Registrar

__version__ = "0.2.0"
API_VERSION = 2
"""Bumped when anything exported here changes incompatibly (2: Recipe -> Method)."""


def __getattr__(name: str):
    """A plugin written for API 1 asks for ``ganzoo.Recipe``: tell it what to rename."""
    from ganzoo.renamed import API_NAMES, renamed_api

    if name in API_NAMES:
        raise renamed_api(name)
    raise AttributeError(f"module 'ganzoo' has no attribute '{name}'")

__all__ = [
    "API_VERSION",
    "AdversarialLoss",
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
