"""pytest fixtures for ganzoo and its plugins, loaded through the ``pytest11`` entry point.

A plugin's own test suite gets them by installing ganzoo: a fresh plugin set per test (never
the process-wide cache), a CLI runner, and a tiny recipe on the built-in data. Importing this
module is cheap; torch and the plugins load only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TINY_RECIPE = """\
[run]
name = "tiny"
seed = 0

[train]
iterations = 4
batch_size = 2
log_every = 1
sample_every = 2
checkpoint_every = 2
eval_items = 4

[method]
type = "cyclegan"

[data]
type = "procedural"
image_size = 16
train_size = 16
test_size = 4

[generator]
type = "resnet_6blocks"
ngf = 4

[discriminator]
type = "patchgan"
ndf = 4
n_layers = 2
"""


@pytest.fixture
def ganzoo_plugins() -> Any:
    """A freshly loaded :class:`ganzoo.plugins.PluginSet` (registry and plugin statuses)."""
    from ganzoo.plugins import load_plugins

    return load_plugins()


@pytest.fixture
def ganzoo_registry(ganzoo_plugins: Any) -> Any:
    return ganzoo_plugins.registry


@pytest.fixture
def ganzoo_cli() -> Iterator[Any]:
    """Invoke the CLI in-process: ``ganzoo_cli("list-components", "method")`` -> click Result.

    The plugin cache is cleared before and after, so environment variables set by the test
    (GANZOO_PLUGINS, ...) take effect."""
    from typer.testing import CliRunner

    from ganzoo import plugins
    from ganzoo.cli import app, console

    runner = CliRunner()

    def invoke(*args: str, **kwargs: Any) -> Any:
        plugins.reset()
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)

    plugins.reset()
    widths = console.out.width, console.err.width
    console.out.width = console.err.width = 200  # tables unwrapped, so tests can search the text
    yield invoke
    console.out.width, console.err.width = widths
    plugins.reset()


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    """A CycleGAN recipe on 16 px built-in data that trains 4 iterations in seconds on a CPU;
    override with ``--set`` to try another component."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE.replace('name = "tiny"', f"name = \"tiny\"\nout_dir = '{tmp_path / 'runs'}'"))
    return path


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a throwaway distribution for this test only: modules plus a ``*.dist-info`` with
    entry points, on ``sys.path``, so ``importlib.metadata`` finds it like a pip-installed one.

    ``fake_distribution("ganzoo-foo", {"foo_plugin": SOURCE}, {"foo": "foo_plugin"})``
    """
    import importlib
    import sys

    root = tmp_path / "site"
    root.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(root))
    created: list[str] = []

    def make(dist: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.0",
             group: str = "ganzoo") -> Path:
        for module, source in modules.items():
            (root / f"{module}.py").write_text(source)
            created.append(module)
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = [f"[{group}]", *(f"{k} = {v}" for k, v in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()
        return info

    yield make
    for module in created:
        sys.modules.pop(module, None)
