"""Entry point of the ``pix2pix`` plugin (kept apart from the package so importing the method
class never touches the registry; registered by import path, so listing it needs no torch)."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("pix2pix", "ganzoo_pix2pix.method:Pix2Pix")
