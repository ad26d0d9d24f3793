"""What the commands share: the two consoles, user errors as messages, the plugin set, option
parsing and the progress bar.

Command modules import from here, never from the ``ganzoo.cli`` package, which imports them.
Module-level imports stay light (typer, rich, stdlib): torch loads with the plugins, when a
command needs them.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ganzoo.errors import GanzooError

UNBOUNDED = 100_000
"""The width of a console that writes to a file or a pipe: lines are as long as their content."""


def _console(stderr: bool = False) -> Console:
    """A console that, writing to a file or a pipe, never cuts or wraps a table at 80 columns
    (rich's width when it cannot ask a terminal): the width is then unbounded unless $COLUMNS
    sets one."""
    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = UNBOUNDED
    return console


out = _console()
err = _console(stderr=True)


class Choice(str, enum.Enum):
    """The values an option takes: typer lists them in ``--help`` and offers them to shell
    completion. A member is a ``str`` equal to its value (``direction == "a2b"``, f-strings,
    JSON), so commands pass it on as the string it stands for."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Direction(Choice):
    a2b = "a2b"
    b2a = "b2a"


class Precision(Choice):
    """The runtime's precisions (``ganzoo.engine.runtime.PRECISIONS``; a test keeps them equal)."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    auto = "auto"


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print user errors as messages (no traceback) and exit with status 2."""
    try:
        yield
    except GanzooError as exc:
        for line in str(exc).splitlines():
            err.print(f"[bold red]error:[/bold red] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def warning(message: str) -> None:
    """One yellow line on stderr."""
    err.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


def plugins(warn: bool = True) -> Any:
    """The process-wide :class:`ganzoo.plugins.PluginSet` (loaded on first use, which imports
    torch), with one warning line per plugin that failed to load."""
    from ganzoo.plugins import get_plugins

    loaded = get_plugins()
    if warn:
        for p in loaded.failed:
            warning(f"plugin {p.label} failed to load: {p.error or ''}")
    return loaded


def runtime_options(device: str, precision: str) -> Any:
    """``--device`` and ``--precision`` resolved (the runtime's one vocabulary), so a wrong value
    fails, naming its option, before any model is loaded. Returns the device."""
    from ganzoo.engine.runtime import resolve_device, resolve_precision

    dev = resolve_device(device)
    try:
        resolve_precision(precision, dev)
    except GanzooError as exc:
        raise GanzooError(f"--precision: {exc}") from None
    return dev


def parse_options(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``["ngf=8", "norm='batch'"]`` -> ``{"ngf": 8, "norm": "batch"}`` (values are TOML literals,
    a bare word is a string), as ``--set`` parses them."""
    from ganzoo.overrides import parse_value

    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GanzooError(f"{what}: expected KEY=VALUE, got {item!r}")
        values[key.strip()] = parse_value(value.strip())
    return values


def nested_options(items: Sequence[str] | None, what: str) -> dict[str, dict[str, Any]]:
    """``["fid.sqrt_method=eigh"]`` -> ``{"fid": {"sqrt_method": "eigh"}}``."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(items, what).items():
        head, dot, field = key.partition(".")
        if not dot or not field:
            raise GanzooError(f"{what}: expected METRIC.FIELD=VALUE, got {key!r}")
        nested.setdefault(head, {})[field] = value
    return nested


def progress(console: Any, enabled: bool = True) -> Any:
    """A rich progress bar counting images, with the measured images per second."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} img/s" if speed else "", style="cyan")

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                    TimeRemainingColumn(), console=console, disable=not enabled)
