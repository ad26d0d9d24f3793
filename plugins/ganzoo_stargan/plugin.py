"""Entry point of the ``stargan`` plugin (components registered by import path: listing them
needs no torch)."""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "stargan", "ganzoo_stargan.networks:StarGANGenerator",
        summary="StarGAN's generator: the target label tiled and concatenated to the image, 2 down, 6 residual, 2 up.")
    registrar.discriminator(
        "stargan", "ganzoo_stargan.networks:StarGANDiscriminator",
        summary="StarGAN's PatchGAN with a real/fake head and a domain-classification head.")
    registrar.method(
        "stargan", "ganzoo_stargan.method:StarGAN",
        summary="StarGAN (Choi et al. 2018): one generator for many domains or attributes, WGAN-GP + classification.")
