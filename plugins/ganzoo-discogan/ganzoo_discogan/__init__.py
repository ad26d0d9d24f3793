"""DiscoGAN (Kim et al. 2017) as a ganzoo plugin: method ``discogan``, generator
``discogan_encdec``, discriminator ``discogan`` and loss ``discogan_fm``.

It imports only ganzoo's public API (``ganzoo.__all__``), torch and pydantic, so it keeps
working across ganzoo releases with the same ``ganzoo.API_VERSION``.
"""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_discogan.losses": ("FeatureMatchingLoss",),
    "ganzoo_discogan.method": ("DiscoGAN", "DiscoGANConfig"),
    "ganzoo_discogan.networks": ("DiscoGANDiscriminator", "DiscoGANDiscriminatorConfig", "EncoderDecoderConfig",
                                 "EncoderDecoderGenerator"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__version__ = "0.1.0"
REQUIRED_API_VERSION = 2
"""The ganzoo plugin API this package was written against (checked in its tests)."""

__all__ = [
    "REQUIRED_API_VERSION",
    "DiscoGAN",
    "DiscoGANConfig",
    "DiscoGANDiscriminator",
    "DiscoGANDiscriminatorConfig",
    "EncoderDecoderConfig",
    "EncoderDecoderGenerator",
    "FeatureMatchingLoss",
    "__version__",
]
