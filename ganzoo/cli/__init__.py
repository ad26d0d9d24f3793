"""The ``ganzoo`` command line.

Every command module has a ``register_commands(cli)`` function, the signature of the plugin
hook of that name, and this package calls each one on the app. Shared helpers live in
:mod:`ganzoo.cli.console`; command modules import from there, never from this package.
Module-level imports stay light (typer, rich, stdlib): a command loads plugins, and with them
torch, only when it needs them.
"""

from __future__ import annotations

import typer

from ganzoo.cli import components, data, docs, evaluate, export, plugin, train, translate

app = typer.Typer(
    name="ganzoo",
    help="A plugin-based GAN zoo for image-to-image translation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

BUILTIN = (components, train, data, translate, evaluate, export, plugin, docs)
"""The modules of the built-in commands, registered in this order."""

for _module in BUILTIN:
    _module.register_commands(app)


def main() -> None:
    app()
