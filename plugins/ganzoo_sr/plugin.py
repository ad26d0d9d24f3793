"""Entry point of the ``sr`` plugin: registered by import path, so listing it needs no torch."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    # not "srresnet": a typo of resnet_9blocks ("resnet9") would be steered to it
    registrar.generator("srresnet_16blocks", "ganzoo_sr.networks:SRResNet",
                        config="ganzoo_sr.networks:SRResNetConfig",
                        summary="SRGAN's SRResNet: 16 residual blocks, pixel-shuffle up-sampling (x2/x3/x4/x8).")
    registrar.generator("rrdbnet", "ganzoo_sr.networks:RRDBNet", config="ganzoo_sr.networks:RRDBNetConfig",
                        summary="ESRGAN's RRDBNet: 23 residual-in-residual dense blocks, nf 64, gc 32.")
    registrar.discriminator("vgg_sr", "ganzoo_sr.networks:VGGDiscriminator",
                            config="ganzoo_sr.networks:VGGDiscriminatorConfig",
                            summary="SRGAN/ESRGAN's VGG-style discriminator (one score per fixed-size HR crop).")
    registrar.discriminator("unet_sn", "ganzoo_sr.networks:UNetDiscriminator",
                            config="ganzoo_sr.networks:UNetDiscriminatorConfig",
                            summary="Real-ESRGAN's U-Net discriminator with spectral norm (per-pixel scores).")
    registrar.loss("perceptual", "ganzoo_sr.losses:PerceptualLoss", config="ganzoo_sr.losses:PerceptualLossConfig",
                   summary="VGG19 features before activation (ESRGAN conv5_4; Real-ESRGAN five layers).")
    registrar.loss("relativistic", "ganzoo_sr.losses:RelativisticGANLoss",
                   summary="Relativistic average GAN (ESRGAN).")
    registrar.method("sr_psnr", "ganzoo_sr.method:SRPSNR", config="ganzoo_sr.method:SRConfig",
                     summary="Super-resolution, PSNR-oriented stage: generator + pixel loss (SRResNet, RRDB-PSNR).")
    registrar.method("esrgan", "ganzoo_sr.method:SRGAN", config="ganzoo_sr.method:SRGANConfig",
                     summary="Super-resolution GAN stage (SRGAN, ESRGAN, Real-ESRGAN), started from the PSNR stage.")
