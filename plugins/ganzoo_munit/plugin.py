"""Entry point of the ``munit`` plugin: registers MUNIT's AdaIN generator and the ``munit`` method
by import path (listing them needs no torch). The discriminator slot defaults to UNIT's
``multiscale_patchgan``, found through the registry like any component."""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "munit_adain",
        "ganzoo_munit.networks:MUNITGenerator",
        summary="MUNIT's per-domain auto-encoder: content encoder, style encoder, AdaIN decoder fed by an MLP.",
    )
    registrar.method(
        "munit",
        "ganzoo_munit.method:MUNIT",
        summary="MUNIT (Huang et al. 2018): content + style codes, many outputs per input (multimodal).",
    )
