"""How the command line is put together: the ganzoo.cli package has no import cycle, a built-in
command that needs no plugin starts without torch, and plugins add commands through the
register_commands hook, loaded only when needed and each in isolation."""

from __future__ import annotations

import ast
import json
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


# ---------------------------------------------------------------- the register_commands hook


HELLO = '''
import typer

import ganzoo

greet = typer.Typer(help="Greetings, as a group.")


def hello(name: str = typer.Option("world", help="Whom to greet.")) -> None:
    """Say hello from a plugin."""
    print(f"hello {name}")


@greet.command()
def twice(name: str) -> None:
    print(f"hello {name}, hello {name}")


@ganzoo.hookimpl
def register_commands(cli):
    cli.command("hello")(hello)
    cli.add_typer(greet, name="greet")
'''

RAISES = '''
import ganzoo
from ganzoo_networks import ResnetGenerator, ResnetGeneratorConfig


@ganzoo.hookimpl
def register_components(registrar):
    registrar.generator("flaky_gen", ResnetGenerator, config=ResnetGeneratorConfig)


@ganzoo.hookimpl
def register_commands(cli):
    cli.command("flaky")(print)
    raise RuntimeError("no commands today")
'''

WARNING = "plugin flaky (ganzoo-flaky 1.0) failed to load: register_commands: RuntimeError: no commands today"


def test_a_plugin_adds_commands_through_the_hook(ganzoo_cli, fake_distribution):
    fake_distribution("ganzoo-hello", {"hello_plugin": HELLO}, {"hello": "hello_plugin"})
    result = ganzoo_cli("--help")
    assert result.exit_code == 0, result.stderr
    assert "Commands from plugins" in result.stdout
    assert "Say hello from a plugin." in result.stdout and "Greetings, as a group." in result.stdout
    assert "list-components" in result.stdout  # the built-in ones are still there
    result = ganzoo_cli("hello", "--name", "you")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello you\n"
    assert ganzoo_cli("greet", "twice", "you").stdout == "hello you, hello you\n"
    status = {p["name"]: p for p in json.loads(ganzoo_cli("plugins", "--json").stdout)}
    assert status["hello"]["commands"] == ["hello", "greet"] and status["networks"]["commands"] == []
    assert "hello, greet" in ganzoo_cli("plugins").stdout


def test_plugin_commands_load_only_when_a_command_is_not_built_in(ganzoo_cli, fake_distribution, tmp_path):
    marker = tmp_path / "imported"
    source = f"open({str(marker)!r}, 'a').write('x')\n" + HELLO
    fake_distribution("ganzoo-hello", {"hello_plugin": source}, {"hello": "hello_plugin"})
    assert ganzoo_cli("data", "list").exit_code == 0
    assert ganzoo_cli("plugin", "new", "--help").exit_code == 0
    assert not marker.exists(), "a built-in command loaded the plugins"
    assert ganzoo_cli("hello").stdout == "hello world\n"
    assert marker.read_text() == "x"


def test_a_plugin_whose_register_commands_raises_is_one_warning(ganzoo_cli, fake_distribution):
    fake_distribution("ganzoo-flaky", {"flaky_plugin": RAISES}, {"flaky": "flaky_plugin"})
    fake_distribution("ganzoo-hello", {"hello_plugin": HELLO}, {"hello": "hello_plugin"})
    result = ganzoo_cli("--help")
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if "flaky" in line] == [f"warning: {WARNING}"]
    assert "Say hello from a plugin." in result.stdout and "flaky " not in result.stdout
    assert ganzoo_cli("hello").stdout == "hello world\n"  # the other plugin's commands still work
    result = ganzoo_cli("flaky")
    assert result.exit_code == 2 and "No such command 'flaky'" in result.stderr
    result = ganzoo_cli("list-components", "generator")  # withdrawn like any plugin that fails to load
    assert result.exit_code == 0 and "resnet_9blocks" in result.stdout and "flaky_gen" not in result.stdout
    status = {p["name"]: p for p in json.loads(ganzoo_cli("plugins", "--json").stdout)}
    assert status["flaky"]["status"] == "failed" and "no commands today" in status["flaky"]["error"]


def test_strict_mode_fails_the_command_when_register_commands_raises(ganzoo_cli, fake_distribution, monkeypatch):
    fake_distribution("ganzoo-flaky", {"flaky_plugin": RAISES}, {"flaky": "flaky_plugin"})
    fake_distribution("ganzoo-hello", {"hello_plugin": HELLO}, {"hello": "hello_plugin"})
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    for args in (["hello"], ["--help"]):
        result = ganzoo_cli(*args)
        assert result.exit_code == 2, args
        assert f"error: {WARNING}" in result.stderr and "Traceback" not in result.stderr
    assert ganzoo_cli("data", "list").exit_code == 0  # a built-in command does not load plugins


def test_a_plugin_command_never_replaces_another(ganzoo_cli, fake_distribution, monkeypatch):
    shadow = "import ganzoo\n\n@ganzoo.hookimpl\ndef register_commands(cli):\n    cli.command('run')(print)\n"
    fake_distribution("ganzoo-hello", {"hello_plugin": HELLO}, {"hello": "hello_plugin"})
    fake_distribution("ganzoo-shadow", {"shadow_plugin": shadow}, {"shadow": "shadow_plugin"})
    fake_distribution("ganzoo-zhello", {"zhello_plugin": HELLO}, {"zhello": "zhello_plugin"})
    result = ganzoo_cli("--help")
    assert result.exit_code == 0
    assert ("warning: plugin shadow (ganzoo-shadow 1.0): command 'run' is not added, ganzoo has one of that "
            "name") in result.stderr
    assert ("plugin zhello (ganzoo-zhello 1.0) failed to load: command 'hello' is also added by plugin hello "
            "(ganzoo-hello 1.0)") in result.stderr
    assert "Train a recipe." in ganzoo_cli("run", "--help").stdout
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "zhello")
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    result = ganzoo_cli("hello")
    assert result.exit_code == 2 and "command 'run' is not added" in result.stderr
