"""The ``ganzoo`` command line. Plugins load lazily, so ``--help`` works even when one is broken."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganzoo.errors import GanzooError, did_you_mean

app = typer.Typer(
    name="ganzoo",
    help="A plugin-based GAN zoo for image-to-image translation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console()
err = Console(stderr=True)

SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here on 3.10
    typer.Option("--set", "-s", help="Override a recipe value: KEY.PATH=VALUE (VALUE is a TOML literal)."),
]


@contextlib.contextmanager
def user_errors():
    """Print user errors as messages (no traceback) and exit with status 2."""
    try:
        yield
    except GanzooError as exc:
        for line in str(exc).splitlines():
            err.print(f"[bold red]error:[/bold red] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def plugins(warn: bool = True):
    from ganzoo.plugins import get_plugins

    loaded = get_plugins()
    if warn:
        for p in loaded.failed:
            err.print(f"[yellow]warning:[/yellow] plugin {escape(p.label)} failed to load: {escape(p.error or '')}",
                      highlight=False, soft_wrap=True)
    return loaded


# ---------------------------------------------------------------- discovery


@app.command("list-components")
def list_components(
    kind: Annotated[Optional[str], typer.Argument(help="generator, discriminator, loss, method, dataset, metric")] = None,  # noqa: UP045,E501
    filter: Annotated[str, typer.Option("--filter", "-f", help="Glob on the name, e.g. '*resnet*'.")] = "*",
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


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="Component kind.")],
    name: Annotated[str, typer.Argument(help="Component name.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON schema of the config.")] = False,
) -> None:
    """Show a component's config fields: type, default and meaning (and a recipe's slots)."""
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


@app.command("plugins")
def plugins_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show discovered plugins, their versions and status (and why one failed)."""
    loaded = plugins(warn=False)
    if as_json:
        out.print_json(json.dumps([p.__dict__ for p in loaded.plugins]))
        return
    table = Table("Plugin", "Distribution", "Version", "Components", "Status")
    for p in loaded.plugins:
        status = {"loaded": "[green]loaded[/green]", "disabled": "[dim]disabled[/dim]"}.get(
            p.status, f"[red]failed[/red]: {escape(p.error or '')}")
        table.add_row(p.name, p.dist or "", p.version or "", str(p.components), status)
    out.print(table)


# ---------------------------------------------------------------- recipes and runs


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML file.")],
    set_: SetOption = None,
    show: Annotated[bool, typer.Option("--show", help="Print the fully resolved recipe.")] = False,
) -> None:
    """Check a recipe (and that its data is there) without training."""
    from ganzoo.recipe import load_recipe

    with user_errors():
        resolved = load_recipe(recipe, set_ or [], plugins().registry)
        if show:
            out.print(resolved.to_toml(), highlight=False)
        table = Table("Table", "Kind", "Component", "Plugin")
        for comp in [resolved.method, resolved.data, *resolved.slots.values()]:
            table.add_row(comp.slot, comp.spec.kind, comp.spec.name, comp.spec.plugin.label)
        out.print(table)
        length = (f"{resolved.train.iterations} iterations" if resolved.train.iterations
                  else f"{resolved.train.epochs} epochs")
        out.print(f"[green]ok[/green]: {recipe} ({length}, batch {resolved.train.batch_size})")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML file.")],
    set_: SetOption = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default: run.out_dir/NAME).")] = None,  # noqa: UP045,E501
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in its directory from its latest checkpoint.")] = False,  # noqa: E501
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
) -> None:
    """Train a recipe."""
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    with user_errors():
        resolved = load_recipe(recipe, set_ or [], plugins().registry)
        trainer = Trainer(resolved, run_dir=out_dir, resume=resume, console=err, show_progress=progress)
        if trainer.is_main:
            err.print(f"run directory: {trainer.run_dir}  device: {trainer.device}", highlight=False)
        result = trainer.fit()
        if trainer.is_main:  # under torchrun, one report, not one per rank
            _report(result)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holds recipe.toml and checkpoints/).")],
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Continue an interrupted run from its latest checkpoint, with the recipe it was started with."""
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    with user_errors():
        if not (run_dir / "recipe.toml").is_file():
            raise GanzooError(f"{run_dir}: not a run directory (no recipe.toml)")
        resolved = load_recipe(run_dir / "recipe.toml", [], plugins().registry)
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


from ganzoo.commands import data as _data_commands  # noqa: E402 - registered last, on purpose

app.add_typer(_data_commands.app, name="data")

from ganzoo.commands import evaluate as _evaluate_command  # noqa: E402
from ganzoo.commands import export as _export_command  # noqa: E402
from ganzoo.commands import translate as _translate_command  # noqa: E402

_translate_command.register(app)
_evaluate_command.register(app)
_export_command.register(app)

from ganzoo import docs_gen as _docs_command  # noqa: E402
from ganzoo.commands import plugin as _plugin_command  # noqa: E402

_plugin_command.register(app)
_docs_command.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
