"""Super-resolution as ganzoo methods: SRResNet and RRDBNet generators, ESRGAN's VGG-style and
Real-ESRGAN's U-Net discriminators, VGG19 perceptual and relativistic GAN losses, and the
two training stages (``sr_psnr``, then ``esrgan`` initialised from it). See
docs/super-resolution.md."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_sr.networks": ("RRDBNet", "SRResNet", "UNetDiscriminator", "VGGDiscriminator"),
    "ganzoo_sr.losses": ("PerceptualLoss", "RelativisticGANLoss"),
    "ganzoo_sr.method": ("SRGAN", "SRPSNR"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = ["PerceptualLoss", "RRDBNet", "RelativisticGANLoss", "SRGAN", "SRPSNR", "SRResNet", "UNetDiscriminator",
           "VGGDiscriminator"]
