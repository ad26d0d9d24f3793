"""Entry point of the ``starganv2`` plugin: the discriminator and the method, registered by
import path (listing them needs no torch). G, the mapping network and the style encoder are
built by the method (see ``ganzoo_starganv2.networks``)."""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.discriminator("starganv2", "ganzoo_starganv2.networks:StarGANv2Discriminator",
                            summary="StarGAN v2's discriminator: one real/fake logit per domain.")
    registrar.method("starganv2", "ganzoo_starganv2.method:StarGANv2",
                     summary="StarGAN v2 (Choi et al. 2020): diverse multi-domain translation with style codes.")
