"""DiscoGAN (Kim et al. 2017) as a ganzoo plugin: method ``discogan``, generator
``discogan_encdec``, discriminator ``discogan`` and loss ``discogan_fm``.

It imports only ganzoo's public API (``ganzoo.__all__``), torch and pydantic, so it keeps
working across ganzoo releases with the same ``ganzoo.API_VERSION``.
"""

from ganzoo_discogan.losses import FeatureMatchingLoss
from ganzoo_discogan.method import DiscoGAN, DiscoGANConfig
from ganzoo_discogan.networks import (
    DiscoGANDiscriminator,
    DiscoGANDiscriminatorConfig,
    EncoderDecoderConfig,
    EncoderDecoderGenerator,
)

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
