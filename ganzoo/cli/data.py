"""``ganzoo data``: list, download and check data sets.

Module-level imports stay light (typer, rich); the download and check machinery loads when a
command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ganzoo.cli.console import err, out, user_errors

data = typer.Typer(
    help="Standard data sets: list them, download them, check a data folder.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@data.command("list")
def list_datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The data sets 'ganzoo data download' knows: name, layout, dataset type, size."""
    from ganzoo.data.catalog import entries, resolve_base_url

    with user_errors():
        items = entries()
        if as_json:
            out.print_json(json.dumps([
                {"name": e.key, "kind": e.kind, "dataset": e.dataset, "layout": e.layout, "size": e.size,
                 "url": e.url(), "sha256": e.sha256, "downloadable": e.downloadable, "summary": e.summary}
                for e in items
            ]))
            return
        table = Table(title=f"Data sets ({resolve_base_url()})")
        table.add_column("Name", no_wrap=True)
        table.add_column("Kind", no_wrap=True)
        table.add_column("Read with")
        table.add_column("Size", no_wrap=True)
        table.add_column("Description")
        for e in items:
            size = f"~{e.size}" if e.size else ""
            why = "steps: ganzoo data download " + e.name if e.source == "sr" else "license"
            summary = e.summary if e.downloadable else f"{e.summary} [yellow](not downloadable: {why})[/yellow]"
            table.add_row(e.key, e.kind, e.dataset or "-", size, summary)
        out.print(table)
        out.print("A bare name works when only one source has it, e.g. [bold]ganzoo data download horse2zebra[/bold]; "
                  "facades, maps and cityscapes need the source: [bold]pix2pix/facades[/bold].", highlight=False)


@data.command()
def download(
    name: Annotated[str, typer.Argument(help="Data set, e.g. horse2zebra or pix2pix/facades (see: ganzoo data list).")],
    root: Annotated[Path, typer.Option("--root", "-r", help="Parent folder; the data set lands in ROOT/NAME.")] = Path(
        "data"),
    mirror: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional on 3.10
        "--mirror", help="Base URL of a copy of the files (default: $GANZOO_DATA_MIRROR, else the publisher).")] = None,
    sha256: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--sha256", help="Expected SHA-256 of the archive (overrides one recorded by an earlier download).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Download (from the first byte) and unpack again even if already there.")] = False,
    keep_archive: Annotated[bool, typer.Option("--keep-archive", help="Keep the archive after unpacking.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
) -> None:
    """Download a standard data set, verify its checksum and unpack it (resumes a broken download)."""
    from ganzoo.data.catalog import lookup
    from ganzoo.data.download import download_dataset

    with user_errors():
        entry = lookup(name)
        result = download_dataset(entry, root, mirror=mirror, sha256=sha256, force=force,
                                  keep_archive=keep_archive, progress=progress, console=err)
        if result.skipped:
            out.print(f"{entry.key} is already in {result.folder} (use --force to download it again)",
                      highlight=False)
        else:
            if result.resumed_from:
                err.print(f"resumed from byte {result.resumed_from}", highlight=False)
            how = {"first download": f"recorded in {result.checksum_file}",
                   "recorded": f"matches {result.checksum_file}",
                   "--sha256": "matches --sha256", "catalog": "matches the catalog"}[result.checksum_source]
            out.print(f"[green]ok[/green]: {entry.key} in {result.folder} (SHA-256 {result.sha256[:16]}..., {how})",
                      highlight=False)
        if entry.dataset:
            out.print(f'read it with: [data] type = "{entry.dataset}", root = "{result.folder.as_posix()}"',
                      highlight=False)


@data.command()
def check(
    directory: Annotated[Path, typer.Argument(help="A data folder (searched recursively).")],
    quick: Annotated[bool, typer.Option("--quick", help="Read headers only (misses truncated files).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Threads decoding images.")] = 4,
) -> None:
    """Per folder: image count, sizes, modes, unreadable files. Exit status 1 if any file is unreadable."""
    from ganzoo.data.check import check_images

    with user_errors():
        report = check_images(directory, quick=quick, workers=workers)
        if as_json:
            out.print_json(json.dumps(report.to_dict()))
        else:
            _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _size(s: tuple[int, int] | None) -> str:
    return f"{s[0]}x{s[1]}" if s else "-"


def _print_report(report) -> None:
    table = Table("Folder", "Images", "Min size", "Max size", "Most common sizes", "Modes", "Unreadable", "Other files",
                  title=f"{report.root}")
    for f in report.folders:
        try:
            name = f.path.relative_to(report.root).as_posix()
        except ValueError:
            name = str(f.path)
        common = ", ".join(f"{_size(s)} ({n})" for s, n in f.common_sizes(3))
        if f.looks_aligned:
            common += " [dim](A|B pairs?)[/dim]"
        modes = ", ".join(f"{m} {n}" for m, n in f.modes.most_common())
        bad = f"[red]{len(f.unreadable)}[/red]" if f.unreadable else "0"
        label = name if name != "." else "(root)"
        if f.empty:
            label += " [yellow](empty)[/yellow]"
        table.add_row(label, str(f.images), _size(f.min_size), _size(f.max_size), common, modes, bad,
                      str(f.other_files))
    out.print(table)
    for path, error in report.unreadable:
        out.print(f"[red]unreadable[/red]: {path}: {error}", highlight=False, soft_wrap=True)
    summary = f"{report.images} images in {len(report.folders)} folders"
    if report.unreadable:
        summary += f", [red]{len(report.unreadable)} unreadable[/red] (training skips them with a warning)"
    if report.empty_folders:
        summary += f", [yellow]{len(report.empty_folders)} empty folder(s)[/yellow]"
    out.print(summary, highlight=False)


def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(data, name="data")
