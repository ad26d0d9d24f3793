"""``ganzoo pretrained`` (the catalogue of published models: list, download) and ``ganzoo push``
(a run as a shareable model folder, locally or to the Hugging Face hub).

Module-level imports stay light: listing needs neither torch nor the plugins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganzoo.cli.console import err, out, plugins, user_errors

pretrained = typer.Typer(
    help="Published models (CycleGAN, pix2pix, CUT): list them, download them as ready model folders.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@pretrained.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The published models ganzoo knows, their architecture and licence, and whether they are cached."""
    from rich.table import Table

    from ganzoo.pretrained import catalogue, ganzoo_home

    with user_errors():
        rows = [entry.to_json() for entry in catalogue().values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Published models ({len(rows)}; cache: {ganzoo_home() / 'pretrained'})")
    for column in ("Name", "Cached", "Method", "Generator", "Translates", "Licence"):
        table.add_column(column, no_wrap=column in ("Name", "Cached"), overflow="fold")
    for row in rows:
        cached = "[green]yes[/green]" if row["present"] else "[yellow]no[/yellow]"
        table.add_row(row["name"], cached, row["method"], row["architecture"], row["summary"],
                      row["licence"].split(" (")[0])
    out.print(table)
    out.print("Download with: [bold]ganzoo pretrained download NAME[/bold]; or translate directly: "
              "[bold]ganzoo translate NAME IMAGES --out OUT[/bold]", highlight=False)


@pretrained.command()
def download(
    names: Annotated[list[str], typer.Argument(help="Names from 'ganzoo pretrained list'.")],
    mirror: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional on 3.10
        "--mirror", help="Base URL of a copy of the files (default: $GANZOO_PRETRAINED_MIRROR, else the publisher).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download and convert again even if cached.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
) -> None:
    """Download published models and convert them to model folders (resumable; kept only once
    the file loads as the weights)."""
    from ganzoo.pretrained import download_pretrained, lookup

    with user_errors():
        entries = [lookup(name) for name in names]
        plugins()
        for entry in entries:
            result = download_pretrained(entry, mirror=mirror, force=force, progress=progress, console=err)
            if result.skipped:
                out.print(f"{entry.name}: already in {result.folder}", highlight=False, soft_wrap=True)
                continue
            resumed = f", resumed from byte {result.resumed_from}" if result.resumed_from else ""
            out.print(f"[green]ok[/green]: {entry.name} in {result.folder} (SHA-256 {result.sha256[:16]}...{resumed})",
                      highlight=False, soft_wrap=True)


def push(
    source: Annotated[Path, typer.Argument(help="A run directory, a checkpoint, or a model folder.")],
    dest: Annotated[str, typer.Argument(help="A new folder, or hf://USER/REPO (needs huggingface_hub).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a model folder already at DEST.")] = False,
    samples: Annotated[int, typer.Option(min=0, help="Sample images of the run to include (the latest).")] = 4,
    private: Annotated[bool, typer.Option("--private", help="Create the hub repository as private.")] = False,
    ema: Annotated[bool, typer.Option("--ema/--no-ema", help="The weight average, when the run kept one.")] = True,
) -> None:
    """Write a trained model as a self-contained folder (safetensors weights, resolved recipe,
    plugin versions, metrics, samples, a model card), or upload it to the Hugging Face hub."""
    from ganzoo.push import push as push_model

    with user_errors():
        plugins()
        result = push_model(source, dest, overwrite=overwrite, samples=samples, private=private, ema=ema)
    where = result.url or str(result.folder)
    out.print(f"[green]ok[/green]: {source} -> {where} ({len(result.metrics)} metrics in the card)",
              highlight=False, soft_wrap=True)
    out.print(f"Translate with: ganzoo translate {dest} IMAGES --out OUT", highlight=False, soft_wrap=True)


def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(pretrained, name="pretrained")
    cli.command("push")(push)
