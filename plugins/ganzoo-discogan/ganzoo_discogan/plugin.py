"""Entry point of the ``discogan`` plugin (``[project.entry-points.ganzoo]`` in pyproject.toml).

Kept apart from the package ``__init__`` so that importing the classes never touches a
registry; ganzoo imports this module and calls :func:`register_components` when it loads
plugins.
"""

from __future__ import annotations

import ganzoo

from ganzoo_discogan.losses import FeatureMatchingLoss
from ganzoo_discogan.method import DiscoGAN
from ganzoo_discogan.networks import DiscoGANDiscriminator, EncoderDecoderGenerator


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("discogan", DiscoGAN)
    registrar.generator("discogan_encdec", EncoderDecoderGenerator)
    registrar.discriminator("discogan", DiscoGANDiscriminator)
    registrar.loss("discogan_fm", FeatureMatchingLoss)
