"""The hooks a ganzoo plugin may implement, one per extension point. This module is the plugin
contract.

A plugin is a module listed under the ``ganzoo`` entry-point group that defines functions
decorated with :data:`ganzoo.hookimpl`. pluggy passes only the arguments an implementation
names, so arguments added here later break no plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from ganzoo.bench.suites import SuiteRegistrar
    from ganzoo.registry import Registrar

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_components(registrar: Registrar) -> None:
    """Register this plugin's components.

    ``registrar`` is bound to the calling plugin, so every component records the distribution
    and version it came from::

        @hookimpl
        def register_components(registrar):
            registrar.generator("resnet_9blocks", ResnetGenerator, config=ResnetConfig)
            registrar.loss("lsgan", LSGANLoss)
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add this plugin's commands to the ``ganzoo`` command line.

    ``cli`` is a :class:`typer.Typer`: define commands (or a group, with ``cli.add_typer``) on
    it as on any typer app; ``ganzoo --help`` lists them and ``ganzoo NAME`` runs them::

        @hookimpl
        def register_commands(cli):
            cli.command("my-report")(my_report)

    Called when ganzoo loads its plugins, after ``register_components``; a plugin that raises
    here fails to load, as one that fails to register does. The command line loads plugins for
    their commands only when it is given a command that is not built in, or lists them all
    (``ganzoo --help``), so built-in commands do not pay for them. A name that a built-in
    command or an earlier plugin already has is refused.
    """


@hookspec
def recipe_folders() -> Sequence[str | os.PathLike[str]]:
    """Folders of recipe files (``*.toml``) this plugin ships: ``ganzoo recipes`` lists them and
    ``ganzoo run NAME`` finds one by its file name, from any folder::

        @hookimpl
        def recipe_folders():
            return [Path(__file__).parent / "recipes"]  # inside the package, so it is in the wheel

    Called when ganzoo loads its plugins; a plugin that raises here fails to load. The built-in
    recipes come first: a plugin recipe named like one is listed but not reached by name.
    """


@hookspec
def register_bench_suites(suites: SuiteRegistrar) -> None:
    """Add named suites to ``ganzoo bench --suite``: ``suites.add("my-suite", [recipe, ...], description=...)``."""


@hookspec
def register_health_rules(rules: dict[str, Callable[[Any], Any]]) -> None:
    """Add rules to the health monitor (while a run trains) and to ``ganzoo doctor``.

    ``rules`` maps a rule name to a function of a :class:`ganzoo.HealthContext`
    (``ctx.latest`` is the newest ``health`` record of ``metrics.jsonl``, ``ctx.history`` all of
    them, ``ctx.evals`` the evaluations) returning a ``ganzoo.HealthFinding(saw, advice)`` or None::

        @hookimpl
        def register_health_rules(rules):
            rules["d_too_slow"] = lambda ctx: ganzoo.HealthFinding("D accuracy at chance", ("--set ...",)) \
                if ctx.latest.get("d/D/acc", 1) < 0.55 else None

    A rule that holds for ``train.health.window`` records in a row warns once, with the step
    its episode began. A finding's ``group`` (``HealthFinding(saw, advice, group="D")``) names the
    optimizer group whose lr a rollback lowers (docs/health.md). Names the built-in rules or an
    earlier plugin use are refused.
    """
