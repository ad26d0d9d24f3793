"""The external plugin in plugins/ganzoo-discogan, seen from ganzoo's side: installed on its own
it adds a method without any change to the core; uninstalled, it leaves no trace; a broken
plugin beside it breaks neither it nor the CLI.

The package is installed once per module into a temporary folder (``pip install --target``,
offline, the venv untouched) and used through PYTHONPATH, in subprocesses, exactly as a
pip-installed third-party package. Its own unit tests live in plugins/ganzoo-discogan/tests.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from ganzoo.cli.plugin import find_private_imports

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "ganzoo-discogan"
RECIPE = PLUGIN / "recipes" / "discogan_quickstart.toml"
COMPONENTS = {("method", "discogan"), ("generator", "discogan_encdec"), ("discriminator", "discogan"),
              ("loss", "discogan_fm")}


def child_env(**extra: str) -> dict[str, str]:
    """No plugin filters or PYTHONPATH inherited from the caller, one torch thread, wide tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANZOO_") and k != "PYTHONPATH"}
    env.update({"OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}, **extra)
    return env


def ganzoo(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *map(str, args)], cwd=cwd, env=child_env(**env),
                          capture_output=True, text=True, timeout=600)


def installed_in_this_environment(dist: str) -> bool:
    """Whether ``dist`` is importable without our PYTHONPATH (e.g. a developer's pip install -e)."""
    extra = set(os.environ.get("PYTHONPATH", "").split(os.pathsep)) - {""}
    path = [p for p in sys.path if p not in extra]
    return any(d.metadata["Name"] == dist for d in metadata.distributions(path=path))


@pytest.fixture(scope="module")
def discogan_site(tmp_path_factory) -> Path:
    """plugins/ganzoo-discogan built from a copy (the build leaves nothing in the repository)
    and installed into a temporary site folder; ``make test`` builds it once for both suites and
    names it in $GANZOO_DISCOGAN_SITE."""
    prebuilt = os.environ.get("GANZOO_DISCOGAN_SITE")
    if prebuilt and (Path(prebuilt) / "ganzoo_discogan" / "plugin.py").is_file():
        return Path(prebuilt).resolve()
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("building a package needs pip and setuptools in the test environment")
    base = tmp_path_factory.mktemp("discogan")
    source = base / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "runs"))
    site = base / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--no-index", "--disable-pip-version-check", "--target", str(site), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


# ---------------------------------------------------------------- without running anything


def test_plugin_uses_only_the_public_api():
    assert find_private_imports(PLUGIN) == []


def test_plugin_imports_nothing_but_ganzoo_torch_and_pydantic():
    """Third-party and ganzoo imports only from that list; the standard library is always there."""
    allowed = {"ganzoo", "ganzoo_discogan", "torch", "pydantic"} | set(sys.stdlib_module_names)
    for path in (PLUGIN / "ganzoo_discogan").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name}:{node.lineno} imports {roots - allowed}"


def test_the_core_imports_no_plugin():
    """ganzoo/ knows plugins only through entry points: no import of any plugin package."""
    plugin_packages = {p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()} | {"ganzoo_discogan"}
    for path in (ROOT / "ganzoo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] not in plugin_packages, f"{path}:{node.lineno} imports {name}"


# ---------------------------------------------------------------- installed, uninstalled, broken


@pytest.mark.slow  # a ganzoo subprocess that trains
def test_installed_plugin_trains_its_recipe(discogan_site, tmp_path):
    run_dir = tmp_path / "run"
    result = ganzoo("run", RECIPE, "--set", "train.iterations=3", "--out", run_dir, "--no-progress",
                    cwd=tmp_path, PYTHONPATH=str(discogan_site))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finished at step 3" in result.stdout and "a2b/psnr" in result.stdout
    assert 'type = "discogan"' in (run_dir / "recipe.toml").read_text()
    assert "ganzoo-discogan" in (run_dir / "plugins.json").read_text()
    assert (run_dir / "checkpoints").is_dir()


def test_listed_while_installed_and_gone_once_uninstalled(discogan_site, tmp_path):
    listing = ("list-components", "--json", "--filter", "discogan*")
    result = ganzoo(*listing, cwd=tmp_path, PYTHONPATH=str(discogan_site))
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert set(rows) == COMPONENTS
    assert {(r["plugin"], r["dist"], r["version"]) for r in rows.values()} == {("discogan", "ganzoo-discogan", "0.1.0")}

    if installed_in_this_environment("ganzoo-discogan"):
        pytest.skip("ganzoo-discogan is installed in this environment, so it cannot be absent here")
    result = ganzoo(*listing, cwd=tmp_path)  # the same machine without the plugin's folder
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_broken_plugin_breaks_neither_the_cli_nor_its_neighbour(discogan_site, tmp_path, monkeypatch,
                                                                  fake_distribution, ganzoo_cli):
    """In-process (fast): the installed plugin and a broken one on sys.path together."""
    monkeypatch.syspath_prepend(str(discogan_site))
    fake_distribution("ganzoo-broken", {"broken_plugin": "import torch\nraise ImportError('needs libfoo')\n"},
                      {"broken": "broken_plugin"}, version="0.3")
    result = ganzoo_cli("plugins", "--json")
    status = {p["name"]: p for p in json.loads(result.stdout)}
    assert status["broken"]["status"] == "failed" and "ImportError: needs libfoo" in status["broken"]["error"]
    assert (status["discogan"]["status"], status["discogan"]["dist"]) == ("loaded", "ganzoo-discogan")

    result = ganzoo_cli("plugins")
    assert result.exit_code == 0
    assert "ganzoo-broken" in result.stdout and "needs libfoo" in result.stdout

    result = ganzoo_cli("list-components", "method")
    assert result.exit_code == 0
    assert "discogan (ganzoo-discogan 0.1.0)" in result.stdout and "cyclegan" in result.stdout
    assert "plugin broken (ganzoo-broken 0.3) failed to load: ImportError: needs libfoo" in " ".join(
        result.stderr.split())

    result = ganzoo_cli("validate", RECIPE)
    assert result.exit_code == 0, result.stderr

    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "discogan")
    result = ganzoo_cli("list-components", "--json", "--filter", "discogan*")
    assert json.loads(result.stdout) == []
