"""Entry point of the ``networks`` plugin: registers the reference CycleGAN/pix2pix networks.

Kept separate from the package ``__init__`` so importing the classes never touches the
registry; ganzoo calls :func:`register_components` when it loads plugins.
"""

from __future__ import annotations

import ganzoo
from ganzoo_networks.patchgan import (
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
)
from ganzoo_networks.resnet import Resnet6BlocksConfig, ResnetGenerator, ResnetGeneratorConfig
from ganzoo_networks.unet import Unet128Config, UnetGenerator, UnetGeneratorConfig


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "resnet_9blocks",
        ResnetGenerator,
        config=ResnetGeneratorConfig,
        summary="CycleGAN's ResNet generator with 9 residual blocks (the 256 px default).",
    )
    registrar.generator(
        "resnet_6blocks",
        ResnetGenerator,
        config=Resnet6BlocksConfig,
        summary="CycleGAN's ResNet generator with 6 residual blocks (the 128 px default).",
    )
    registrar.generator(
        "unet_256",
        UnetGenerator,
        config=UnetGeneratorConfig,
        summary="pix2pix's U-Net with 8 downsamplings, for 256 px inputs.",
    )
    registrar.generator(
        "unet_128",
        UnetGenerator,
        config=Unet128Config,
        summary="pix2pix's U-Net with 7 downsamplings, for 128 px inputs.",
    )
    registrar.discriminator(
        "patchgan",
        NLayerDiscriminator,
        config=NLayerDiscriminatorConfig,
        summary="PatchGAN scoring overlapping patches (70x70 at the default 3 layers).",
    )
    registrar.discriminator(
        "pixel",
        PixelDiscriminator,
        config=PixelDiscriminatorConfig,
        summary="1x1 PatchGAN scoring each pixel's colour independently.",
    )
