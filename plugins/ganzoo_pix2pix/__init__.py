"""pix2pix (Isola et al. 2017) as a ganzoo method, faithful to junyanz/pytorch-CycleGAN-and-pix2pix."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_pix2pix.method": ("Pix2Pix", "Pix2PixConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["Pix2Pix", "Pix2PixConfig"]
