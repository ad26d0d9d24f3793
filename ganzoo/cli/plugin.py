"""``ganzoo plugin new NAME``: write a ready-to-install plugin package.

A plugin author should get from an idea to a pip-installable package whose tests pass in one
command: the template (``ganzoo/templates/plugin``) holds a pyproject with the ``ganzoo`` entry
point, the hook module, a generator and a discriminator with their configs, a method that uses
the registered ``lsgan`` and ``l1`` losses, a recipe file on the built-in data and tests built
on the ``ganzoo.testing`` fixtures. It imports only the public API, so it doubles as a
living example of it (tests/test_plugin_kit.py installs a generated package and runs its tests).

Module-level imports stay light (typer, stdlib): ``ganzoo --help`` must not pay for torch.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ganzoo.cli.console import err, out, user_errors
from ganzoo.errors import GanzooError

plugin = typer.Typer(
    help="Write plugin packages: a new method as a pip package.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

TEMPLATE = "plugin"
SUFFIX = ".tmpl"
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PluginNames:
    """Every spelling of a plugin's name the template needs, derived from one NAME."""

    snake: str  # plugin (entry-point) name, method name, prefix of component names: my_method
    dist: str  # distribution name: ganzoo-my-method
    package: str  # import package: ganzoo_my_method
    camel: str  # class-name prefix: MyMethod
    title: str  # human name: My method

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        """Accept ``my-method``, ``my_method`` or ``ganzoo-my-method``; refuse what would make an
        invalid package, entry point or class name."""
        raw = name.strip()
        lowered = raw.lower()
        for prefix in ("ganzoo-", "ganzoo_"):
            if lowered.startswith(prefix):
                lowered = lowered[len(prefix):]
        if not _NAME.match(lowered):
            raise GanzooError(
                f"plugin name {raw!r}: use lowercase letters, digits, '-' or '_', starting with a letter "
                f"(e.g. 'my-method')"
            )
        snake = lowered.replace("-", "_")
        if keyword.iskeyword(snake) or snake == "ganzoo":
            raise GanzooError(f"plugin name {raw!r} is reserved; choose another")
        parts = snake.split("_")
        return cls(
            snake=snake,
            dist="ganzoo-" + "-".join(parts),
            package="ganzoo_" + snake,
            camel="".join(p.capitalize() for p in parts),
            title=" ".join(parts).capitalize(),
        )

    def context(self) -> dict[str, str]:
        from ganzoo import API_VERSION, __version__

        return {
            "snake": self.snake,
            "dist": self.dist,
            "package": self.package,
            "Camel": self.camel,
            "title": self.title,
            "api_version": str(API_VERSION),
            "ganzoo_version": __version__,
        }


def _template_files() -> list[tuple[tuple[str, ...], str]]:
    """(relative path parts, text) of every template file, read through importlib.resources so
    it works from a wheel as well as from a source checkout."""
    root = resources.files("ganzoo") / "templates" / TEMPLATE
    found: list[tuple[tuple[str, ...], str]] = []

    def walk(node, parts: tuple[str, ...]) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, (*parts, child.name))
            elif child.name.endswith(SUFFIX):
                found.append(((*parts, child.name), child.read_text(encoding="utf-8")))

    walk(root, ())
    if not found:
        raise GanzooError(f"the plugin template is missing from this ganzoo installation ({root})")
    return found


def _render(text: str, context: dict[str, str], where: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise GanzooError(f"plugin template {where}: unknown placeholder {{{{{key}}}}}")
        return context[key]

    return _PLACEHOLDER.sub(substitute, text)


def _target_path(parts: tuple[str, ...], names: PluginNames) -> Path:
    """Template path -> package path: PACKAGE/ is the import package, NAME in a file name is the
    plugin name, ``gitignore`` becomes ``.gitignore`` (a dot file would be skipped by package data)."""
    renamed = [names.package if p == "PACKAGE" else p.replace("NAME", names.snake) for p in parts]
    renamed[-1] = renamed[-1].removesuffix(SUFFIX)
    if renamed[-1] == "gitignore":
        renamed[-1] = ".gitignore"
    return Path(*renamed)


def create_plugin(name: str, directory: Path | str = ".", *, force: bool = False) -> Path:
    """Write the plugin package for ``name`` into ``directory/ganzoo-NAME`` and return its path.

    Refuses to write into a non-empty folder unless ``force``, so it never clobbers work.
    """
    names = PluginNames.from_name(name)
    target = Path(directory) / names.dist
    if target.exists() and any(target.iterdir()) and not force:
        raise GanzooError(f"{target} already exists and is not empty (use --force to overwrite its files)")
    context = names.context()
    rendered = [(_target_path(parts, names), _render(text, context, "/".join(parts)))
                for parts, text in _template_files()]
    for relative, text in rendered:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


PUBLIC_MODULES = {"ganzoo", "ganzoo.layers", "ganzoo.testing"}
"""Modules a plugin may import: the API (``ganzoo.__all__``) and the pytest fixtures."""


def find_private_imports(root: Path | str) -> list[str]:
    """Every use of a ganzoo name outside the public API in the Python files under ``root``.

    A plugin that reaches into ``ganzoo.registry`` or ``ganzoo.engine`` breaks when those
    internals change, even within one ``API_VERSION``; this makes the promise checkable. It
    reads the source (``ast``) and runs nothing, so it also works on a package that does not
    import. Checked: ``import ganzoo.x``, ``from ganzoo.x import y``, ``from ganzoo import y``
    and ``ganzoo.y`` attribute access, each against ``ganzoo.__all__``; names renamed in API 2
    (``ganzoo.Recipe``, ``registrar.recipe(...)``) are reported with what to write instead.
    """
    import ganzoo
    from ganzoo import renamed

    public = set(ganzoo.__all__) | {m.split(".", 1)[1] for m in PUBLIC_MODULES if "." in m}
    problems: list[str] = []
    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: syntax error: {exc.msg}")
            continue
        aliases: set[str] = set()  # local names bound to the ganzoo module itself

        def report(node: ast.AST, what: str, path: Path = path) -> None:
            old = what.removeprefix("ganzoo.")
            reason = (renamed.renamed_api(old) if old in renamed.API_NAMES
                      else f"{what} is not in ganzoo's public API (ganzoo.__all__)")
            problems.append(f"{path}:{getattr(node, 'lineno', 0)}: {reason}")

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "ganzoo" or (alias.name.startswith("ganzoo.") and not alias.asname):
                        aliases.add(alias.asname or "ganzoo")  # `import ganzoo.x` binds `ganzoo` too
                    if alias.name.startswith("ganzoo.") and alias.name not in PUBLIC_MODULES:
                        report(node, f"module {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "ganzoo":
                    for alias in node.names:
                        if alias.name not in public:
                            report(node, f"ganzoo.{alias.name}")
                elif node.module.startswith("ganzoo.") and node.module not in PUBLIC_MODULES:
                    report(node, f"module {node.module}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr not in public):
                report(node, f"ganzoo.{node.attr}")
        problems.extend(_renamed_registrations(tree, path))
    return problems


def _renamed_registrations(tree: ast.AST, path: Path) -> list[str]:
    """``registrar.recipe(...)`` inside a ``register_components`` hook: a kind renamed in API 2."""
    from ganzoo import renamed

    found = []
    for hook in ast.walk(tree):
        if not (isinstance(hook, ast.FunctionDef) and hook.name == "register_components" and hook.args.args):
            continue
        registrar = hook.args.args[0].arg
        for node in ast.walk(hook):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == registrar
                    and node.func.attr in renamed.KINDS):
                found.append(f"{path}:{node.lineno}: {renamed.renamed_kind(node.func.attr)}")
    return found


@plugin.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="A plugin package (folder) or a Python file.")],
) -> None:
    """Check that a plugin uses only ganzoo's public API (ganzoo.__all__); exit 1 if not."""
    with user_errors():
        if not path.exists():
            raise GanzooError(f"{path}: no such file or folder")
        problems = find_private_imports(path)
    for line in problems:
        err.print(line, highlight=False, soft_wrap=True, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"[green]ok[/green]: {path} uses only ganzoo's public API", highlight=False)


@plugin.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The method's name, e.g. my-method (gives ganzoo-my-method).")],
    directory: Annotated[Path, typer.Option("--dir", help="Parent folder of the new package.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Write into an existing, non-empty folder.")] = False,
) -> None:
    """Create a plugin package: pyproject with the ganzoo entry point, hook, generator,
    discriminator, method, a recipe file on the built-in data, and tests."""
    with user_errors():
        target = create_plugin(name, directory, force=force)
    names = PluginNames.from_name(name)
    out.print(f"[green]created[/green] {target}", highlight=False)
    out.print(
        f"next:\n  cd {target}\n  pip install -e '.\\[test]'\n  ganzoo plugins\n  pytest\n"
        f"  ganzoo run recipes/{names.snake}_quickstart.toml",
        highlight=False,
    )


def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(plugin, name="plugin")
