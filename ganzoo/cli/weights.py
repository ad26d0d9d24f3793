"""``ganzoo weights``: list and fetch the published weights the metrics need (FID's Inception,
LPIPS' backbones) into torch hub's cache, where evaluation looks for them.

Module-level imports stay light: listing needs neither torch nor the plugins.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ganzoo.cli.console import err, out, user_errors

weights = typer.Typer(
    help="Pretrained weights of the metrics (FID/KID's Inception, LPIPS' backbone): list them, fetch them.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@weights.command("list")
def list_weights(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The known weight files, what needs them, and whether they are in the cache."""
    from rich.table import Table

    from ganzoo.metrics.weights import CATALOG, hub_checkpoints_dir

    rows = [{"name": e.name, "file": e.filename, "used_by": e.used_by, "size": e.size, "url": e.url,
             "sha256": e.sha256, "path": str(e.path), "present": e.path.is_file()} for e in CATALOG.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Weights (cache: {hub_checkpoints_dir()})")
    for column in ("Name", "Cached", "Size", "Used by", "File"):
        table.add_column(column, no_wrap=column != "File", overflow="fold")
    for row in rows:
        cached = "[green]yes[/green]" if row["present"] else "[yellow]no[/yellow]"
        table.add_row(row["name"], cached, row["size"], row["used_by"], row["file"])
    out.print(table)
    out.print("Fetch with: [bold]ganzoo weights fetch NAME[/bold] (or all).", highlight=False)


@weights.command()
def fetch(
    names: Annotated[list[str], typer.Argument(help="Names from 'ganzoo weights list', or all.")],
    mirror: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional on 3.10
        "--mirror", help="Base URL of a copy of the files (default: $GANZOO_WEIGHTS_MIRROR, else the publisher).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if a verified file is cached.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
) -> None:
    """Download weights into torch hub's cache, checksummed (resumes a broken download)."""
    from ganzoo.metrics.weights import fetch_weights, lookup

    with user_errors():
        entries = [entry for name in names for entry in lookup(name)]
        for entry in dict.fromkeys(entries):
            result = fetch_weights(entry, mirror=mirror, force=force, progress=progress, console=err)
            if result.skipped:
                out.print(f"{entry.name}: already in {result.path}", highlight=False, soft_wrap=True)
                continue
            resumed = f", resumed from byte {result.resumed_from}" if result.resumed_from else ""
            out.print(f"[green]ok[/green]: {entry.name} in {result.path} (SHA-256 {result.sha256[:16]}...{resumed})",
                      highlight=False, soft_wrap=True)


def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(weights, name="weights")
