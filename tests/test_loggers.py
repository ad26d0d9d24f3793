"""The loggers behind ``train.loggers`` (TensorBoard, CSV, W&B) and the ``kind`` of every
``metrics.jsonl`` line."""

from __future__ import annotations

import csv
import json
import sys
from io import StringIO

import pytest
from rich.console import Console

from ganzoo.engine.loggers import CSVLogger, LoggerContext, build_loggers
from ganzoo.engine.outputs import JsonlLog, loss_series, record_kind
from ganzoo.engine.trainer import Trainer
from ganzoo.errors import RecipeError
from ganzoo.recipe import load_recipe


def fit(recipe, run_dir, *overrides, resume=False):
    stream = StringIO()
    result = Trainer(load_recipe(recipe, list(overrides)), run_dir=run_dir, show_progress=False, resume=resume,
                     console=Console(file=stream, width=300)).fit()
    return result, stream.getvalue()


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def csv_rows(run_dir):
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.reader(f))


def test_every_log_line_has_a_kind(tiny_recipe, tmp_path):
    result, _ = fit(tiny_recipe, tmp_path / "run", "train.loggers=[]")
    recs = records(result.run_dir)
    assert all(list(r)[:2] == ["kind", "step"] for r in recs)  # kind first, then step
    kinds = {r["kind"] for r in recs}
    assert kinds == {"event", "eval", "train", "speed", "samples", "checkpoint", "health"}
    assert [r["name"] for r in recs if r["kind"] == "checkpoint"] == ["step_0000002", "final"]
    assert [r["path"] for r in recs if r["kind"] == "checkpoint"][-1] == "checkpoints/final"
    assert all("G_A" in r for r in recs if r["kind"] == "train")
    assert all(k.startswith("eval/") for r in recs if r["kind"] == "eval" for k in r if k not in ("kind", "step"))


def test_the_writer_takes_any_kind_and_old_logs_are_read(tmp_path):
    log = JsonlLog(tmp_path / "metrics.jsonl")
    log.write({"step": 3, "d_gap": 0.5, "rule": "collapse"}, kind="health")
    log.write({"step": 4, "kind": "health", "d_gap": 0.7})
    log.write({"step": 4, "G": 1.0})
    assert [(r["kind"], r["step"]) for r in log.records()] == [("health", 3), ("health", 4), ("train", 4)]
    assert loss_series(log.records()) == {"G": [(4, 1.0)]}  # numbers of other kinds are not losses
    old = [{"step": 1, "event": "start"}, {"step": 1, "event": "speed", "it_s": 2.0}, {"step": 1, "G": 1.0},
           {"step": 1, "eval/a2b/psnr": 20.0}]
    assert [record_kind(r) for r in old] == ["event", "speed", "train", "eval"]


def test_csv_logger_writes_long_rows_and_a_resumed_run_drops_what_came_after_its_checkpoint(tiny_recipe, tmp_path):
    result, _ = fit(tiny_recipe, tmp_path / "run", "train.loggers=['csv']")
    rows = csv_rows(result.run_dir)
    assert rows[0] == ["step", "name", "value"]
    g_a = {int(s): float(v) for s, n, v in rows[1:] if n == "G_A"}
    train = [r for r in records(result.run_dir) if r["kind"] == "train"]
    assert g_a == {r["step"]: pytest.approx(r["G_A"], abs=1e-6) for r in train}
    assert {n for _, n, _ in rows[1:]} >= {"lr/G", "eval/a2b/psnr", "speed/it_s"}
    # a crash after step 2's checkpoint: the resumed run rewrites steps 3 and 4 once
    context = LoggerContext(result.run_dir, resume_step=2)
    CSVLogger(context).close()
    assert max(int(r[0]) for r in csv_rows(result.run_dir)[1:]) == 2


def test_a_requested_logger_that_is_not_installed_is_one_warning(tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails, as when not installed
    result, output = fit(tiny_recipe, tmp_path / "run", "train.loggers=['tensorboard', 'csv']")
    warnings = [line for line in output.splitlines() if "train.loggers" in line]
    assert warnings == ["warning: train.loggers: tensorboard is not installed, so the run logs nothing to it: "
                        "pip install 'ganzoo[tensorboard]' (or set train.loggers = [])"]
    assert (result.run_dir / "metrics.csv").is_file() and not (result.run_dir / "tensorboard").exists()
    warned = []
    assert build_loggers(["tensorboard"], LoggerContext(tmp_path), warned.append) == [] and len(warned) == 1


def test_the_default_logger_is_tensorboard_where_installed_and_else_csv_without_a_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails, as when not installed
    warned = []
    (logger,) = build_loggers(["auto"], LoggerContext(tmp_path), warned.append)
    logger.close()
    assert isinstance(logger, CSVLogger) and warned == []


def test_logger_names_are_checked_and_the_old_tensorboard_flag_still_reads(tiny_recipe, tmp_path):
    with pytest.raises(RecipeError, match=r"unknown logger 'tensorbord' \(known: tensorboard, csv, wandb"):
        load_recipe(tiny_recipe, ["train.loggers=['tensorbord']"])
    assert load_recipe(tiny_recipe).train.loggers == ["auto"]
    assert load_recipe(tiny_recipe, ["train.tensorboard=false"]).train.loggers == []
    assert load_recipe(tiny_recipe, ["train.tensorboard=true"]).train.loggers == ["tensorboard"]
    text = tiny_recipe.read_text().replace("[train]\n", "[train]\ntensorboard = false\nloggers = ['csv']\n")
    tiny_recipe.write_text(text)
    assert load_recipe(tiny_recipe).train.loggers == ["csv"]


def test_wandb_offline_gets_the_run(tiny_recipe, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result, output = fit(tiny_recipe, tmp_path / "run", "train.loggers=['wandb']")
    run_id = (result.run_dir / "wandb-id.txt").read_text().strip()
    runs = list((result.run_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), output
    assert len(list(runs[0].glob("files/media/images/samples_*.png"))) == 2  # the grids of steps 2 and 4
    assert "train.loggers" not in output
