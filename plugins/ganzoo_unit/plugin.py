"""Entry point of the ``unit`` plugin: registers UNIT's VAE generator, its multi-scale
discriminator and the ``unit`` recipe.

Kept apart from the package ``__init__`` so that importing the classes never touches the
registry; ganzoo calls :func:`register_components` when it loads plugins.
"""

from __future__ import annotations

import ganzoo
from ganzoo_unit.method import UNIT
from ganzoo_unit.networks import MultiScaleDiscriminator, UNITGenerator


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "unit_vae",
        UNITGenerator,
        summary="UNIT's per-domain VAE (encoder + decoder, unit-variance Gaussian latent).",
    )
    registrar.discriminator(
        "multiscale_patchgan",
        MultiScaleDiscriminator,
        summary="Multi-scale PatchGAN (UNIT/MUNIT's MsImageDis): one score map per scale.",
    )
    registrar.method(
        "unit",
        UNIT,
        summary="UNIT (Liu et al. 2017): two VAE-GANs sharing one latent space, with cycle consistency.",
    )
