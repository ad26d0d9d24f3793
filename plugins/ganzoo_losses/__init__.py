"""Built-in loss components: GAN objectives (LSGAN, vanilla, hinge, WGAN-GP) and L1/L2 distances."""

from ganzoo_losses.adversarial import HingeLoss, LSGANLoss, VanillaGANLoss, WGANGPConfig, WGANGPLoss
from ganzoo_losses.reconstruction import L1Loss, MSELoss

__all__ = ["HingeLoss", "L1Loss", "LSGANLoss", "MSELoss", "VanillaGANLoss", "WGANGPConfig", "WGANGPLoss"]
