import ganzoo
from ganzoo_cyclegan.method import CycleGAN


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("cyclegan", CycleGAN)
