"""Entry point of the ``unit`` plugin: registers UNIT's VAE generator, its multi-scale
discriminator and the ``unit`` method, and MUNIT's AdaIN generator and ``munit`` method (which
uses the same discriminator).

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
    registrar.generator(
        "munit_adain",
        "ganzoo_unit.munit_networks:MUNITGenerator",
        summary="MUNIT's per-domain auto-encoder: content encoder, style encoder, AdaIN decoder fed by an MLP.",
    )
    registrar.method(
        "munit",
        "ganzoo_unit.munit:MUNIT",
        summary="MUNIT (Huang et al. 2018): content + style codes, many outputs per input (multimodal).",
    )
