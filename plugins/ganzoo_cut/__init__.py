"""CUT and FastCUT (Park et al. 2020): one-sided unpaired translation with PatchNCE, after
taesungp/contrastive-unpaired-translation."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_cut.method": ("CUT", "CUTConfig", "FastCUT", "FastCUTConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["CUT", "CUTConfig", "FastCUT", "FastCUTConfig"]
