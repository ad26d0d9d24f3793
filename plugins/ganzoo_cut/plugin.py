"""Entry point of the ``cut`` plugin (the methods registered by import path: listing them needs
no torch)."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("cut", "ganzoo_cut.method:CUT")
    registrar.method("fastcut", "ganzoo_cut.method:FastCUT")
