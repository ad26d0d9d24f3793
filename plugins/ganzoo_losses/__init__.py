"""Built-in loss components: GAN objectives (LSGAN, vanilla, hinge, WGAN-GP), L1/L2 distances and PatchNCE."""

from ganzoo_losses.adversarial import HingeLoss, LSGANLoss, VanillaGANLoss, WGANGPConfig, WGANGPLoss
from ganzoo_losses.contrastive import PatchNCEConfig, PatchNCELoss
from ganzoo_losses.reconstruction import L1Loss, MSELoss

__all__ = [
    "HingeLoss", "L1Loss", "LSGANLoss", "MSELoss", "PatchNCEConfig", "PatchNCELoss", "VanillaGANLoss", "WGANGPConfig",
    "WGANGPLoss",
]
