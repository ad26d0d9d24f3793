"""Errors a user can cause and fix, each printed as one readable message, never a traceback.

Everything the CLI reports without a traceback derives from :class:`GanzooError`; anything
else that escapes is a bug in ganzoo or a plugin, and is shown with its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class GanzooError(Exception):
    """A failure the user can act on; ``str(err)`` is the whole message."""


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 1) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    matches = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


class UnknownComponentError(GanzooError, KeyError):
    def __init__(self, kind: str, name: str, known: Sequence[str]):
        self.kind, self.name, self.known = kind, name, list(known)
        hint = did_you_mean(name, known)
        if not known:
            hint = f"; no {kind} is registered (is a plugin missing or broken? see: ganzoo plugins)"
        super().__init__(f"unknown {kind} '{name}'{hint} (see: ganzoo list-components {kind})")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateComponentError(GanzooError):
    """Two plugins registered the same (kind, name); the message names both."""


class PluginError(GanzooError):
    """A plugin failed to load or register (raised only in strict mode)."""


@dataclass(frozen=True)
class RecipeIssue:
    """One problem in a recipe, located by the dotted path a user would write."""

    path: str
    message: str
    origin: str | None = None  # e.g. "--set #1"; None means the recipe file itself

    def render(self, source: Path | str | None) -> str:
        where = self.origin or (str(source) if source else "<recipe>")
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RecipeError(GanzooError):
    """Every problem found in a recipe, reported together."""

    def __init__(self, issues: Sequence[RecipeIssue], source: Path | str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__("\n".join(i.render(source) for i in self.issues))


class DataError(GanzooError):
    """Data is missing, empty or unreadable."""


class CheckpointError(GanzooError):
    """A checkpoint is missing, corrupt or does not fit the recipe."""


class TrainingError(GanzooError):
    """Training cannot go on (a non-finite loss, out of memory); the last good checkpoint is kept."""
