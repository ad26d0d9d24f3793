"""CycleGAN (Zhu et al. 2017) as a ganzoo method, faithful to junyanz/pytorch-CycleGAN-and-pix2pix."""

from ganzoo_cyclegan.method import CycleGAN, CycleGANConfig

__all__ = ["CycleGAN", "CycleGANConfig"]
