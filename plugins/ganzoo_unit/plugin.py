"""Entry point of the ``unit`` plugin: registers UNIT's VAE generator, its multi-scale
discriminator and the ``unit`` recipe.

Kept apart from the package ``__init__`` so that importing the classes never touches the
registry; ganzoo calls :func:`register_components` when it loads plugins. Components are
registered by import path, so listing them needs no torch.
"""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "unit_vae",
        "ganzoo_unit.networks:UNITGenerator",
        summary="UNIT's per-domain VAE (encoder + decoder, unit-variance Gaussian latent).",
    )
    registrar.discriminator(
        "multiscale_patchgan",
        "ganzoo_unit.networks:MultiScaleDiscriminator",
        summary="Multi-scale PatchGAN (UNIT/MUNIT's MsImageDis): one score map per scale.",
    )
    registrar.method(
        "unit",
        "ganzoo_unit.method:UNIT",
        summary="UNIT (Liu et al. 2017): two VAE-GANs sharing one latent space, with cycle consistency.",
    )
