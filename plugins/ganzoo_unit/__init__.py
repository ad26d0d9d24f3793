"""UNIT (Liu, Breuel & Kautz 2017) for ganzoo: the ``unit_vae`` generator, the
``multiscale_patchgan`` discriminator and the ``unit`` recipe, after mingyuliutw/UNIT (2018)."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_unit.losses": ("VGGPerceptualLoss", "unit_kl"),
    "ganzoo_unit.method": ("UNIT", "UNITConfig", "UNITOptimizerConfig", "UNITScheduleConfig"),
    "ganzoo_unit.networks": ("MultiScaleDiscriminator", "MultiScaleDiscriminatorConfig", "UNITGenerator",
                             "UNITGeneratorConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

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
