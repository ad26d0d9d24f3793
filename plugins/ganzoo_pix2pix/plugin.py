"""Entry point of the ``pix2pix`` plugin (kept apart from the package so importing the recipe
class never touches the registry)."""

import ganzoo
from ganzoo_pix2pix.method import Pix2Pix


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("pix2pix", Pix2Pix)
