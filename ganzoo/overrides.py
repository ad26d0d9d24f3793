"""Changes to a recipe made outside its file: ``--set``, ``--unset`` and ``--data``.

A recipe file is written for one data set and one choice of components; the command line
adapts it. Three rules make that work without editing the file:

- **A changed type starts its table afresh.** ``--set data.type=unpaired_folders`` keeps only
  the fields the new type also has (``load_size`` means the same in every folder data set) and
  drops the rest (procedural's ``image_size``), saying which; keys set on the command line are
  applied after, whatever their order. ``--unset KEY.PATH`` removes any key or table.
- **One length.** Setting ``train.iterations`` replaces a file's ``train.epochs``, and the
  other way round.
- **A run is named after its data.** When the command line points the recipe at other data
  (``data.type``, ``data.root``, ``data.dir_a``/``dir_b``, ``--data``), the recipe's name
  (``quickstart``) would name the wrong thing, so the run is named ``METHOD-DATA`` instead
  (``cyclegan-horse2zebra``), unless ``run.name`` is set too.

Values given as text are TOML literals (``1e-4``, ``true``, ``[1, 2]``); a bare word is a string.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganzoo.errors import RecipeError, RecipeIssue

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENGINE_TABLES = ("run", "train")
"""Tables without a ``type``: every other top-level table chooses a component."""
LENGTHS = ("train.iterations", "train.epochs")
DATA_SOURCE = ("data.type", "data.root", "data.dir_a", "data.dir_b")
"""Keys that say which data a run trains on: changing one renames the run."""
FOLDER_DATASET = "unpaired_folders"
"""What ``--data FOLDER`` switches a recipe without data folders (the built-in data) to."""

Overrides = Sequence[str] | Mapping[str, Any] | Sequence["Change"]
"""``["train.iterations=10"]`` (TOML literals, as typed), ``{"train.iterations": 10}`` (values as
they are; nested tables merge) or changes parsed already."""
FieldsOf = Callable[[Mapping[str, Any], str, str], "set[str] | None"]
"""(recipe, table, component name) -> the field names of that component's config, or None if unknown."""


def parse_value(text: str) -> Any:
    """A ``--set`` value as a TOML literal (1e-4, true, [1, 2], "x"); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@dataclass(frozen=True)
class Change:
    key: str
    value: Any
    origin: str

    @property
    def table(self) -> str:
        return self.key.split(".", 1)[0]


@dataclass
class Overridden:
    """The recipe after the changes, where each changed key came from, and what the user should know."""

    data: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_changes(overrides: Overrides, label: str = "--set") -> list[Change]:
    """Checked ``Change``s, numbered as the user gave them (``--set #2``); all syntax errors at once."""
    if not isinstance(overrides, Mapping) and all(isinstance(c, Change) for c in overrides):
        return list(overrides)  # type: ignore[arg-type]  # parsed already
    if isinstance(overrides, Mapping):
        items: Iterable[tuple[str, Any, str]] = ((k, v, f"{label} {k}") for k, v in _flat(overrides).items())
    else:
        items = _split(overrides, label)
    changes, issues = [], []
    for key, value, origin in items:
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            issues.append(RecipeIssue("", f"expected KEY.PATH=VALUE, got {key!r}", origin))
        else:
            changes.append(Change(key, value, origin))
    if issues:
        raise RecipeError(issues)
    return changes


def every_change(overrides: Overrides = (), unset: Sequence[str] = (), data: Any = None) -> list[Change]:
    """Every key the command line touches (``--set``, ``--unset``, ``--data``), for a check of
    which keys may change at all (``ganzoo resume``)."""
    return [*parse_changes(overrides), *(Change(k.strip(), None, f"--unset #{i}") for i, k in enumerate(unset, 1)),
            *([Change("data.root", str(data), "--data")] if data is not None else [])]


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"iterations": 2}}`` -> ``{"train.iterations": 2}``: a nested table merges into
    the recipe's, it does not replace it."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _split(items: Sequence[str], label: str) -> Iterable[tuple[str, Any, str]]:
    for i, item in enumerate(items, 1):
        key, sep, value = item.partition("=")
        if not sep:
            raise RecipeError([RecipeIssue("", f"expected KEY.PATH=VALUE, got {item!r}", f"{label} #{i}")])
        yield key, parse_value(value.strip()), f"{label} #{i}"


def apply_overrides(data: Mapping[str, Any], overrides: Overrides | Sequence[Change] = (),
                    unset: Sequence[str] = (), *, fields_of: FieldsOf | None = None) -> Overridden:
    """Apply ``overrides`` (and remove the ``unset`` keys) by the rules of the module's docstring.

    ``fields_of`` says which fields a component type has, so that a type change keeps the
    shared ones; without it a changed type's table keeps only what the command line sets."""
    changes = parse_changes(overrides)  # type: ignore[arg-type]
    result = Overridden(copy.deepcopy(dict(data)))
    issues: list[RecipeIssue] = []
    _retype(result, changes, fields_of)
    _one_length(result, changes)
    for change in changes:
        *parents, leaf = change.key.split(".")
        node = _table(result.data, parents, change, issues)
        if node is not None:
            node[leaf] = change.value
            result.origins[change.key] = change.origin
    set_keys = {c.key for c in changes}
    for i, key in enumerate(unset, 1):
        origin, key = f"--unset #{i}", key.strip()
        if key in set_keys:
            issues.append(RecipeIssue(key, f"is both set ({result.origins[key]}) and removed", origin))
        elif not _remove(result.data, key):
            issues.append(RecipeIssue(key, "is not in the recipe, nothing to remove", origin))
        else:
            result.origins[key] = origin
    if issues:
        raise RecipeError(issues)
    _rename(result, changes, data.get("data"))
    return result


def _table(data: dict[str, Any], parents: Sequence[str], change: Change,
           issues: list[RecipeIssue]) -> dict[str, Any] | None:
    node = data
    for depth, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: depth + 1])
            issues.append(RecipeIssue(change.key, f"'{where}' is a value, not a table", change.origin))
            return None
        node = child
    return node


def _remove(data: dict[str, Any], key: str) -> bool:
    *parents, leaf = key.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or leaf not in node:
        return False
    del node[leaf]
    return True


def _retype(result: Overridden, changes: Sequence[Change], fields_of: FieldsOf | None) -> None:
    """A table whose ``type`` the changes replace keeps only the fields its new type also has."""
    final_types = {c.table: c for c in changes if c.key.count(".") == 1 and c.key.endswith(".type")}
    for table, change in final_types.items():
        old = result.data.get(table)
        if table in ENGINE_TABLES or not isinstance(old, dict) or old.get("type") == change.value:
            continue
        after = {**result.data, table: {"type": change.value}}
        known = fields_of(after, table, str(change.value)) if fields_of is not None else None
        kept = {k: v for k, v in old.items() if k != "type" and known is not None and k in known}
        dropped = [k for k in old if k != "type" and k not in kept]
        result.data[table] = kept
        if dropped:
            was = f"'{old['type']}'" if "type" in old else "the default"
            result.notes.append(
                f"{change.origin}: {table}.type {was} -> '{change.value}': dropped {', '.join(dropped)} "
                f"(not fields of '{change.value}')" + (f"; kept {', '.join(kept)}" if kept else ""))


def _one_length(result: Overridden, changes: Sequence[Change]) -> None:
    """Setting one run length replaces the other one the file gives."""
    keys = {c.key for c in changes}
    train = result.data.get("train")
    for given, other in (LENGTHS, LENGTHS[::-1]):
        leaf = other.split(".")[1]
        if given in keys and other not in keys and isinstance(train, dict) and leaf in train:
            del train[leaf]


def _rename(result: Overridden, changes: Sequence[Change], before: Any) -> None:
    """Name a run after its data when the changes point the recipe at other data."""
    if "run.name" in {c.key for c in changes}:
        return
    data, method = result.data.get("data"), result.data.get("method")
    before = before if isinstance(before, dict) else {}
    if not isinstance(data, dict) or all(data.get(k.split(".")[1]) == before.get(k.split(".")[1])
                                         for k in DATA_SOURCE):
        return
    label = _data_label(data)
    name = f"{method['type']}-{label}" if isinstance(method, dict) and isinstance(method.get("type"), str) else label
    run = result.data.setdefault("run", {})
    if not isinstance(run, dict) or run.get("name") == name:
        return
    old = run.get("name")
    run["name"] = name
    if old:
        result.notes.append(f"run.name: '{name}', not the recipe's '{old}', as the data changed (set run.name to "
                            "choose)")


def _data_label(data: Mapping[str, Any]) -> str:
    """A short name for the data: the root folder's name, A2B for two folders, else the type."""
    def name(path: Any) -> str:
        return Path(str(path)).expanduser().resolve().name

    if data.get("root"):
        label = name(data["root"])
    elif data.get("dir_a") and data.get("dir_b"):
        label = f"{name(data['dir_a'])}2{name(data['dir_b'])}"
    else:
        label = str(data.get("type", "data"))
    return re.sub(r"[^\w.-]+", "_", label).strip("._") or "data"


def data_folder_changes(data: Mapping[str, Any], folder: Path | str, fields_of: FieldsOf | None) -> list[Change]:
    """``--data FOLDER``: the recipe's data set reads FOLDER (``data.root``); a recipe whose data
    has no folder (the built-in procedural data) switches to ``unpaired_folders``, the CycleGAN
    layout (FOLDER/trainA, trainB, testA, testB), or from the built-in multi-domain data to
    ``domain_folders`` (FOLDER/train/<domain>/, FOLDER/test|val/<domain>/)."""
    table = data.get("data") if isinstance(data.get("data"), dict) else {}
    kind = table.get("type")
    fields = fields_of(data, "data", kind) if fields_of is not None and isinstance(kind, str) else None
    root = Change("data.root", str(folder), "--data")
    if fields is not None and "root" in fields:
        return [root]
    folders = "domain_folders" if kind == "multidomain_procedural" else FOLDER_DATASET  # train/<domain>/ folders
    return [Change("data.type", folders, "--data"), root]
