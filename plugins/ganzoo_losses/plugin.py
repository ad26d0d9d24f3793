import ganzoo
from ganzoo_losses import HingeLoss, L1Loss, LSGANLoss, MSELoss, PatchNCELoss, VanillaGANLoss, WGANGPLoss


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.loss("lsgan", LSGANLoss)
    registrar.loss("vanilla", VanillaGANLoss)
    registrar.loss("hinge", HingeLoss)
    registrar.loss("wgangp", WGANGPLoss)
    registrar.loss("l1", L1Loss)
    registrar.loss("mse", MSELoss)
    registrar.loss("patchnce", PatchNCELoss)
