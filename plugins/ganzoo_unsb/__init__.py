"""UNSB (Kim et al. 2023, unpaired neural Schrodinger bridge) as a ganzoo method, after cyclomon/UNSB (MIT)."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_unsb.method": ("UNSB", "UNSBConfig"),
    "ganzoo_unsb.networks": ("EnergyNetwork", "TimePatchGAN", "TimeResnetGenerator"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["UNSB", "EnergyNetwork", "TimePatchGAN", "TimeResnetGenerator", "UNSBConfig"]
