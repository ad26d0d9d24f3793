"""Entry point of the ``discogan`` plugin (``[project.entry-points.ganzoo]`` in pyproject.toml).

Kept apart from the package ``__init__`` so that importing the classes never touches a
registry; ganzoo imports this module and calls :func:`register_components` when it loads
plugins. Components are registered by import path, so listing them needs no torch.
"""

from __future__ import annotations

from pathlib import Path

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.method("discogan", "ganzoo_discogan.method:DiscoGAN")
    registrar.generator("discogan_encdec", "ganzoo_discogan.networks:EncoderDecoderGenerator")
    registrar.discriminator("discogan", "ganzoo_discogan.networks:DiscoGANDiscriminator")
    registrar.loss("discogan_fm", "ganzoo_discogan.losses:FeatureMatchingLoss")


@ganzoo.hookimpl
def recipe_folders() -> list[Path]:
    """The recipes, so ``ganzoo recipes`` lists them and ``ganzoo run discogan_quickstart`` runs
    one: inside the installed package, or recipes/ beside it in the source tree."""
    package = Path(__file__).parent
    return [folder for folder in (package / "recipes", package.parent / "recipes") if folder.is_dir()][:1]
