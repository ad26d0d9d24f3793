import ganzoo
from ganzoo_cyclegan.recipe import CycleGAN


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.recipe("cyclegan", CycleGAN)
