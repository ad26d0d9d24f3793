"""Named benchmark suites: which recipes ``ganzoo bench --suite NAME`` trains, under which budget.

A suite is data, not code: recipe files, a budget, seeds. The built-in ``translation-quick``
finds its recipes when it is used (every ``*quickstart*.toml`` shipped with ganzoo), so a
method that ships a quickstart joins the comparison without anyone editing a list. Plugins add
suites through the ``register_bench_suites`` hook (:mod:`ganzoo.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError


@dataclass(frozen=True)
class BenchSuite:
    """Recipes compared under one budget. ``recipes`` may be a function, called when the suite is
    used, so that the list is always current."""

    name: str
    description: str
    recipes: Sequence[Path] | Callable[[], Sequence[Path]]
    budget_seconds: float | None = None
    budget_iterations: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    overrides: tuple[str, ...] = ()
    """``--set`` overrides applied to every recipe of the suite."""
    origin: str = "ganzoo"

    def recipe_paths(self) -> list[Path]:
        found = self.recipes() if callable(self.recipes) else self.recipes
        return [Path(p) for p in found]


def _builtin_quickstarts() -> list[Path]:
    from ganzoo.recipe_files import builtin_folder

    folder = builtin_folder()
    if folder is None:
        raise GanzooError("the built-in recipes are not installed (no ganzoo/recipes, nor recipes/ of a checkout)")
    return sorted(folder.glob("*quickstart*.toml"))


def quickstarts_for(task: str) -> Callable[[], list[Path]]:
    """The built-in ``*quickstart*.toml`` (:func:`ganzoo.recipe_files.builtin_folder`: in the
    wheel or the checkout) whose data set's :attr:`ganzoo.Dataset.task` is ``task``: one per
    method, each on the built-in data, so a method that ships a quickstart joins its task's
    comparison without anyone editing a list. A recipe that starts from another run
    (``[init] from``, e.g. a GAN stage after a PSNR stage) is left out: it cannot run alone."""

    def find() -> list[Path]:
        from ganzoo.plugins import get_registry
        from ganzoo.recipe import read_toml

        registry, found = get_registry(), []
        for path in _builtin_quickstarts():
            recipe = read_toml(path)
            data_type = recipe.get("data", {}).get("type")
            if "init" in recipe or ("dataset", data_type) not in registry:
                continue
            if getattr(registry.get("dataset", data_type).cls, "task", "translation") == task:
                found.append(path)
        return found

    find.__name__ = f"{task}_quickstarts"
    return find


quickstart_recipes = quickstarts_for("translation")


BUILTIN_SUITES = (
    BenchSuite(
        name="translation-quick",
        description="every built-in two-domain method's quickstart recipe (built-in 32 px data, paired test "
                    "split), 60 s of training each, 3 seeds",
        recipes=quickstart_recipes,
        budget_seconds=60.0,
        seeds=(0, 1, 2),
    ),
    BenchSuite(
        name="multidomain-quick",
        description="every built-in multi-domain method's quickstart recipe (built-in 32 px data in 3 styles, "
                    "every test scene in every domain; PSNR per domain pair), 60 s of training each, 3 seeds",
        recipes=quickstarts_for("multi-domain"),
        budget_seconds=60.0,
        seeds=(0, 1, 2),
    ),
    BenchSuite(
        name="sr-quick",
        description="the built-in super-resolution quickstart (x4 on the built-in textured scenes; PSNR/SSIM on "
                    "Y beside bicubic), 60 s of training each, 3 seeds",
        recipes=quickstarts_for("super-resolution"),
        budget_seconds=60.0,
        seeds=(0, 1, 2),
    ),
)


class SuiteRegistrar:
    """What a plugin's ``register_bench_suites`` hook receives: ``suites.add(...)`` names a suite
    (bound to the calling plugin, which the suite list shows)."""

    def __init__(self, found: dict[str, BenchSuite], origin: str):
        self._found, self.origin = found, origin

    def add(self, name: str, recipes: Iterable[Path | str] | Callable[[], Sequence[Path]], *, description: str,
            budget_seconds: float | None = None, budget_iterations: int | None = None,
            seeds: Iterable[int] = (0, 1, 2), overrides: Iterable[str] = ()) -> None:
        if name in self._found:
            raise GanzooError(f"bench suite '{name}' already exists (from {self._found[name].origin})")
        if budget_seconds is not None and budget_iterations is not None:
            raise GanzooError(f"bench suite '{name}': give budget_seconds or budget_iterations, not both")
        paths = recipes if callable(recipes) else tuple(Path(p) for p in recipes)
        self._found[name] = BenchSuite(name, description, paths, budget_seconds, budget_iterations,
                                       tuple(int(s) for s in seeds), tuple(overrides), self.origin)


def collect_suites(loaded: Any = None, warn: Callable[[str], None] = print) -> dict[str, BenchSuite]:
    """The built-in suites and those the loaded plugins add. A plugin whose hook raises adds
    nothing and is named in one warning (an error under ``GANZOO_STRICT_PLUGINS=1``)."""
    from ganzoo.plugins import get_plugins, strict_mode

    loaded = loaded or get_plugins()
    found = {suite.name: suite for suite in BUILTIN_SUITES}
    for impl in loaded.pm.hook.register_bench_suites.get_hookimpls():
        mine: dict[str, BenchSuite] = dict(found)
        try:
            impl.function(**{"suites": SuiteRegistrar(mine, f"plugin {impl.plugin_name}")})
        except Exception as exc:  # noqa: BLE001 - one plugin's mistake must not hide the other suites
            problem = f"plugin {impl.plugin_name}: register_bench_suites failed: {type(exc).__name__}: {exc}"
            if strict_mode():
                raise GanzooError(problem) from exc
            warn(problem)
            continue
        found = mine
    return found


def get_suite(name: str, suites: dict[str, BenchSuite]) -> BenchSuite:
    if name not in suites:
        raise GanzooError(f"no bench suite '{name}'; suites: {', '.join(sorted(suites))} "
                          "(ganzoo bench --list-suites)")
    return suites[name]


def describe_suites(suites: dict[str, BenchSuite]) -> list[dict[str, Any]]:
    """Name, origin, budget, seeds, recipe count and description of each suite."""
    rows = []
    for suite in sorted(suites.values(), key=lambda s: s.name):
        try:
            recipes = [p.name for p in suite.recipe_paths()]
        except GanzooError as exc:
            recipes = [f"({exc})"]
        budget = (f"{suite.budget_seconds:g} s" if suite.budget_seconds else
                  f"{suite.budget_iterations} iterations" if suite.budget_iterations else "each recipe's length")
        rows.append({"name": suite.name, "origin": suite.origin, "budget": budget,
                     "seeds": list(suite.seeds), "recipes": recipes, "description": suite.description})
    return rows
