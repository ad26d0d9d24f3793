"""UNIT (Liu, Breuel & Kautz 2017) for ganzoo: the ``unit_vae`` generator, the
``multiscale_patchgan`` discriminator and the ``unit`` recipe, after mingyuliutw/UNIT (2018)."""

from ganzoo_unit.losses import VGGPerceptualLoss, unit_kl
from ganzoo_unit.method import UNIT, UNITConfig, UNITOptimizerConfig, UNITScheduleConfig
from ganzoo_unit.networks import (
    MultiScaleDiscriminator,
    MultiScaleDiscriminatorConfig,
    UNITGenerator,
    UNITGeneratorConfig,
)

__all__ = [
    "UNIT",
    "MultiScaleDiscriminator",
    "MultiScaleDiscriminatorConfig",
    "UNITConfig",
    "UNITGenerator",
    "UNITGeneratorConfig",
    "UNITOptimizerConfig",
    "UNITScheduleConfig",
    "VGGPerceptualLoss",
    "unit_kl",
]
