"""UNSB (Kim et al. 2023, unpaired neural Schrodinger bridge) as a ganzoo method, after cyclomon/UNSB (MIT)."""

from ganzoo_unsb.method import UNSB, UNSBConfig
from ganzoo_unsb.networks import EnergyNetwork, TimePatchGAN, TimeResnetGenerator

__all__ = ["UNSB", "EnergyNetwork", "TimePatchGAN", "TimeResnetGenerator", "UNSBConfig"]
