import ganzoo
from ganzoo_cut.method import CUT, FastCUT


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("cut", CUT)
    registrar.method("fastcut", FastCUT)
