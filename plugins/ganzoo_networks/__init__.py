"""ganzoo's built-in networks: the generators and discriminators of CycleGAN and pix2pix.

They reproduce junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py) layer for layer,
including state-dict key names, so published checkpoints load with
:func:`load_reference_state_dict` and results can be compared with the papers'.
"""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_networks.common": ("init_weights", "load_reference_state_dict", "norm_layer", "patch_reference_state_dict"),
    "ganzoo_networks.patchgan": ("NLayerDiscriminator", "NLayerDiscriminatorConfig", "PixelDiscriminator",
                                 "PixelDiscriminatorConfig", "receptive_field"),
    "ganzoo_networks.resnet": ("Resnet6BlocksConfig", "ResnetBlock", "ResnetGenerator", "ResnetGeneratorConfig"),
    "ganzoo_networks.unet": ("Unet128Config", "UnetGenerator", "UnetGeneratorConfig", "UnetSkipBlock"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

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
