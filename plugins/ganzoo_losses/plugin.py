"""Entry point of the ``losses`` plugin. Components are registered by import path, so ganzoo
lists them without importing torch; each class loads when a recipe first uses it."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.loss("lsgan", "ganzoo_losses.adversarial:LSGANLoss")
    registrar.loss("vanilla", "ganzoo_losses.adversarial:VanillaGANLoss")
    registrar.loss("hinge", "ganzoo_losses.adversarial:HingeLoss")
    registrar.loss("wgangp", "ganzoo_losses.adversarial:WGANGPLoss")
    registrar.loss("l1", "ganzoo_losses.reconstruction:L1Loss")
    registrar.loss("mse", "ganzoo_losses.reconstruction:MSELoss")
    registrar.loss("patchnce", "ganzoo_losses.contrastive:PatchNCELoss")
