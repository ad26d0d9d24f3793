"""StarGAN v2 (Choi et al. 2020) as a ganzoo method, after clovaai/stargan-v2 (facts only; written anew)."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_starganv2.method": ("StarGANv2", "StarGANv2Config"),
    "ganzoo_starganv2.networks": ("MappingNetwork", "StarGANv2Discriminator", "StarGANv2Generator", "StyleEncoder"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["MappingNetwork", "StarGANv2", "StarGANv2Config", "StarGANv2Discriminator", "StarGANv2Generator",
           "StyleEncoder"]
