"""ganzoo resume RUN_DIR --set train.iterations=N: a finished run trains on, its learning rate
following the schedule of an N-iteration run; keys that would change what the run trains are
refused."""

from __future__ import annotations

import json

import pytest

from ganzoo.engine.trainer import Trainer
from ganzoo.optim import lr_factor
from ganzoo.recipe import load_recipe, read_toml


@pytest.fixture
def finished(ganzoo_cli, tiny_recipe, tmp_path):
    """A 4-iteration run (linear decay from step 2 to 0 at step 4), finished."""
    run_dir = tmp_path / "run"
    result = ganzoo_cli("run", tiny_recipe, "--out", run_dir, "--no-progress", "-s", "train.sample_every=0")
    assert result.exit_code == 0, result.stderr
    return run_dir


def lrs(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {line["step"]: line["lr/G"] for line in lines if "lr/G" in line}


def test_extending_a_finished_run_follows_the_longer_schedule(ganzoo_cli, finished):
    assert lrs(finished)[4] == 0.0  # the finished run had decayed to 0
    # the next iteration's rate is the 8-iteration schedule's at step 4, not the finished one's 0
    resolved = load_recipe(finished / "recipe.toml", ["train.iterations=8"])
    trainer = Trainer(resolved, run_dir=finished, resume=True, show_progress=False)
    trainer.setup()
    trainer.state.restore()
    assert trainer.runner.learning_rates()["lr/G"] == pytest.approx(2e-4 * lr_factor(
        resolved.method.config.schedule, 4, 8)) == pytest.approx(2e-4)
    trainer.runtime.close()

    result = ganzoo_cli("resume", finished, "--set", "train.iterations=8", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "extended from 4 to 8 iterations: the learning rate follows the schedule of a 8-iteration run" \
        in result.stderr
    assert "finished at step 8" in result.stdout
    rates = lrs(finished)
    assert rates[5] == pytest.approx(2e-4 * 0.75) and rates[8] == 0.0
    assert read_toml(finished / "recipe.toml")["train"]["iterations"] == 8
    assert json.loads((finished / "checkpoints" / "final" / "meta.json").read_text())["total"] == 8
    # the run now has 8 iterations: a plain resume says nothing of an extension
    again = ganzoo_cli("resume", finished, "--no-progress")
    assert again.exit_code == 0 and "extended" not in again.stderr and "finished at step 8" in again.stdout


def test_resume_refuses_a_shorter_run_and_unsafe_keys(ganzoo_cli, finished):
    result = ganzoo_cli("resume", finished, "--set", "train.iterations=2")
    assert result.exit_code == 2
    assert "is at step 4, past this run's length of 2 iterations" in result.stderr
    result = ganzoo_cli("resume", finished, "-s", "method.optimizer.lr=1e-3", "-s", "train.sample_every=2",
                        "-s", "data.image_size=32")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "error: --set #1: method.optimizer.lr: cannot change when resuming" in lines
    assert "error: --set #3: data.image_size: cannot change when resuming" in lines
    assert not any("train.sample_every: cannot" in line for line in lines)
    assert f"start a new run from its recipe: ganzoo run {finished}/recipe.toml --set ... --out NEW_DIR" \
        in result.stderr
    assert read_toml(finished / "recipe.toml")["train"]["iterations"] == 4, "nothing changed"


def test_reporting_keys_may_change_on_resume(ganzoo_cli, finished):
    result = ganzoo_cli("resume", finished, "-s", "train.iterations=5", "-s", "train.log_every=5", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert read_toml(finished / "recipe.toml")["train"]["log_every"] == 5
