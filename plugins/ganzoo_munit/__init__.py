"""MUNIT (Huang, Liu, Belongie & Kautz 2018) for ganzoo: the ``munit_adain`` generator (content
and style encoders, AdaIN decoder) and the ``munit`` method, after NVlabs/MUNIT. The
discriminator is UNIT's registered ``multiscale_patchgan``."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_munit.method": ("MUNIT", "MUNITConfig"),
    "ganzoo_munit.networks": ("MUNITGenerator", "MUNITGeneratorConfig", "adain_param_count"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["MUNIT", "MUNITConfig", "MUNITGenerator", "MUNITGeneratorConfig", "adain_param_count"]
