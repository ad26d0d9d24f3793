"""The plugin author's kit: ``ganzoo plugin new`` writes a package whose own tests pass once it is
installed, and ``ganzoo plugin check`` holds plugins to the public API.

The end-to-end test installs the generated package the way a user would, but into a temporary
folder (``pip install --target``, no network, the test venv untouched) and runs its tests and
the CLI in subprocesses with that folder on PYTHONPATH: importlib.metadata finds the
dist-info there, so ganzoo discovers the plugin through its entry point as if pip-installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganzoo.cli.plugin import PluginNames, create_plugin, find_private_imports
from ganzoo.errors import GanzooError

EXPECTED_FILES = {
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "ganzoo_my_method/__init__.py",
    "ganzoo_my_method/networks.py",
    "ganzoo_my_method/plugin.py",
    "ganzoo_my_method/method.py",
    "recipes/my_method_quickstart.toml",
    "tests/conftest.py",
    "tests/test_my_method_plugin.py",
}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: no plugin filters or PYTHONPATH inherited from the caller,
    one torch thread (many threads are 25x slower on a busy CI machine), wide tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANZOO_") and k != "PYTHONPATH"}
    env.update({"OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}, **extra)
    return env


def pip_install_target(source: Path, site: Path) -> None:
    """``pip install --no-deps --no-build-isolation --target site source``, offline."""
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("building a package needs pip and setuptools in the test environment")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--no-index", "--disable-pip-version-check", "--target", str(site), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["my-method", "my_method", "ganzoo-my-method", "My-Method"])
def test_names_are_derived_from_any_spelling(name):
    names = PluginNames.from_name(name)
    assert (names.snake, names.dist, names.package, names.camel) == (
        "my_method", "ganzoo-my-method", "ganzoo_my_method", "MyMethod")


@pytest.mark.parametrize("name", ["", "1gan", "my method", "my.method", "ganzoo", "class", "my--method", "-x"])
def test_invalid_names_are_refused(name):
    with pytest.raises(GanzooError):
        PluginNames.from_name(name)


# ---------------------------------------------------------------- writing the package


def test_new_writes_a_complete_package(tmp_path):
    target = create_plugin("my-method", tmp_path)
    assert target == tmp_path / "ganzoo-my-method"
    files = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "{{" not in text and "NAME" not in path.name and "PACKAGE" not in str(path), path
            if path.suffix == ".py":
                compile(text, str(path), "exec")
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points.ganzoo]\nmy_method = "ganzoo_my_method.plugin"' in pyproject
    assert 'name = "ganzoo-my-method"' in pyproject
    assert find_private_imports(target) == []


def test_new_refuses_to_overwrite_unless_forced(tmp_path):
    target = create_plugin("my-method", tmp_path)
    (target / "README.md").write_text("mine")
    with pytest.raises(GanzooError, match="already exists and is not empty"):
        create_plugin("my-method", tmp_path)
    assert (target / "README.md").read_text() == "mine"
    create_plugin("my-method", tmp_path, force=True)
    assert (target / "README.md").read_text() != "mine"


def test_new_from_the_cli(ganzoo_cli, tmp_path):
    result = ganzoo_cli("plugin", "new", "my-method", "--dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "created" in result.stdout and "pip install -e '.[test]'" in result.stdout
    assert (tmp_path / "ganzoo-my-method" / "pyproject.toml").is_file()
    result = ganzoo_cli("plugin", "new", "my method", "--dir", tmp_path)
    assert result.exit_code == 2 and "use lowercase letters" in result.stderr


def test_generated_code_is_ruff_clean(tmp_path):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    target = create_plugin("my-method", tmp_path)
    result = subprocess.run([ruff, "check", "--no-cache", str(target)], capture_output=True, text=True,
                            cwd=target)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- the public-API check


def test_check_flags_private_imports(tmp_path, ganzoo_cli):
    (tmp_path / "bad.py").write_text(
        "import ganzoo\nimport ganzoo.testing\nfrom ganzoo.registry import Registry\n"
        "from ganzoo import hookimpl, get_registry\nx = ganzoo.plugins\ny = ganzoo.Generator\n"
    )
    problems = find_private_imports(tmp_path)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] + " " + p.split(": ", 1)[1].split(" is not")[0]
            for p in problems] == ["3 module ganzoo.registry", "4 ganzoo.get_registry", "5 ganzoo.plugins"]
    result = ganzoo_cli("plugin", "check", tmp_path)
    assert result.exit_code == 1 and "ganzoo.get_registry is not in ganzoo's public API" in result.stderr


def test_check_names_what_api_2_renamed(tmp_path, ganzoo_cli):
    (tmp_path / "old.py").write_text(
        "import ganzoo\n\nclass M(ganzoo.Recipe):\n    pass\n\n@ganzoo.hookimpl\n"
        "def register_components(reg):\n    reg.recipe('m', M)\n    reg.generator('g', object)\n"
    )
    result = ganzoo_cli("plugin", "check", tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path / 'old.py'}:3: ganzoo.Recipe was renamed ganzoo.Method in plugin API 2" in result.stderr
    assert f"{tmp_path / 'old.py'}:8: component kind 'recipe' was renamed 'method'" in result.stderr
    assert len(find_private_imports(tmp_path)) == 2  # reg.generator is fine


def test_the_built_in_plugins_use_only_the_public_api():
    plugins = Path(__file__).resolve().parents[1] / "plugins"
    assert find_private_imports(plugins) == []


# ---------------------------------------------------------------- end to end, as a plugin author


@pytest.mark.slow  # ~20 s: builds, installs and runs a generated package's own suite
def test_generated_package_installs_lists_and_passes_its_own_tests(tmp_path):
    target = create_plugin("my-method", tmp_path / "src")
    site = tmp_path / "site"
    pip_install_target(target, site)
    assert (site / "ganzoo_my_method" / "plugin.py").is_file()
    assert list(site.glob("ganzoo_my_method-0.1.0.dist-info"))
    env = child_env(PYTHONPATH=str(site))

    # its own tests, with the ganzoo.testing fixtures, against the installed copy
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=target, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout

    # and the CLI lists its components with their provenance
    result = subprocess.run([sys.executable, "-m", "ganzoo.cli", "list-components", "--json", "--filter", "my_method*"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {("method", "my_method"), ("generator", "my_method_generator"),
                         ("discriminator", "my_method_discriminator")}
    assert {(r["plugin"], r["dist"], r["version"]) for r in rows.values()} == {
        ("my_method", "ganzoo-my-method", "0.1.0")}
