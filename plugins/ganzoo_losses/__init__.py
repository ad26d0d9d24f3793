"""Built-in loss components: GAN objectives (LSGAN, vanilla, hinge, WGAN-GP), L1/L2 distances and PatchNCE."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_losses.adversarial": ("HingeLoss", "LSGANLoss", "VanillaGANLoss", "WGANGPConfig", "WGANGPLoss"),
    "ganzoo_losses.contrastive": ("PatchNCEConfig", "PatchNCELoss"),
    "ganzoo_losses.reconstruction": ("L1Loss", "MSELoss"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = [
    "HingeLoss", "L1Loss", "LSGANLoss", "MSELoss", "PatchNCEConfig", "PatchNCELoss", "VanillaGANLoss", "WGANGPConfig",
    "WGANGPLoss",
]
