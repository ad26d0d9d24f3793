"""``ganzoo list-components``, ``ganzoo describe`` and ``ganzoo plugins``: what is installed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ganzoo.cli.console import err, out, plugins, user_errors
from ganzoo.errors import GanzooError, did_you_mean

if TYPE_CHECKING:
    from pydantic import BaseModel


def kinds() -> list[str]:
    """The component kinds (for shell completion; KIND also takes a plural, so it is not a choice)."""
    from ganzoo.registry import KINDS

    return list(KINDS)


def list_components(
    kind: Annotated[Optional[str], typer.Argument(  # noqa: UP045 - typer on 3.10
        help="generator, discriminator, loss, method, dataset, metric", autocompletion=kinds)] = None,
    filter: Annotated[str, typer.Option("--filter", help="Glob on the name, e.g. '*resnet*'.")] = "*",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered components with the plugin they come from."""
    from ganzoo import renamed
    from ganzoo.registry import KINDS

    with user_errors():
        if kind in renamed.KINDS:
            raise renamed.renamed_kind(kind)
        if kind is not None and kind not in KINDS:
            singular = next((k for k in (kind[:-1], kind[:-2]) if kind.endswith("s") and k in KINDS), None)
            if singular:
                kind = singular
            else:
                raise GanzooError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)} (kinds: {', '.join(KINDS)})")
        loaded = plugins(warn=not as_json)
        specs = loaded.registry.list(kind, filter)
        if as_json:
            out.print_json(json.dumps([
                {"kind": s.kind, "name": s.name, "plugin": s.plugin.name, "dist": s.plugin.dist,
                 "version": s.plugin.version, "summary": s.summary} for s in specs
            ]))
            return
        table = Table("Kind", "Name", "Plugin", "Summary", title=None, expand=False)
        for s in specs:
            table.add_row(s.kind, s.name, s.plugin.label, s.summary)
        out.print(table)
        if not specs:
            err.print(f"no {kind or 'component'} matches '{filter}'")


def describe(
    kind: Annotated[str, typer.Argument(help="Component kind.", autocompletion=kinds)],
    name: Annotated[str, typer.Argument(help="Component name.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON schema of the config.")] = False,
) -> None:
    """Show a component's config fields: type, default and meaning (and a method's slots)."""
    with user_errors():
        spec = plugins().registry.get(kind, name)
        if as_json:
            out.print_json(json.dumps(spec.config.model_json_schema()))
            return
        out.print(f"[bold]{spec.kind} {spec.name}[/bold]  from {spec.plugin.label}")
        if spec.summary:
            out.print(spec.summary, highlight=False)
        out.print(config_table(spec.config))
        slots = getattr(spec.cls, "slots", None)
        if slots:
            table = Table("Slot (table)", "Kind", "Default", "Meaning", title="Slots")
            for slot_name, slot in slots.items():
                defaults = ", ".join(f"{k}={v}" for k, v in slot.defaults.items())
                default = f"{slot.default} ({defaults})" if defaults else slot.default
                table.add_row(escape(f"[{slot_name}]"), slot.kind, default, slot.help)
            out.print(table)


def config_table(model: type[BaseModel], title: str = "Config") -> Table:
    from ganzoo.docs_gen import config_rows

    table = Table("Field", "Type", "Default", "Description", title=title)
    for row in config_rows(model):
        table.add_row(*(escape(cell) for cell in row))
    return table


def plugins_command(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Show discovered plugins, their versions, what they add and their status (and why one failed)."""
    loaded = plugins(warn=False)
    if as_json:
        out.print_json(json.dumps([p.__dict__ for p in loaded.plugins]))
        return
    with_commands = any(p.commands for p in loaded.plugins)  # a column only when a plugin adds commands
    with_recipes = any(p.recipe_folders for p in loaded.plugins)  # or recipes (see: ganzoo recipes)
    table = Table("Plugin", "Distribution", "Version", "Components", *(["Commands"] if with_commands else []),
                  *(["Recipes"] if with_recipes else []), "Status")
    for p in loaded.plugins:
        status = {"loaded": "[green]loaded[/green]", "disabled": "[dim]disabled[/dim]"}.get(
            p.status, f"[red]failed[/red]: {escape(p.error or '')}")
        commands = [", ".join(p.commands)] if with_commands else []
        recipes = [", ".join(p.recipe_folders)] if with_recipes else []
        table.add_row(p.name, p.dist or "", p.version or "", str(p.components), *commands, *recipes, status)
    out.print(table)


def register_commands(cli: typer.Typer) -> None:
    cli.command("list-components")(list_components)
    cli.command("describe")(describe)
    cli.command("plugins")(plugins_command)
