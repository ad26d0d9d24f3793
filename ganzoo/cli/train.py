"""``ganzoo validate``, ``ganzoo run`` and ``ganzoo resume``: check a recipe file, train it, continue a run."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ganzoo.cli.console import err, out, plugins, user_errors, warning
from ganzoo.errors import GanzooError

SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here on 3.10
    typer.Option("--set", "-s", help="Override a recipe value: KEY.PATH=VALUE (VALUE is a TOML literal). Setting "
                                     "a table's type keeps only the fields the new type has."),
]
UnsetOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--unset", help="Remove a recipe key or table: KEY.PATH (it takes its default).",
                 show_default=False),
]
DataOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--data", help="Train on this folder: sets data.root, and a recipe on the built-in data switches "
                                "to unpaired_folders (FOLDER/trainA, trainB, testA, testB).", show_default=False),
]


def _load(recipe: Path, set_: list[str] | None, unset: list[str] | None, data: Path | None) -> Any:
    """The resolved recipe, with a note line for each thing the command line changed beyond a value."""
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(recipe, set_ or [], plugins().registry, unset=unset or [], data=data)
    for note in resolved.notes if os.environ.get("RANK", "0") == "0" else ():  # once under torchrun
        err.print(f"[cyan]note:[/cyan] {escape(note)}", highlight=False, soft_wrap=True)
    return resolved


def validate(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML file, or a recipe's name (see: ganzoo recipes).")],
    set_: SetOption = None,
    unset: UnsetOption = None,
    data: DataOption = None,
    show: Annotated[bool, typer.Option("--show", help="Print the resolved recipe (TOML) on stdout.")] = False,
) -> None:
    """Check a recipe (and that its data is there) without training."""
    with user_errors():
        resolved = _load(recipe, set_, unset, data)
        if show:  # the TOML alone on stdout, verbatim (rich would read [run] as markup); the rest on stderr
            typer.echo(resolved.to_toml())
        report = err if show else out
        table = Table("Table", "Kind", "Component", "Plugin")
        for comp in [resolved.method, resolved.data, *resolved.slots.values()]:
            table.add_row(comp.slot, comp.spec.kind, comp.spec.name, comp.spec.plugin.label)
        report.print(table)
        for problem in resolved.warnings:
            warning(problem)
        length = (f"{resolved.train.iterations} iterations" if resolved.train.iterations
                  else f"{resolved.train.epochs} epochs")
        report.print(f"[green]ok[/green]: {escape(str(recipe))} ({length}, batch {resolved.train.batch_size}, run "
                     f"'{escape(resolved.name)}')", highlight=False, soft_wrap=True)


def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML file, or a recipe's name (see: ganzoo recipes).")],
    set_: SetOption = None,
    unset: UnsetOption = None,
    data: DataOption = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default: run.out_dir/NAME).")] = None,  # noqa: UP045,E501
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in its directory from its latest checkpoint.")] = False,  # noqa: E501
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in a run directory that holds a run (removes its checkpoints, samples and logs).")] = False,  # noqa: E501
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
) -> None:
    """Train a recipe. A run directory that already holds a run is refused unless --resume or --overwrite."""
    from ganzoo.engine.trainer import Trainer

    with user_errors():
        if resume and overwrite:
            raise GanzooError("--resume continues the run in its directory and --overwrite starts it over: give one")
        resolved = _load(recipe, set_, unset, data)
        trainer = Trainer(resolved, run_dir=out_dir, resume=resume, overwrite=overwrite, console=err,
                          show_progress=progress)
        if trainer.is_main:
            err.print(f"run directory: {trainer.run_dir}  device: {trainer.device}", highlight=False)
        result = trainer.fit()
        if trainer.is_main:  # under torchrun, one report, not one per rank
            _report(result)


def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holds recipe.toml and checkpoints/).")],
    set_: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--set", "-s", help="Change how long the run goes (train.iterations=N extends a finished run) "
                                         "or how it reports: KEY.PATH=VALUE; other keys are refused."),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Continue a run from its latest checkpoint, with the recipe it was started with.

    With --set train.iterations=N a finished run trains on to step N; the learning rate then
    follows the schedule of an N-iteration run from the current step."""
    from ganzoo.engine.checkpoint import resolve_checkpoint
    from ganzoo.engine.config import check_resumable
    from ganzoo.engine.trainer import Trainer
    from ganzoo.errors import CheckpointError, RecipeError
    from ganzoo.overrides import parse_changes
    from ganzoo.recipe import load_recipe

    with user_errors():
        try:
            changes = parse_changes(set_ or [])
            check_resumable(changes, run_dir)
        except RecipeError as exc:
            raise RecipeError(exc.issues, "ganzoo resume") from None
        source = run_dir / "recipe.toml"
        if not source.is_file():  # every checkpoint carries the recipe it was trained with
            with contextlib.suppress(CheckpointError):
                source = resolve_checkpoint(run_dir) / "recipe.toml"
            if not source.is_file():
                raise GanzooError(f"{run_dir}: not a run directory (no recipe.toml, nor a checkpoint holding one)")
            err.print(f"{run_dir / 'recipe.toml'} is missing; using the recipe saved in {source.parent}",
                      highlight=False)
        resolved = load_recipe(source, changes, plugins().registry)
        trainer = Trainer(resolved, run_dir=run_dir, resume=True, console=err, show_progress=progress)
        result = trainer.fit()
        if trainer.is_main:
            _report(result)


def _report(result) -> None:
    if result.evaluations:
        table = Table("Step", *[k.removeprefix("eval/") for k in result.evaluations[-1] if k != "step"],
                      title="Evaluation on the paired test split")
        for ev in result.evaluations:
            table.add_row(str(ev["step"]), *[f"{v:.3f}" for k, v in ev.items() if k != "step"])
        out.print(table)
    state = "stopped" if result.stopped_early else "finished"
    out.print(f"{state} at step {result.step} in {result.seconds:.1f} s; outputs in {result.run_dir}",
              highlight=False)
    if result.stop_signal is not None:  # saved, but not finished: 128 + the signal, as a shell reports it
        raise typer.Exit(128 + int(result.stop_signal))


def register_commands(cli: typer.Typer) -> None:
    cli.command("validate")(validate)
    cli.command("run")(run)
    cli.command("resume")(resume)
