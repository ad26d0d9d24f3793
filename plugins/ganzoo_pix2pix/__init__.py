"""pix2pix (Isola et al. 2017) as a ganzoo method, faithful to junyanz/pytorch-CycleGAN-and-pix2pix."""

from ganzoo_pix2pix.method import Pix2Pix, Pix2PixConfig

__all__ = ["Pix2Pix", "Pix2PixConfig"]
