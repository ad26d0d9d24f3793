"""Write the recipe reference (docs/recipes.md) from the installed components' pydantic configs.

The configs are the single source of truth for hyper-parameters (the recipe validator and
``ganzoo describe`` read them too), so the reference is generated, never written by hand:
every registered component gets a section with its provenance, its docstring, its fields
(type, default, description) and, for methods, its slots. Third-party plugins appear as soon
as they are installed.

    ganzoo docs --out docs/recipes.md           # all loaded plugins
    ganzoo docs --dist ganzoo --out core.md     # only some distributions
    python -m ganzoo.docs_gen --out docs/recipes.md --check   # exit 1 if the file is stale

Only stdlib and pydantic at import time; plugins, and with them torch, load when a reference
is built. The ``ganzoo docs`` command (``ganzoo.cli.docs``) calls :func:`write_and_report`.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

KIND_TITLES = {
    "method": "Methods",
    "generator": "Generators",
    "discriminator": "Discriminators",
    "loss": "Losses",
    "dataset": "Datasets",
    "metric": "Metrics",
    "task_network": "Task networks",
}
"""Sections in reading order: a method first, then what fills its slots."""

COMMAND = "ganzoo docs --out docs/recipes.md"


# ---------------------------------------------------------------- config tables


def type_name(annotation: Any) -> str:
    """A readable type: ``int``, ``float | None``, ``Literal['adam', 'adamw']``, ``list[str]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin).replace("typing.", ""))
        return f"{name}[{', '.join('...' if a is Ellipsis else type_name(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def config_rows(model: type[BaseModel], prefix: str = "", instance: BaseModel | None = None) -> list[tuple[str, ...]]:
    """(field, type, default, description) of every field, nested models flattened to dotted
    paths (``optimizer.lr``), as a recipe file writes them.

    A nested model's defaults come from the *outer* field's default instance: a method that sets
    ``optimizer = OptimizerConfig(weight_decay=1e-5)`` documents 1e-5, not the class default.
    """
    rows: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        has_default = info.default is not PydanticUndefined or info.default_factory is not None
        if instance is not None:
            value, has_default = getattr(instance, name), True
        elif has_default:
            value = info.get_default(call_default_factory=True)
        else:
            value = None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested = value if isinstance(value, BaseModel) else None
            rows.extend(config_rows(annotation, f"{prefix}{name}.", nested))
            continue
        default = _literal(value) if has_default else "(required)"
        rows.append((prefix + (info.alias or name), type_name(annotation), default, info.description or ""))
    return rows


def _literal(value: Any) -> str:
    """A default as a recipe file would write it (TOML-ish), which is what a reader copies."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _cell(text: Any) -> str:
    """Escape a value for a markdown table cell (pipes split cells, newlines end rows)."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], code_columns: Sequence[int] = ()) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"`{_cell(c)}`" if i in code_columns and str(c) else _cell(c) for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------- the document


def anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}".replace("_", "-").lower()


def _component_section(spec: Any) -> list[str]:
    lines = [f'<a id="{anchor(spec.kind, spec.name)}"></a>', "", f"### `{spec.name}`", ""]
    lines += [f"*{spec.kind}* from **{spec.plugin.label}** · class `{spec.cls.__module__}.{spec.cls.__qualname__}`", ""]
    doc = inspect.getdoc(spec.cls) or ""
    own = spec.cls.__dict__.get("__doc__")  # a registration summary overrides an inherited docstring
    text = doc if own else spec.summary
    if spec.summary and spec.summary not in text.replace("\n", " "):
        text = f"{spec.summary}\n\n{text}" if text else spec.summary
    if text:
        lines += [text.strip(), ""]
    rows = config_rows(spec.config)
    if rows:
        lines += _table(["Field", "Type", "Default", "Description"], rows, code_columns=(0, 2)) + [""]
    else:
        lines += ["No options.", ""]
    slots = getattr(spec.cls, "slots", None) or {}
    if spec.kind == "method" and slots:
        slot_rows = []
        for slot_name, slot in slots.items():
            preset = ", ".join(f"{k} = {_literal(v)}" for k, v in slot.defaults.items())
            default = f"[`{slot.default}`](#{anchor(slot.kind, slot.default)})"
            slot_rows.append((f"[{slot_name}]", slot.kind, default, preset, slot.help))
        lines += ["Slots (one table each in the recipe file):", ""]
        lines += _table(["Table", "Kind", "Default", "Preset", "Meaning"], slot_rows, code_columns=(0, 3)) + [""]
    return lines


def _sections_reference() -> list[str]:
    from ganzoo.recipe import SECTIONS

    lines = ["## Recipe files", ""]
    lines += [
        "A recipe file has a `[run]` and a `[train]` table for the engine, a `[method]` table choosing "
        "the training algorithm (`type`) and setting its options, a `[data]` table choosing the dataset, "
        "and one table per slot of the chosen method, each choosing a component (`type`) and setting its "
        "options. Any value can be overridden on the command line with `--set TABLE.KEY=VALUE`.",
        "",
    ]
    for name, model in SECTIONS.items():
        lines += [f"### `[{name}]`", ""]
        doc = inspect.getdoc(model) or ""
        if doc:
            lines += [doc, ""]
        lines += _table(["Field", "Type", "Default", "Description"], config_rows(model), code_columns=(0, 2)) + [""]
    return lines


def generate(plugin_set: Any | None = None, dists: Sequence[str] | None = None) -> str:
    """The whole reference as markdown, for the plugins in ``plugin_set`` (default: load them)."""
    if plugin_set is None:
        from ganzoo.plugins import load_plugins

        plugin_set = load_plugins()
    wanted = set(dists) if dists else None
    specs = [s for s in plugin_set.registry if wanted is None or s.plugin.dist in wanted]
    loaded: dict[str, tuple[str | None, list[str]]] = {}
    for p in plugin_set.plugins:
        if p.status == "loaded" and (wanted is None or p.dist in wanted):
            loaded.setdefault(p.dist or p.name, (p.version, []))[1].append(p.name)
    provenance = "; ".join(f"{dist} {version or '(no version)'} (plugins: {', '.join(names)})"
                           for dist, (version, names) in sorted(loaded.items()))

    lines = [
        "# Recipe reference",
        "",
        f"<!-- Generated by `{COMMAND}` from the pydantic configs of the installed components. "
        "Do not edit by hand: change the config's Field descriptions and regenerate. -->",
        "",
        "Every option of every installed component, with its type, default and meaning; generated "
        f"from the components' config models by `{COMMAND}`, so it is exactly what the recipe "
        "validator accepts. `ganzoo describe KIND NAME` prints the same for one component.",
        "",
        f"Generated from: {provenance}.",
        "",
    ]
    by_kind: dict[str, list[Any]] = {}
    for spec in specs:
        by_kind.setdefault(spec.kind, []).append(spec)
    kinds = [k for k in KIND_TITLES if k in by_kind] + sorted(k for k in by_kind if k not in KIND_TITLES)
    lines += ["## Contents", "", "- [Recipe files](#recipe-files)"]
    for kind in kinds:
        links = ", ".join(f"[`{s.name}`](#{anchor(kind, s.name)})" for s in by_kind[kind])
        lines.append(f"- {KIND_TITLES.get(kind, kind.capitalize())}: {links}")
    lines.append("")
    lines += _sections_reference()
    for kind in kinds:
        lines += [f"## {KIND_TITLES.get(kind, kind.capitalize())}", ""]
        for spec in by_kind[kind]:
            lines += _component_section(spec)
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path | str, dists: Sequence[str] | None = None, *, check: bool = False) -> bool:
    """Write (or with ``check``, compare) the reference; returns whether the file was up to date."""
    from ganzoo.plugins import load_plugins

    plugin_set = load_plugins()
    for p in plugin_set.failed:
        print(f"warning: plugin {p.label} failed to load and is left out: {p.error}", file=sys.stderr)
    text = generate(plugin_set, dists)
    path = Path(out)
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        return current == text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return current == text


def write_and_report(out: Path | str, dists: Sequence[str] | None = None, *, check: bool = False) -> int:
    """:func:`write`, then one line saying what happened; returns the exit status (1: ``out`` is
    stale under ``check``). ``ganzoo docs`` and ``python -m ganzoo.docs_gen`` both run this."""
    fresh = write(out, dists, check=check)
    if check and not fresh:
        print(f"{out} is out of date; regenerate it with: {COMMAND}", file=sys.stderr)
        return 1
    print(f"{out} is up to date" if check else f"wrote {out}")
    return 0


# ---------------------------------------------------------------- python -m ganzoo.docs_gen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganzoo.docs_gen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", "-o", type=Path, default=Path("docs/recipes.md"), help="markdown file to write")
    parser.add_argument("--dist", action="append", help="only components of this distribution (repeatable)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if OUT is not up to date")
    args = parser.parse_args(argv)
    return write_and_report(args.out, args.dist, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
