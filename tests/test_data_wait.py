"""The run log reports the loader's throughput next to training's, and warns when training waits."""

from __future__ import annotations

import io
import json
import time

from rich.console import Console

from ganzoo.data.procedural import ProceduralDataset
from ganzoo.engine.trainer import Trainer
from ganzoo.recipe import load_recipe


def speed_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "speed"]


def test_a_slow_loader_is_reported_and_warned_about(tiny_recipe, tmp_path, monkeypatch):
    original = ProceduralDataset.__getitem__

    def slow(self, index):
        time.sleep(0.15)
        return original(self, index)

    monkeypatch.setattr(ProceduralDataset, "__getitem__", slow)
    out = io.StringIO()
    overrides = ["train.iterations=3", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0",
                 "train.eval_metrics=[]"]
    Trainer(load_recipe(tiny_recipe, overrides), run_dir=tmp_path / "slow", show_progress=False,
            console=Console(file=out, width=400)).fit()
    speed = speed_records(tmp_path / "slow")
    assert len(speed) == 3 and all(0 < r["data_wait"] <= 1 and r["loader_it_s"] > 0 for r in speed)
    assert speed[-1]["data_wait"] > 0.2  # two items per batch at 0.15 s each, against a tiny network's step
    text = out.getvalue()
    assert text.count("training waited for data") == 1 and "train.num_workers is 0: raise it" in text


def test_a_loader_that_keeps_up_is_not_warned_about(tiny_recipe, tmp_path):
    out = io.StringIO()
    overrides = ["train.iterations=3", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0",
                 "train.eval_metrics=[]"]
    Trainer(load_recipe(tiny_recipe, overrides), run_dir=tmp_path / "fast", show_progress=False,
            console=Console(file=out, width=400)).fit()
    assert all("data_wait" in r for r in speed_records(tmp_path / "fast"))
    assert "training waited for data" not in out.getvalue()
