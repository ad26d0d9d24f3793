"""The ``ganzoo`` command line.

One way to add commands, for ganzoo and plugins alike: ``register_commands(cli)`` adds them to
a typer app. Every built-in command module has that function and this package calls each one
on the app; a plugin implements the hook of that name (:mod:`ganzoo.hookspecs`), and its
commands join the app when first needed (:class:`Commands`). Shared helpers live in
:mod:`ganzoo.cli.console`; command modules import from there, never from this package.
Module-level imports stay light (typer, rich, stdlib): plugins, and with them torch, load only
for a command that needs them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ganzoo.cli import (
    bench,
    components,
    data,
    docs,
    doctor,
    evaluate,
    export,
    plugin,
    pretrained,
    recipes,
    train,
    translate,
    weights,
)
from ganzoo.cli.console import plugins, user_errors, warning
from ganzoo.errors import PluginError

PLUGIN_PANEL = "Commands from plugins"


class Commands(TyperGroup):
    """The top-level group: the built-in commands, and the plugins' commands added on first need,
    which is a name that is not built in, or the list of all (``ganzoo --help``, no arguments).
    So a built-in command never loads the plugins for their commands."""

    _plugins_added = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_added:
            self.add_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_flags(command, ctx)
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        self.add_plugin_commands()
        return super().list_commands(ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.add_plugin_commands()  # before the first line of help, so that a strict-mode error stands alone
        plain_flags(self, ctx)
        super().format_help(ctx, formatter)

    def add_plugin_commands(self) -> None:
        """Load the plugins (warning about those that fail) and add their commands; a plugin
        command may not replace a built-in one. In strict mode a failure ends the command."""
        if self._plugins_added:
            return
        self._plugins_added = True
        from ganzoo.plugins import strict_mode

        with user_errors():
            loaded = plugins()
            for info in loaded.plugins:
                for name in info.commands:
                    if name in self.commands:
                        problem = f"plugin {info.label}: command '{name}' is not added, ganzoo has one of that name"
                        if strict_mode():
                            raise PluginError(problem)
                        warning(problem)
                        continue
                    command = loaded.commands[name]
                    if not getattr(command, "rich_help_panel", None):  # typer's unset default is falsy
                        command.rich_help_panel = PLUGIN_PANEL
                    self.add_command(command, name)


def plain_flags(command: Any, ctx: Any) -> None:
    """Show flags as flags: typer's help gives every on/off option (``--json``, ``--help``) a
    ``<bool>`` type column, as if it took a value. Applied to a command, its help option and,
    for a group (``ganzoo data``), its subcommands, plugins' commands included."""
    params = [*command.params, command.get_help_option(ctx)]
    for param in params:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        plain_flags(sub, ctx)


app = typer.Typer(
    name="ganzoo",
    cls=Commands,
    help="A plugin-based GAN zoo for image-to-image translation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _show_version(value: bool) -> None:
    if value:
        from ganzoo import __version__

        typer.echo(f"ganzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_show_version, is_eager=True,
                                          help="Print ganzoo's version and exit.")] = False,
) -> None:
    """A plugin-based GAN zoo for image-to-image translation."""


BUILTIN = (components, recipes, train, data, translate, evaluate, export, bench, doctor, plugin, docs, weights,
           pretrained)
"""The modules of the built-in commands, registered in this order."""

for _module in BUILTIN:
    _module.register_commands(app)


def main() -> None:
    app()
