"""Entry point of the ``cyclegan`` plugin (the method registered by import path: listing it
needs no torch)."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("cyclegan", "ganzoo_cyclegan.method:CycleGAN")
