"""Entry point of the ``networks`` plugin: registers the reference CycleGAN/pix2pix networks.

Kept separate from the package ``__init__`` so importing the classes never touches the
registry; ganzoo calls :func:`register_components` when it loads plugins. Components are
registered by import path, so listing them needs no torch.
"""

from __future__ import annotations

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.generator(
        "resnet_9blocks",
        "ganzoo_networks.resnet:ResnetGenerator",
        config="ganzoo_networks.resnet:ResnetGeneratorConfig",
        summary="CycleGAN's ResNet generator with 9 residual blocks (the 256 px default).",
    )
    registrar.generator(
        "resnet_6blocks",
        "ganzoo_networks.resnet:ResnetGenerator",
        config="ganzoo_networks.resnet:Resnet6BlocksConfig",
        summary="CycleGAN's ResNet generator with 6 residual blocks (the 128 px default).",
    )
    registrar.generator(
        "unet_256",
        "ganzoo_networks.unet:UnetGenerator",
        config="ganzoo_networks.unet:UnetGeneratorConfig",
        summary="pix2pix's U-Net with 8 downsamplings, for 256 px inputs.",
    )
    registrar.generator(
        "unet_128",
        "ganzoo_networks.unet:UnetGenerator",
        config="ganzoo_networks.unet:Unet128Config",
        summary="pix2pix's U-Net with 7 downsamplings, for 128 px inputs.",
    )
    registrar.discriminator(
        "patchgan",
        "ganzoo_networks.patchgan:NLayerDiscriminator",
        config="ganzoo_networks.patchgan:NLayerDiscriminatorConfig",
        summary="PatchGAN scoring overlapping patches (70x70 at the default 3 layers).",
    )
    registrar.discriminator(
        "pixel",
        "ganzoo_networks.patchgan:PixelDiscriminator",
        config="ganzoo_networks.patchgan:PixelDiscriminatorConfig",
        summary="1x1 PatchGAN scoring each pixel's colour independently.",
    )
