"""CUT and FastCUT (Park et al. 2020): one-sided unpaired translation with PatchNCE, after
taesungp/contrastive-unpaired-translation."""

from ganzoo_cut.method import CUT, CUTConfig, FastCUT, FastCUTConfig

__all__ = ["CUT", "CUTConfig", "FastCUT", "FastCUTConfig"]
