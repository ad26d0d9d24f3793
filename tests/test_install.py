"""ganzoo as pip installs it, away from the source tree: the built-in recipes are in the wheel,
``ganzoo run quickstart`` runs one by name from any folder, ``ganzoo recipes`` lists them, and a
README path that only a checkout has gets a hint to the name instead."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin_kit import child_env, pip_install_target

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "ganzoo", "plugins", "recipes")
"""What building the wheel reads (copied, so the build leaves nothing in the repository)."""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """ganzoo built from a copy of the source and installed into a temporary site folder."""
    base = tmp_path_factory.mktemp("ganzoo-install")
    source = base / "src"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "runs", "ganzoo-discogan")
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, source / name)
    site = base / "site"
    pip_install_target(source, site)
    return site


def ganzoo(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=child_env(PYTHONPATH=str(site)))


def test_the_wheel_carries_the_recipes_and_lists_them(site, tmp_path):
    assert sorted(p.name for p in (site / "ganzoo" / "recipes").glob("*.toml")) == sorted(
        p.name for p in (ROOT / "recipes").glob("*.toml"))
    result = ganzoo(site, tmp_path, "recipes", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["quickstart"]["method"] == "cyclegan" and rows["quickstart"]["source"] == "ganzoo"
    assert Path(rows["quickstart"]["path"]).is_relative_to(site)  # the installed copy, not the checkout's


def test_a_checkout_path_outside_the_checkout_points_at_the_name(site, tmp_path):
    result = ganzoo(site, tmp_path, "validate", "recipes/quickstart.toml")
    assert result.returncode == 2
    assert "give 'quickstart' instead of the path" in result.stderr and "docs/" not in result.stderr


@pytest.mark.slow  # trains (2 iterations) in a subprocess
def test_run_a_builtin_recipe_by_name_from_any_folder(site, tmp_path):
    run_dir = tmp_path / "run"
    result = ganzoo(site, tmp_path, "run", "quickstart", "-s", "train.iterations=2", "-s", "train.eval_items=2",
                    "-s", "train.sample_every=0", "-s", "train.checkpoint_every=0", "--out", run_dir, "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'name = "quickstart"' in (run_dir / "recipe.toml").read_text()
    assert (run_dir / "checkpoints").is_dir()


def test_the_documented_cpu_install_is_the_pinned_pair():
    pins = dict(re.findall(r"^(torch|torchvision)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M))
    for doc in ("README.md", "docs/getting-started.md"):
        commands = re.findall(r"pip install (torch==\S+ torchvision==\S+) --index-url (\S+)", (ROOT / doc).read_text())
        assert commands, f"{doc}: no CPU-only PyTorch install command"
        for pair, index in commands:
            assert pair == f"torch=={pins['torch']} torchvision=={pins['torchvision']}", (doc, pair)
            assert index == "https://download.pytorch.org/whl/cpu"


def test_make_quickstart_installs_no_test_tools_and_shows_the_torch_download(tmp_path):
    """``make -n`` (nothing runs): the quickstart's installs, and TORCH_INDEX passed to pip."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")

    def dry_run(*args: str) -> list[str]:
        result = subprocess.run(["make", "-n", *args, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [line for line in result.stdout.splitlines() if "pip install" in line]

    quickstart = dry_run("quickstart")
    assert not any("[test]" in line for line in quickstart), quickstart
    torch_step = next(line for line in quickstart if "torch torchvision" in line)
    assert "--quiet" not in torch_step and "--index-url" not in torch_step
    cpu = next(line for line in dry_run("quickstart", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
               if "torch torchvision" in line)
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu
    assert any("-e '.[test]'" in line for line in dry_run("test"))
