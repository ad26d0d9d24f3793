"""The documentation keeps up with the code: hook signatures and the public API in the plugin
guide, the generated recipe reference, commands and links in the guides."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import typer.main

import ganzoo
from ganzoo import docs_gen, hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
PLUGINS_MD = DOCS / "plugins.md"
OWN_PAGES = ["index.md", "getting-started.md", "architecture.md", "plugins.md"]
PENDING_PAGES = {"evaluation.md"}
"""Pages other people are writing; a link to one may point nowhere until it lands."""


class _Source:
    """An annotation shown as written in the source (``Registrar``, not ``'Registrar'``)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def hook_specs() -> dict[str, object]:
    marker = f"{hookspecs.PROJECT}_spec"  # the attribute pluggy's HookspecMarker sets
    return {name: f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, marker)}


def source_signature(func: object) -> str:
    """``def name(arg: Type, ...) -> Ret`` with annotations as the source spells them."""
    sig = inspect.signature(func)

    def shown(annotation: object) -> object:
        return _Source(annotation) if isinstance(annotation, str) else annotation

    params = [p.replace(annotation=shown(p.annotation)) for p in sig.parameters.values()]
    sig = sig.replace(parameters=params, return_annotation=shown(sig.return_annotation))
    return f"def {func.__name__}{sig}"


# ---------------------------------------------------------------- the plugin guide


def test_there_are_hook_specs_to_document():
    specs = hook_specs()
    assert source_signature(specs["register_components"]) == "def register_components(registrar: Registrar) -> None"
    assert source_signature(specs["register_commands"]) == "def register_commands(cli: typer.Typer) -> None"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_spec_is_documented_with_its_exact_signature(name):
    signature = source_signature(hook_specs()[name])
    text = PLUGINS_MD.read_text()
    assert signature in text, f"docs/plugins.md lacks the hook signature: {signature}"
    assert f"### `{name}`" in text, f"docs/plugins.md has no section for hook {name}"


@pytest.mark.parametrize("name", ganzoo.__all__)
def test_every_public_name_is_documented(name):
    table_rows = [line for line in PLUGINS_MD.read_text().splitlines() if line.startswith(f"| `{name}` |")]
    assert table_rows, f"docs/plugins.md: add `{name}` to the table of the public API"


def test_the_api_version_promise_states_the_current_version():
    text = PLUGINS_MD.read_text()
    assert f"`API_VERSION = {ganzoo.API_VERSION}`" in text
    assert "ganzoo.__all__" in text


# ---------------------------------------------------------------- the generated recipe reference


def test_reference_covers_every_registered_component(ganzoo_plugins):
    text = docs_gen.generate(ganzoo_plugins)
    specs = list(ganzoo_plugins.registry)
    assert specs
    for spec in specs:
        assert f'<a id="{docs_gen.anchor(spec.kind, spec.name)}"></a>\n\n### `{spec.name}`' in text, spec.name
        assert spec.plugin.label in text
        for field in spec.config.model_fields:
            assert f"| `{field}" in text, f"{spec.kind} {spec.name}: field {field} is missing"
    for name in ("run", "train"):
        assert f"### `[{name}]`" in text


def test_reference_tables_are_well_formed(ganzoo_plugins):
    for line in docs_gen.generate(ganzoo_plugins).splitlines():
        if line.startswith("|"):
            unescaped = re.sub(r"\\\|", "", line)
            assert unescaped.count("|") in (5, 6), line  # 4 or 5 columns


def test_reference_of_a_recipe_shows_its_slots_and_its_own_defaults(ganzoo_plugins):
    text = docs_gen.generate(ganzoo_plugins)
    section = text.split('<a id="method-cyclegan"></a>')[1].split("<a id=")[0]
    assert "| `[cycle_loss]` | loss | [`l1`](#loss-l1) | `weight = 10.0` |" in section
    assert "| `optimizer.lr` | float | `0.0002` |" in section


def test_nested_defaults_come_from_the_component_not_the_nested_class(fake_distribution):
    """A recipe that changes a nested default (Adam's weight decay) is documented with its value."""
    source = (
        "import ganzoo\nfrom pydantic import Field\n\n"
        "class DecayOptimizer(ganzoo.OptimizerConfig):\n"
        "    weight_decay: float = Field(1e-5, description='Adam.')\n\n"
        "class DecayConfig(ganzoo.MethodConfig):\n"
        "    optimizer: DecayOptimizer = Field(default_factory=DecayOptimizer, description='Adam.')\n\n"
        "class Decay(ganzoo.Method):\n"
        "    '''A recipe that decays.'''\n"
        "    Config = DecayConfig\n\n"
        "@ganzoo.hookimpl\n"
        "def register_components(registrar):\n"
        "    registrar.method('decay', Decay)\n"
    )
    fake_distribution("ganzoo-decay", {"decay_plugin": source}, {"decay": "decay_plugin"}, version="0.2")
    from ganzoo.plugins import load_plugins

    text = docs_gen.generate(load_plugins(), dists=["ganzoo-decay"])
    assert "| `optimizer.weight_decay` | float | `1e-05` |" in text
    assert "decay (ganzoo-decay 0.2)" in text and "resnet_9blocks" not in text


def test_docs_command_writes_and_checks(ganzoo_cli, tmp_path):
    out = tmp_path / "recipes.md"
    result = ganzoo_cli("docs", "--out", out, "--dist", "ganzoo")
    assert result.exit_code == 0, result.stderr
    assert "### `cyclegan`" in out.read_text()
    assert ganzoo_cli("docs", "--out", out, "--dist", "ganzoo", "--check").exit_code == 0
    out.write_text(out.read_text() + "edited by hand\n")
    result = ganzoo_cli("docs", "--out", out, "--dist", "ganzoo", "--check")
    assert result.exit_code == 1 and "out of date" in result.stderr


def test_module_entry_point(tmp_path, capsys):
    out = tmp_path / "r.md"
    assert docs_gen.main(["--out", str(out), "--dist", "ganzoo"]) == 0
    assert docs_gen.main(["--out", str(out), "--dist", "ganzoo", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_committed_reference_is_generated_and_covers_the_core(ganzoo_registry):
    """Not compared byte for byte (components are in flux); every core component must be in it."""
    text = (DOCS / "recipes.md").read_text()
    assert f"Generated by `{docs_gen.COMMAND}`" in text
    core = [s for s in ganzoo_registry if s.plugin.dist == "ganzoo"]
    missing = [f"{s.kind} {s.name}" for s in core if f'<a id="{docs_gen.anchor(s.kind, s.name)}">' not in text]
    assert not missing, f"docs/recipes.md is stale (run: {docs_gen.COMMAND}); missing: {missing}"


# ---------------------------------------------------------------- the guides


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())


@pytest.mark.parametrize("page", OWN_PAGES)
def test_relative_links_point_to_existing_files(page):
    path = DOCS / page
    broken = []
    for link in _links(path):
        if "://" in link or link.startswith("mailto:"):
            continue
        if not (path.parent / link).exists() and Path(link).name not in PENDING_PAGES:
            broken.append(link)
    assert not broken, f"{page}: broken links {broken}"


def test_index_links_every_page():
    linked = {Path(link).name for link in _links(DOCS / "index.md")}
    for page in ("getting-started.md", "recipes.md", "architecture.md", "plugins.md", "evaluation.md", "data.md"):
        assert page in linked, page


def _shell_lines(markdown: str) -> list[str]:
    """Lines of the ```bash, ```text and bare ``` code blocks (not python or toml)."""
    lines, language = [], None
    for line in markdown.splitlines():
        if line.startswith("```"):
            language = None if language is not None else (line[3:].strip() or "plain")
        elif language in ("bash", "text", "plain"):
            lines.append(line)
    return lines


def _commands(group: object, prefix: str = "") -> set[str]:
    names = set()
    for name, command in getattr(group, "commands", {}).items():
        names.add(prefix + name)
        names |= _commands(command, f"{prefix}{name} ")
    return names


@pytest.mark.parametrize("page", OWN_PAGES)
def test_documented_commands_exist(page):
    """Every ``ganzoo SUBCOMMAND`` in a code block of the guide is a real command."""
    from ganzoo.cli import app

    commands = _commands(typer.main.get_command(app))
    used = set()
    for line in _shell_lines((DOCS / page).read_text()):
        for match in re.finditer(r"(?:^|[\s$])ganzoo ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", line.split("#")[0]):
            first, second = match.groups()
            used.add(f"{first} {second}" if f"{first} {second}" in commands else first)
    unknown = sorted(u for u in used if u not in commands)
    assert not unknown, f"{page} uses commands that do not exist: {unknown}"
