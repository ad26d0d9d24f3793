"""``ganzoo recipes``: the recipes ``ganzoo run NAME`` can run by name, built-in and plugins'."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ganzoo.cli.console import out, user_errors


def recipes(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the recipes that run by name (ganzoo run NAME): the built-in ones and the plugins'."""
    from ganzoo.recipe_files import available

    with user_errors():
        rows = [recipe.summary() for recipe in available()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("Name", "Method", "From", "Description")
    for row in rows:
        table.add_row(row["name"], row["method"], row["source"], escape(row["description"]))
    out.print(table)
    out.print("run one with: ganzoo run NAME (a file's path works too)", highlight=False)


def register_commands(cli: typer.Typer) -> None:
    cli.command("recipes")(recipes)
