import os
from pathlib import Path

import pytest
import torch

# The tests use tiny tensors, for which one thread is fastest; it also keeps a busy 2-core
# machine from stalling in OpenMP barriers (25x slower under contention, measured).
torch.set_num_threads(1)


@pytest.fixture
def on_step_call(monkeypatch):
    """Make the n-th call of a CycleGAN step misbehave, to test the engine's reaction:
    ``before()`` runs just before that call, ``after(losses)`` may change what it returns."""
    from ganzoo_cyclegan.method import CycleGAN

    def install(method: str, n: int, before=None, after=None) -> None:
        original = getattr(CycleGAN, method)
        calls = {"n": 0}

        def wrapped(self, batch):
            calls["n"] += 1
            if calls["n"] == n and before:
                before()
            losses = original(self, batch)
            if calls["n"] == n and after:
                after(losses)
            return losses

        monkeypatch.setattr(CycleGAN, method, wrapped)

    return install


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One CycleGAN run of 2 iterations on 16 px built-in data with 6 paired test items, trained
    once per session and shared by the tests that only read a run (translate, evaluate, export):
    trained weights, nothing learned."""
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe
    from ganzoo.testing import TINY_RECIPE

    root = tmp_path_factory.mktemp("tiny_run")
    path = root / "tiny.toml"
    path.write_text(TINY_RECIPE.replace('name = "tiny"', f"name = \"tiny\"\nout_dir = '{root / 'runs'}'"))
    resolved = load_recipe(path, ["train.iterations=2", "train.sample_every=0", "train.checkpoint_every=0",
                                  "data.test_size=6"])
    return Trainer(resolved, show_progress=False).fit().run_dir

# --------------------------------------------------------------------------- reference fixtures

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
"""Files made with the reference implementations, in the ``shared/`` folder beside the checkout."""
REQUIRE_FIXTURES_ENV = "GANZOO_REQUIRE_FIXTURES"
"""Set by ``make test`` (what CI runs): a missing reference fixture is then a failure, not a skip."""


def locate_reference_fixture(name: str, directory: Path = SHARED_FIXTURES) -> Path:
    """The path of a reference fixture. Missing: the test skips in a clone without ``../shared``,
    but fails when $GANZOO_REQUIRE_FIXTURES is set, so that CI cannot pass without running the
    reference parity tests."""
    path = Path(directory) / name
    if path.exists():
        return path
    if os.environ.get(REQUIRE_FIXTURES_ENV, "") not in ("", "0"):
        pytest.fail(f"reference fixture {path} not available, and {REQUIRE_FIXTURES_ENV} is set: "
                    "the reference parity tests must run (is shared/ beside the checkout?)", pytrace=False)
    pytest.skip(f"reference fixture {path} not available")


@pytest.fixture
def reference_fixture():
    """:func:`locate_reference_fixture`, for the tests that compare with the reference code."""
    return locate_reference_fixture
