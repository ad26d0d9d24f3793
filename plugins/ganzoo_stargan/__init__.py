"""StarGAN (Choi et al. 2018) for ganzoo: one generator for every domain or attribute change,
after yunjey/stargan. Components: method ``stargan``, generator ``stargan``, discriminator ``stargan``."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_stargan.method": ("StarGAN", "StarGANConfig", "StarGANOptimizerConfig", "classification_loss"),
    "ganzoo_stargan.networks": ("StarGANDiscriminator", "StarGANDiscriminatorConfig", "StarGANGenerator",
                                "StarGANGeneratorConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = [
    "StarGAN",
    "StarGANConfig",
    "StarGANDiscriminator",
    "StarGANDiscriminatorConfig",
    "StarGANGenerator",
    "StarGANGeneratorConfig",
    "StarGANOptimizerConfig",
    "classification_loss",
]
