"""Entry point of the ``unsb`` plugin: registers UNSB's time-conditioned networks and the method.

Kept apart from the package ``__init__`` so that importing the classes never touches the
registry; ganzoo calls :func:`register_components` when it loads plugins. Components are
registered by import path, so listing them needs no torch.
"""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "unsb_resnet_9blocks",
        "ganzoo_unsb.networks:TimeResnetGenerator",
        summary="UNSB's ResNet-9 conditioned on the bridge's time step and a noise vector (AdaIN-style).",
    )
    registrar.discriminator(
        "unsb_patchgan",
        "ganzoo_unsb.networks:TimePatchGAN",
        summary="PatchGAN conditioned on the bridge's time step (UNSB's discriminator).",
    )
    registrar.discriminator(
        "unsb_energy",
        "ganzoo_unsb.networks:EnergyNetwork",
        summary="UNSB's energy network: the time-conditioned PatchGAN on two (x_t, x_1) pairs (12 channels).",
    )
    registrar.method(
        "unsb",
        "ganzoo_unsb.method:UNSB",
        summary="UNSB (Kim et al. 2023): unpaired translation as a Schrodinger bridge, multi-step inference (A->B).",
    )
