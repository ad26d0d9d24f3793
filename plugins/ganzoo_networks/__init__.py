"""ganzoo's built-in networks: the generators and discriminators of CycleGAN and pix2pix.

They reproduce junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py) layer for layer,
including state-dict key names, so published checkpoints load with
:func:`load_reference_state_dict` and results can be compared with the papers'.
"""

from ganzoo_networks.common import (
    init_weights,
    load_reference_state_dict,
    norm_layer,
    patch_reference_state_dict,
)
from ganzoo_networks.patchgan import (
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
    receptive_field,
)
from ganzoo_networks.resnet import Resnet6BlocksConfig, ResnetBlock, ResnetGenerator, ResnetGeneratorConfig
from ganzoo_networks.unet import Unet128Config, UnetGenerator, UnetGeneratorConfig, UnetSkipBlock

__all__ = [
    "NLayerDiscriminator",
    "NLayerDiscriminatorConfig",
    "PixelDiscriminator",
    "PixelDiscriminatorConfig",
    "Resnet6BlocksConfig",
    "ResnetBlock",
    "ResnetGenerator",
    "ResnetGeneratorConfig",
    "Unet128Config",
    "UnetGenerator",
    "UnetGeneratorConfig",
    "UnetSkipBlock",
    "init_weights",
    "load_reference_state_dict",
    "norm_layer",
    "patch_reference_state_dict",
    "receptive_field",
]
