"""The command line's options as a user meets them: one meaning per short flag across all
commands, choices listed in help, flags shown as flags, ``--json`` on every listing, ``validate
--show`` that is TOML, tables whole when piped, and ``export``'s format from the file name."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from ganzoo.cli import app

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LISTINGS = (("list-components",), ("describe",), ("plugins",), ("data", "list"), ("data", "check"), ("recipes",))
"""Every command that lists things: each takes --json."""


def all_commands() -> dict[tuple[str, ...], object]:
    """Path of names -> click command, for every command, subcommands and plugins' included."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    found = {}

    def walk(command, path):
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*path, name))
        else:
            found[path] = command

    walk(root, ())
    return found


def options(command) -> list:
    return [p for p in command.params if p.param_type_name == "option"]


def test_every_short_flag_has_one_meaning_across_commands():
    meanings: dict[str, dict[str, list[str]]] = {}
    for path, command in all_commands().items():
        for option in options(command):
            long = next((o for o in option.opts if o.startswith("--")), option.opts[0])
            for short in (o for o in [*option.opts, *option.secondary_opts] if not o.startswith("--")):
                meanings.setdefault(short, {}).setdefault(long, []).append(" ".join(path))
    clashes = {short: longs for short, longs in meanings.items() if len(longs) > 1}
    assert not clashes, f"short flags with several meanings: {clashes}"
    assert meanings["-o"].keys() == {"--out"} and meanings["-d"].keys() == {"--direction"}


def help_text(*args: str, ganzoo_cli) -> str:
    result = ganzoo_cli(*args, "--help", env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_help_shows_flags_as_flags_and_lists_choices(ganzoo_cli):
    for path in [(), *all_commands()]:
        text = help_text(*path, ganzoo_cli=ganzoo_cli)
        assert "<bool>" not in text, f"ganzoo {' '.join(path)} --help shows a <bool> type for a flag"
    assert "a2b|b2a" in help_text("translate", ganzoo_cli=ganzoo_cli)
    assert "fp32|bf16|fp16|auto" in help_text("translate", ganzoo_cli=ganzoo_cli)
    assert "a2b|b2a|both" in help_text("evaluate", ganzoo_cli=ganzoo_cli)
    assert "torchscript|onnx" in help_text("export", ganzoo_cli=ganzoo_cli)
    result = ganzoo_cli("translate", "run", "x.png", "--out", "o", "--direction", "a2c")
    assert result.exit_code == 2 and "a2c" in result.output


def test_precision_choices_are_the_runtimes():
    from ganzoo.cli.console import Precision
    from ganzoo.engine.runtime import PRECISIONS

    assert {p.value for p in Precision} == set(PRECISIONS)
    assert f"{Precision.fp16}" == "fp16" and Precision.fp16 == "fp16" and json.dumps(Precision.fp16) == '"fp16"'


REPORTER = """
import typer
import ganzoo

def report(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    \"\"\"A plugin's listing.\"\"\"

@ganzoo.hookimpl
def register_commands(cli):
    cli.command("report")(report)
"""


def test_plugin_commands_get_plain_flags_too(ganzoo_cli, fake_distribution):
    fake_distribution("ganzoo-reporter", {"reporter_plugin": REPORTER}, {"reporter": "reporter_plugin"})
    text = help_text("report", ganzoo_cli=ganzoo_cli)
    assert "--json" in text and "<bool>" not in text


@pytest.mark.parametrize("path", LISTINGS, ids=" ".join)
def test_every_listing_takes_json(path):
    command = all_commands()[path]
    assert any("--json" in o.opts for o in options(command)), f"ganzoo {' '.join(path)} has no --json"


def test_validate_show_prints_the_recipe_as_toml(ganzoo_cli, tiny_recipe):
    result = ganzoo_cli("validate", tiny_recipe, "--show", "-s", "train.iterations=7")
    assert result.exit_code == 0, result.output
    recipe = tomllib.loads(result.stdout)  # stdout is the TOML alone, table headers included
    assert recipe["train"]["iterations"] == 7 and recipe["run"]["name"] == "tiny"
    assert "[run]" in result.stdout and "ok:" in result.stderr


def test_tables_are_not_cut_when_piped(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-m", "ganzoo.cli", "list-components", "metric"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    # one row per component, each summary whole on its line
    line = next(line for line in result.stdout.splitlines() if " ssim " in line)
    assert "per image, averaged (higher is better)." in line


@pytest.mark.parametrize(("name", "fmt", "expected"), [
    ("g.pt", None, "torchscript"), ("g.ts", None, "torchscript"), ("g.ONNX", None, "onnx"),
    ("g.pt", "onnx", "onnx"), ("g", "torchscript", "torchscript"),
])
def test_export_format_follows_the_suffix_unless_given(name, fmt, expected, tmp_path):
    from ganzoo.cli.export import ExportFormat, export_format

    assert export_format(tmp_path / name, None if fmt is None else ExportFormat(fmt)) == expected


def test_export_unknown_suffix_is_an_error_before_loading(ganzoo_cli, tmp_path):
    result = ganzoo_cli("export", tmp_path / "no-run", "--out", tmp_path / "g.xyz")
    assert result.exit_code == 2
    assert "cannot tell the format from the suffix '.xyz'" in result.stderr and "--format" in result.stderr
    result = ganzoo_cli("export", tmp_path / "no-run", "--out", tmp_path / "g")
    assert result.exit_code == 2 and "from a name without a suffix (known: .pt (torchscript)" in result.stderr


def test_export_pt_writes_torchscript(ganzoo_cli, tiny_run, tmp_path):
    result = ganzoo_cli("export", tiny_run, "--size", "16", "--out", tmp_path / "g.pt")
    assert result.exit_code == 0, result.output
    assert "as torchscript" in result.stderr and "max abs difference" in result.stdout
    import torch

    assert torch.jit.load(str(tmp_path / "g.pt"))(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)
