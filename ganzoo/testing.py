"""pytest fixtures for ganzoo and its plugins, loaded through the ``pytest11`` entry point.

A plugin's own test suite gets them by installing ganzoo: a fresh plugin set per test (never
the process-wide cache), a CLI runner, and a tiny recipe on the built-in data. Importing this
module is cheap; torch and the plugins load only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def write_unpaired_folders(root: Path, n: int = 3, size: int = 16, *, n_test: int | None = None,
                           seed: int = 0) -> Path:
    """``root/trainA``, ``trainB``, ``testA``, ``testB`` (CycleGAN's layout) of ``n`` random RGB
    PNGs each (``n_test`` in the test folders, if given): data for tests of folder data sets and
    unpaired evaluation, drawn from one seeded generator so a test sees the same images each time."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("trainA", "trainB", "testA", "testB"):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n_test if n_test is not None and split.startswith("test") else n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / split / f"{i}.png")
    return root


def write_domain_folders(root: Path, domains: Sequence[str] = ("cat", "dog", "wild"), n: int = 3, size: int = 16, *,
                         test_folder: str = "val", seed: int = 0) -> Path:
    """``root/train/<domain>/`` and ``root/<test_folder>/<domain>/`` (the AFHQ layout) of ``n``
    random RGB PNGs each, for tests of multi-domain folder data (``domain_folders``)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", test_folder):
        for domain in domains:
            (root / split / domain).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / domain / f"{i}.png")
    return root


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


class MethodContract:
    """What every method must do, as a test class to subclass in the method's own tests::

        from ganzoo.testing import MethodContract

        class TestMyMethod(MethodContract):
            method = "my_method"
            overrides = ("generator.ngf=4", "discriminator.ndf=4")   # tiny: seconds on a CPU

    Each check runs the method through the engine exactly as ``ganzoo run`` would, on the
    built-in procedural data (paired for a method that ``requires_paired``): it builds from its
    defaults, every train step runs forward and backward, one real iteration trains and writes a
    checkpoint, an interrupted run resumes exactly (3 iterations equal 2 + resume + 1), the
    weights round-trip through safetensors, it translates an odd-sized image in each of its
    directions, and it exports to TorchScript. Per-method tests then cover only what is
    specific to the method (reference parity, loss formulas, defaults).
    """

    method: str = ""
    overrides: tuple[str, ...] = ()
    """``--set`` overrides that make the networks tiny."""
    size: int = 16
    """Side of the procedural images (of the inputs, for a super-resolution method)."""
    data: str = ""
    """The body of the ``[data]`` table (TOML lines) for a method that needs other data than the
    procedural set (super-resolution: ``type = "sr_procedural"``...); empty: the procedural set."""
    scale: int = 1
    """How many times larger than its input an output is (a super-resolution method's factor)."""

    def _recipe(self, tmp_path: Path, *more: str) -> Any:
        from ganzoo.plugins import get_registry
        from ganzoo.recipe import load_recipe

        paired = getattr(get_registry().get("method", self.method).cls, "requires_paired", False)
        path = tmp_path / f"{self.method}_contract.toml"
        path.write_text(
            f"[run]\nname = \"contract\"\nseed = 0\nout_dir = '{tmp_path / 'runs'}'\n\n"
            "[train]\niterations = 3\nbatch_size = 2\nlog_every = 1\nsample_every = 0\ncheckpoint_every = 2\n"
            "eval_items = 2\neval_metrics = []\n\n"
            f"[method]\ntype = \"{self.method}\"\n\n"
            + (f"[data]\n{self.data}\n" if self.data else
               f"[data]\ntype = \"procedural\"\nimage_size = {self.size}\ntrain_size = 8\ntest_size = 2\n"
               f"paired_train = {'true' if paired else 'false'}\n"))
        return load_recipe(path, [*self.overrides, *more])

    def _fit(self, tmp_path: Path, run_dir: Path, *more: str, resume: bool = False) -> Any:
        from ganzoo.engine.trainer import Trainer

        return Trainer(self._recipe(tmp_path, *more), run_dir=run_dir, resume=resume, show_progress=False).fit()

    def test_builds_from_its_defaults(self, ganzoo_registry: Any) -> None:
        spec = ganzoo_registry.get("method", self.method)
        config = spec.make_config()  # every field has a default
        assert spec.cls.slots, "a method declares the components it composes"
        assert set(spec.cls.directions) <= {"a2b", "b2a"} and spec.cls.directions
        assert config.optimizer.lr > 0

    def test_every_step_runs_forward_and_backward(self, tmp_path: Path) -> None:
        import torch

        resolved = self._recipe(tmp_path)
        method = resolved.build_method().train()
        data = resolved.build_dataset("train")
        batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("A", "B")}
        groups = method.param_groups()
        for step in method.train_steps():
            method.zero_grad(set_to_none=True)
            losses = dict(step.compute(batch))
            assert losses, f"step {step.name} returned no loss terms"
            assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values()), losses
            sum(losses.values()).backward()
            for name in step.optimizers:
                assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in groups[name]), \
                    f"step {step.name} gives its optimizer {name} no gradient"

    def test_one_engine_iteration_trains_and_checkpoints(self, tmp_path: Path) -> None:
        import math

        result = self._fit(tmp_path, tmp_path / "one", "train.iterations=1")
        assert result.step == 1 and result.losses and all(math.isfinite(v) for v in result.losses.values())
        assert (result.run_dir / "checkpoints" / "final" / "model.safetensors").is_file()

    def test_an_interrupted_run_resumes_exactly(self, tmp_path: Path) -> None:
        import shutil

        import torch
        from safetensors.torch import load_file

        straight = self._fit(tmp_path, tmp_path / "straight").run_dir
        crashed = tmp_path / "crashed"  # as if killed after the checkpoint of step 2
        shutil.copytree(straight, crashed)
        shutil.rmtree(crashed / "checkpoints" / "final")
        (crashed / "checkpoints" / "latest").write_text("step_0000002")
        self._fit(tmp_path, crashed, resume=True)
        a = load_file(straight / "checkpoints" / "final" / "model.safetensors")
        b = load_file(crashed / "checkpoints" / "final" / "model.safetensors")
        assert a.keys() == b.keys()
        assert [k for k in a if not torch.equal(a[k], b[k])] == []

    def test_weights_round_trip_through_safetensors(self, tmp_path: Path) -> None:
        import torch

        from ganzoo.engine import checkpoint as ckpt

        resolved = self._recipe(tmp_path)
        torch.manual_seed(0)
        saved = resolved.build_method()
        ckpt.save_checkpoint(tmp_path / "c", step=0, model=saved, state={}, meta={})
        torch.manual_seed(1)
        loaded = resolved.build_method()
        ckpt.load_weights(tmp_path / "c", loaded)
        want = saved.state_dict()
        assert [k for k, v in loaded.state_dict().items() if not torch.equal(v, want[k])] == []

    def test_translates_an_odd_sized_image_in_each_direction(self, tmp_path: Path) -> None:
        import torch

        from ganzoo.inference import Translator

        resolved = self._recipe(tmp_path)
        method = resolved.build_method().eval()
        for direction in method.directions:
            translator = Translator.from_method(method, direction)
            x = torch.rand(2, translator.in_channels, self.size + 3, self.size - 3) * 2 - 1
            y = translator(x)
            assert y.shape == (2, translator.out_channels, *(side * self.scale for side in x.shape[-2:]))
            assert torch.isfinite(y).all() and y.abs().max() <= 1

    def test_exports_to_torchscript(self, tmp_path: Path) -> None:
        from ganzoo.export import export_translation

        method = self._recipe(tmp_path).build_method()
        for direction in method.directions:
            result = export_translation(method, tmp_path / f"{direction}.pt", fmt="torchscript", direction=direction,
                                        size=self.size)
            assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4, result
