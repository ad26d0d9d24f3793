"""Entry point of the ``starganv2`` plugin: its four networks and the method, registered by
import path (listing them needs no torch)."""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator("starganv2", "ganzoo_starganv2.networks:StarGANv2Generator",
                        summary="StarGAN v2's generator: residual encoder, AdaIN-residual decoder (style code).")
    registrar.generator("starganv2_mapping", "ganzoo_starganv2.networks:MappingNetwork",
                        summary="StarGAN v2's mapping network: z -> one style code per domain (shared MLP + heads).")
    registrar.generator("starganv2_style_encoder", "ganzoo_starganv2.networks:StyleEncoder",
                        summary="StarGAN v2's style encoder: image -> one style code per domain (conv trunk + heads).")
    registrar.discriminator("starganv2", "ganzoo_starganv2.networks:StarGANv2Discriminator",
                            summary="StarGAN v2's discriminator: one real/fake logit per domain.")
    registrar.method("starganv2", "ganzoo_starganv2.method:StarGANv2",
                     summary="StarGAN v2 (Choi et al. 2020): diverse multi-domain translation with style codes.")
