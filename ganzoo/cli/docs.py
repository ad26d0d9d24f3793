"""``ganzoo docs``: write the recipe reference; the generator itself is :mod:`ganzoo.docs_gen`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def docs(
    out: Annotated[Path, typer.Option("--out", "-o", help="Markdown file to write.")] = Path("docs/recipes.md"),
    dist: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 - typer needs Optional on 3.10
        "--dist", help="Only components of this distribution (repeatable), e.g. ganzoo.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if OUT is not up to date.")] = False,
) -> None:
    """Write the recipe reference (every installed component's options) as markdown."""
    from ganzoo.docs_gen import write_and_report

    status = write_and_report(out, dist, check=check)
    if status:
        raise typer.Exit(status)


def register_commands(cli: typer.Typer) -> None:
    cli.command("docs")(docs)
