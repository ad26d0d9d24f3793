"""Helpers shared by the inference-side commands (translate, evaluate, export)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganzoo.errors import GanzooError


def parse_options(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``["ngf=8", "norm='batch'"]`` -> ``{"ngf": 8, "norm": "batch"}`` (values are TOML literals,
    a bare word is a string), as ``--set`` parses them."""
    from ganzoo.recipe import parse_value

    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GanzooError(f"{what}: expected KEY=VALUE, got {item!r}")
        values[key.strip()] = parse_value(value.strip())
    return values


def nested_options(items: Sequence[str] | None, what: str) -> dict[str, dict[str, Any]]:
    """``["fid.sqrt_method=eigh"]`` -> ``{"fid": {"sqrt_method": "eigh"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(items, what).items():
        head, dot, field = key.partition(".")
        if not dot or not field:
            raise GanzooError(f"{what}: expected METRIC.FIELD=VALUE, got {key!r}")
        out.setdefault(head, {})[field] = value
    return out


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
