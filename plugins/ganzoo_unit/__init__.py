"""UNIT (Liu, Breuel & Kautz 2017) and MUNIT (Huang, Liu, Belongie & Kautz 2018) for ganzoo: the
``unit_vae`` generator, the ``multiscale_patchgan`` discriminator and the ``unit`` method, after
mingyuliutw/UNIT (2018); the ``munit_adain`` generator (content and style encoders, AdaIN
decoder) and the ``munit`` method, after NVlabs/MUNIT. One plugin because MUNIT is built from
UNIT's pieces (its content encoder, layers, perceptual loss and optimizer), as in the references."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_unit.losses": ("VGGPerceptualLoss", "unit_kl"),
    "ganzoo_unit.method": ("UNIT", "UNITConfig", "UNITOptimizerConfig", "UNITScheduleConfig"),
    "ganzoo_unit.munit": ("MUNIT", "MUNITConfig"),
    "ganzoo_unit.munit_networks": ("MUNITGenerator", "MUNITGeneratorConfig", "adain_param_count"),
    "ganzoo_unit.networks": ("MultiScaleDiscriminator", "MultiScaleDiscriminatorConfig", "UNITGenerator",
                             "UNITGeneratorConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = [
    "MUNIT",
    "MUNITConfig",
    "MUNITGenerator",
    "MUNITGeneratorConfig",
    "UNIT",
    "MultiScaleDiscriminator",
    "MultiScaleDiscriminatorConfig",
    "UNITConfig",
    "UNITGenerator",
    "UNITGeneratorConfig",
    "UNITOptimizerConfig",
    "UNITScheduleConfig",
    "VGGPerceptualLoss",
    "adain_param_count",
    "unit_kl",
]
