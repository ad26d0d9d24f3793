"""How the command line is put together: the ganzoo.cli package has no import cycle, and a
built-in command that needs no plugin starts without torch."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ganzoo

PACKAGE = Path(ganzoo.__file__).resolve().parent
CLI = "ganzoo.cli"


# ---------------------------------------------------------------- no import cycle


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the ganzoo package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ganzoo modules ``name`` imports anywhere, inside functions too (``ast.walk``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from ganzoo.cli import console` imports the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def test_command_modules_import_helpers_from_console_not_from_the_package():
    modules = _modules()
    offenders = sorted(name for name, path in modules.items()
                       if name.startswith(f"{CLI}.") and name != f"{CLI}.__main__"
                       and CLI in _imports(name, path, modules))
    assert not offenders, f"these import the ganzoo.cli package (use ganzoo.cli.console): {offenders}"


def test_the_cli_package_has_no_import_cycle():
    """Counting imports inside functions, which hide a cycle until a command runs."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert f"{CLI}.components" in graph[CLI] and f"{CLI}.console" in graph[f"{CLI}.components"], "parser broken"

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in sorted(graph[node]):
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    cycles = [cycle for name in graph if name == CLI or name.startswith(f"{CLI}.")
              if (cycle := cycle_from(name))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


# ---------------------------------------------------------------- no torch for a built-in command


NO_TORCH = """\
import sys
from ganzoo.cli import main
sys.argv = ["ganzoo", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, f"exit status {exc.code}"
loaded = sorted(m for m in ("torch", "ganzoo.plugins", "ganzoo.registry") if m in sys.modules)
assert not loaded, f"imported {loaded}"
"""


@pytest.mark.parametrize("args", [
    ["plugin", "new", "--help"],
    ["plugin", "new", "demo", "--dir", "{tmp}"],
    ["data", "list"],
    ["run", "--help"],
])
def test_a_builtin_command_runs_without_torch(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", NO_TORCH, *(a.format(tmp=tmp_path) for a in args)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
