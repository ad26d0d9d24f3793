"""Where recipe files are: a path, or a name among the built-in recipes and the plugins' ones.

``ganzoo run quickstart`` must work from a pip install in any folder, where ``recipes/`` of the
source tree is not at hand: the built-in recipes ship in the wheel (``ganzoo/recipes``; the
checkout's ``recipes/`` folder when running from source), a plugin adds its folders through
the ``recipe_folders`` hook, and a bare name that is not a file is looked up among them.
Reading a folder listing and a few TOML headers is all it costs: no torch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ganzoo.errors import did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN = "ganzoo"
"""The ``source`` of the built-in recipes."""


@dataclass(frozen=True)
class RecipeFile:
    """A recipe found by name: ``ganzoo run NAME`` runs ``path``."""

    name: str
    path: Path
    source: str  # "ganzoo", or the label of the plugin whose recipe_folders hook gave it

    def summary(self) -> dict[str, str]:
        """Name, source, path, the method it trains and its opening comment's first sentence."""
        text = self.path.read_text(encoding="utf-8")
        try:
            method = str(tomllib.loads(text).get("method", {}).get("type", ""))
        except tomllib.TOMLDecodeError:
            method = "(invalid TOML)"
        comment = " ".join(_opening_comment(text.splitlines())).split(". ")[0]
        return {"name": self.name, "source": self.source, "method": method, "description": comment,
                "path": str(self.path)}


def _opening_comment(lines: list[str]) -> list[str]:
    """The file's first comment sentence(s): leading ``#`` lines up to a blank one, an indented
    one (a command line example) or the first TOML line."""
    words = []
    for line in lines:
        if not line.startswith("# ") or line.startswith("#  "):
            break
        words.append(line[2:].strip())
    return words


def builtin_folder() -> Path | None:
    """``ganzoo/recipes`` in an installed wheel, else ``recipes/`` beside the package in a source
    checkout (one that has a pyproject.toml, so no stray folder of site-packages is taken)."""
    package = Path(__file__).resolve().parent
    if (package / "recipes").is_dir():
        return package / "recipes"
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "recipes").is_dir():
        return checkout / "recipes"
    return None


def available() -> list[RecipeFile]:
    """Every recipe a name can reach: the built-in ones, then each loaded plugin's, in load order
    (a name's first recipe is the one it runs)."""
    from ganzoo.plugins import get_plugins

    folders = [(BUILTIN, builtin_folder())]
    folders += [(info.label, Path(folder)) for info in get_plugins().plugins for folder in info.recipe_folders]
    return [RecipeFile(path.stem, path, source)
            for source, folder in folders if folder is not None and folder.is_dir()
            for path in sorted(folder.glob("*.toml"))]


def find(path: Path | str) -> Path:
    """``path`` if it is a file, else the recipe it names (``quickstart`` or ``quickstart.toml``,
    no folder part), else ``path`` unchanged (reading it then fails, with :func:`not_found_hint`)."""
    path = Path(path)
    if path.is_file() or path.parent != Path("."):
        return path
    name = path.stem if path.suffix == ".toml" else path.name
    return next((r.path for r in available() if r.name == name), path)


def not_found_hint(path: Path | str) -> str:
    """What to try instead of a recipe path that is not a file: the recipe of that name (say,
    ``recipes/quickstart.toml`` outside the source tree is the built-in ``quickstart``), a
    close name, or the list."""
    path = Path(path)
    names = [r.name for r in available()]
    stem = path.stem if path.suffix == ".toml" else path.name
    if stem in names and path.parent != Path("."):
        return f"; an installed recipe has that name: give '{stem}' instead of the path"
    return f"{did_you_mean(stem, names)} (recipes by name: ganzoo recipes)"
