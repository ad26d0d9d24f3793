"""Every built-in method meets the same contract (ganzoo.testing.MethodContract): built from its
defaults, forward/backward through every step, one real engine iteration, exact resume,
safetensors round trip, odd-sized translation in each direction, TorchScript export. A plugin's
method runs the same suite with one class (see plugins/ganzoo-discogan/tests)."""

from __future__ import annotations

from ganzoo.testing import MethodContract

TINY_PATCHGAN = ("discriminator.ndf=4", "discriminator.n_layers=2")


class TestCycleGAN(MethodContract):
    method = "cyclegan"
    overrides = ("generator.type='resnet_6blocks'", "generator.ngf=4", *TINY_PATCHGAN, "method.pool_size=2")


class TestPix2Pix(MethodContract):
    method = "pix2pix"
    overrides = ("generator.type='unet_128'", "generator.num_downs=5", "generator.ngf=4", *TINY_PATCHGAN)
    size = 32


class TestUNIT(MethodContract):
    method = "unit"
    overrides = ("generator.dim=4", "generator.n_res=1", "discriminator.dim=4", "discriminator.n_layer=2",
                 "discriminator.num_scales=2")


TINY_CUT = ("generator.type='resnet_6blocks'", "generator.ngf=4", *TINY_PATCHGAN, "nce_loss.num_patches=16",
            "nce_loss.mlp_width=8")


class TestCUT(MethodContract):
    method = "cut"
    overrides = TINY_CUT


class TestFastCUT(MethodContract):
    method = "fastcut"
    overrides = TINY_CUT


class TestUNSB(MethodContract):
    method = "unsb"
    overrides = ("generator.ngf=4", "generator.n_blocks=5", "generator.n_mlp=1", "discriminator.ndf=4",
                 "discriminator.n_layers=2", "energy.ndf=4", "energy.n_layers=2", "nce_loss.num_patches=16",
                 "nce_loss.mlp_width=8")


SR_DATA = 'type = "sr_procedural"\nscale = 2\nimage_size = 32\ngt_size = 32\ntrain_size = 8\ntest_size = 2'
TINY_RRDB = ("generator.nf=4", "generator.gc=4", "generator.n_blocks=1", "generator.scale=2")


class TestSRPSNR(MethodContract):
    method = "sr_psnr"
    overrides = TINY_RRDB
    data, scale = SR_DATA, 2


class TestESRGAN(MethodContract):
    method = "esrgan"
    overrides = (*TINY_RRDB, "discriminator.ndf=4", "discriminator.input_size=32",
                 "perceptual_loss.random_weights=true")
    data, scale = SR_DATA, 2
