"""Evaluation during training on unpaired data: FID/KID by default when the Inception weights are
there (the best checkpoint then follows a2b/fid, lower being better), one clear warning at start
when they are not. The Inception network is the seeded random one (no weights can be downloaded
in tests), made tiny through ``train.eval_options``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import torch
from rich.console import Console

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.evaluation import Evaluator
from ganzoo.engine.runtime import Runtime
from ganzoo.engine.trainer import Trainer
from ganzoo.recipe import load_recipe, read_toml
from ganzoo.testing import write_unpaired_folders

TINY_INCEPTION = "random_weights = true, resize = 75, dims = 64"
"""A seeded random Inception, fast: no weights can be downloaded in tests."""


@pytest.fixture
def unpaired_recipe(tiny_recipe, tmp_path, monkeypatch):
    """The tiny recipe on folders of unpaired 16 px images, and an empty torch hub cache."""
    write_unpaired_folders(tmp_path / "data", n=4, n_test=6)
    text = tiny_recipe.read_text()
    data = text[text.index("[data]"):text.index("[generator]")]
    tiny_recipe.write_text(text.replace(data, f"[data]\ntype = \"unpaired_folders\"\nroot = '{tmp_path / 'data'}'\n"
                                              "load_size = 16\ncrop_size = 16\n\n"))
    for var in ("GANZOO_INCEPTION_WEIGHTS", "GANZOO_LPIPS_BACKBONE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tiny_recipe


def fit(recipe, run_dir, *overrides):
    stream = StringIO()
    console = Console(file=stream, width=400)
    result = Trainer(load_recipe(recipe, list(overrides)), run_dir=run_dir, show_progress=False,
                     console=console).fit()
    return result, stream.getvalue()


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_unpaired_run_without_weights_says_once_what_it_will_not_measure(unpaired_recipe, tmp_path):
    result, output = fit(unpaired_recipe, tmp_path / "run", "train.iterations=2", "train.eval_every=1")
    warnings = [line for line in output.splitlines() if "will not be measured" in line]
    assert len(warnings) == 1
    assert "fid and kid will not be measured during training" in warnings[0]
    assert "ganzoo weights fetch inception" in warnings[0]
    assert result.evaluations == [] and not (result.run_dir / "checkpoints" / "best").exists()
    saved = read_toml(result.run_dir / "recipe.toml")["train"]
    assert saved["eval_metrics"] == ["fid", "kid"]  # fetch the weights, resume, and they are measured
    assert "best_metric" not in saved


def test_unpaired_run_is_evaluated_with_fid_and_keeps_the_lowest(unpaired_recipe, tmp_path):
    with unpaired_recipe.open("a") as f:
        f.write(f"\n[train.eval_options]\nfid = {{ {TINY_INCEPTION}, sqrt_method = 'eigh' }}\n"
                f"kid = {{ {TINY_INCEPTION} }}\n")
    result, output = fit(unpaired_recipe, tmp_path / "run", "train.iterations=4", "train.eval_every=1")
    assert "will not be measured" not in output
    steps = [e["step"] for e in result.evaluations]
    assert steps == [0, 1, 2, 3, 4]
    assert all({"a2b/fid", "b2a/fid", "a2b/kid", "b2a/kid"} <= set(e) for e in result.evaluations)
    assert [r["step"] for r in records(result.run_dir) if "eval/a2b/fid" in r] == steps
    trained = [e for e in result.evaluations if e["step"] > 0]
    lowest = min(trained, key=lambda e: e["a2b/fid"])
    best = ckpt.load_state(result.run_dir / "checkpoints" / "best")["best"]
    assert best == {"metric": "a2b/fid", "value": lowest["a2b/fid"], "step": lowest["step"]}
    saved = read_toml(result.run_dir / "recipe.toml")["train"]
    assert (saved["eval_metrics"], saved["best_metric"], saved["best_mode"]) == (["fid", "kid"], "a2b/fid", "min")


def test_with_the_weights_in_place_unpaired_defaults_are_fid_and_kid(unpaired_recipe, tmp_path, monkeypatch):
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"PK\x03\x04 a stand-in: build() only checks that the file is there")
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(weights))
    resolved = load_recipe(unpaired_recipe)
    warned = []
    evaluator = Evaluator.build(resolved, Runtime.start("cpu", "fp32"), ("a2b", "b2a"), warn=warned.append)
    assert evaluator is not None and list(evaluator.metrics) == ["fid", "kid"] and warned == []
    assert (resolved.train.best_metric, resolved.train.best_mode) == ("a2b/fid", "min")


def test_paired_defaults_and_explicit_choices_are_kept(tiny_recipe):
    resolved = load_recipe(tiny_recipe)  # procedural data: a paired test split
    evaluator = Evaluator.build(resolved, Runtime.start("cpu", "fp32"), ("a2b", "b2a"))
    assert list(evaluator.metrics) == ["psnr", "ssim"]
    assert (resolved.train.best_metric, resolved.train.best_mode) == ("a2b/psnr", "max")
    resolved = load_recipe(tiny_recipe, ["train.eval_metrics=['ssim']", "train.best_metric='b2a/ssim'",
                                         "train.best_mode='min'"])
    Evaluator.build(resolved, Runtime.start("cpu", "fp32"), ("a2b", "b2a"))
    assert (resolved.train.eval_metrics, resolved.train.best_metric, resolved.train.best_mode) == (
        ["ssim"], "b2a/ssim", "min")


DISTANCE_METRIC = '''\
import ganzoo

VALUES = [9.0, 4.0, 6.0, 2.0, 3.0]  # a2b scores of steps 0..4, lower is better


class Distance(ganzoo.Metric):
    """A plugin's distribution score, lower is better, that needs no pairs (as FID)."""

    higher_is_better = {"dist": False}
    calls = 0

    def reset(self):
        pass

    def update(self, output, target=None):
        pass

    def compute(self):
        Distance.calls += 1
        return {"dist": VALUES[(Distance.calls - 1) // 2]}


@ganzoo.hookimpl
def register_components(registrar):
    registrar.metric("dist", Distance)
'''


def test_a_plugin_distance_on_unpaired_data_keeps_its_lowest_without_being_told(unpaired_recipe, tmp_path,
                                                                                fake_distribution):
    from ganzoo import plugins

    fake_distribution("ganzoo-dist", {"dist_metric": DISTANCE_METRIC}, {"dist": "dist_metric"})
    plugins.reset()
    try:
        result, output = fit(unpaired_recipe, tmp_path / "run", "train.iterations=4", "train.eval_every=1",
                             "train.eval_metrics=['dist']")
    finally:
        plugins.reset()
    assert [e["a2b/dist"] for e in result.evaluations] == [9.0, 4.0, 6.0, 2.0, 3.0]
    best = ckpt.load_state(result.run_dir / "checkpoints" / "best")["best"]
    assert best == {"metric": "a2b/dist", "value": 2.0, "step": 3}  # chosen and judged lower-is-better by itself
    assert "will not be measured" not in output
