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
    Parts,
    Recipe,
    RecipeConfig,
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

__version__ = "0.1.0"
API_VERSION = 1
"""Bumped when anything exported here changes incompatibly."""

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
    "Metric",
    "MetricConfig",
    "OptimizerConfig",
    "Parts",
    "Recipe",
    "RecipeConfig",
    "ReconstructionLoss",
    "Registrar",
    "ScheduleConfig",
    "Slot",
    "TrainStep",
    "__version__",
    "hookimpl",
]
