"""CycleGAN (Zhu et al. 2017) as a ganzoo recipe, faithful to junyanz/pytorch-CycleGAN-and-pix2pix."""

from ganzoo_cyclegan.recipe import CycleGAN, CycleGANConfig

__all__ = ["CycleGAN", "CycleGANConfig"]
