"""The health monitor: each rule fires on a synthetic trace that shows its problem and stays quiet
on a healthy one; warnings come once per episode; the monitor logs its signals without changing
training; a rule can stop a run; ``ganzoo doctor`` diagnoses a crashed run from its log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganzoo.engine.health_rules import HealthConfig, diagnose


def healthy(step: int, **changes: float) -> dict:
    """One health record of a run that trains well (values as the quickstart logs them)."""
    record = {"step": step, "event": "health", "kind": "health", "gan_slot": "gan_loss", "lr/G": 2e-4, "lr/D": 2e-4,
              "loss/G": 6.0 - step / 400, "g_step": "G", "share/G/G_A": 0.1, "share/G/cycle_A": 0.4, "loss/D": 0.4,
              "grad/G": 40.0,
              "grad/D": 4.0, "d/D_A/real": 0.6, "d/D_A/fake": 0.35, "d/D_A/gap": 0.25, "d/D_A/acc": 0.7,
              "d/D_A/loss": 0.4, "probe/a2b/diversity": 0.9, "probe/a2b/identity": 1.1}
    record.update(changes)
    return record


def trace(n: int = 12, every: int = 20, bad_from: int | None = None, **bad: float) -> list[dict]:
    return [healthy(i * every, **(bad if bad_from is not None and i * every >= bad_from else {}))
            for i in range(1, n + 1)]


def episodes(records: list[dict], **kw) -> list:
    return diagnose(records, HealthConfig(), **kw).episodes


def test_a_healthy_trace_raises_nothing() -> None:
    evals = [{"step": s, "eval/a2b/psnr": 10 + s / 100} for s in range(0, 400, 40)]
    assert episodes(sorted(trace(20) + evals, key=lambda r: r["step"]), best_metric="a2b/psnr") == []


@pytest.mark.parametrize(("rule", "bad"), [
    ("d_dominating", {"d/D_A/acc": 0.9, "d/D_A/gap": 0.98, "d/D_A/loss": 0.004, "grad/G": 0.5}),
    ("collapse", {"probe/a2b/diversity": 0.03}),
    ("identity", {"probe/a2b/identity": 0.05, "share/G/idt_A": 0.8}),
])
def test_each_rule_fires_on_its_problem_once_with_the_step_it_began(rule: str, bad: dict) -> None:
    found = episodes(trace(12, bad_from=100, **bad))
    assert [e.rule for e in found] == [rule]
    assert found[0].start == 100  # the first of the window's records, not the one that completed it
    assert found[0].end is None and found[0].last == 240
    assert any(a.startswith("--set ") for a in found[0].advice)


def test_a_rule_must_hold_for_a_whole_window() -> None:
    records = trace(12)
    records[5]["probe/a2b/diversity"] = records[6]["probe/a2b/diversity"] = 0.01  # two windows: a blip
    assert episodes(records) == []
    records[7]["probe/a2b/diversity"] = 0.01
    assert [e.start for e in episodes(records)] == [records[5]["step"]]


def test_an_episode_ends_and_a_new_one_warns_again() -> None:
    records = trace(16)
    for i in [*range(2, 6), *range(10, 14)]:
        records[i]["probe/a2b/diversity"] = 0.01
    found = episodes(records)
    # end: the step of the first quiet record
    assert [(e.rule, e.start, e.end) for e in found] == [("collapse", 60, 140), ("collapse", 220, 300)]


def test_divergence_fires_on_a_growing_loss_and_names_it() -> None:
    records = trace(12)
    for i, r in enumerate(records[4:], 1):
        r["grad/D"] = 4.0 * 3**i
    found = episodes(records)
    assert [e.rule for e in found] == ["divergence"]
    assert "grad/D" in found[0].saw and "--set method.lr_by_group.D=5e-05" in found[0].advice


def test_d_dominating_suggests_a_lower_lr_from_the_runs_own() -> None:
    found = episodes(trace(6, bad_from=0, **{"lr/D": 0.01, "d/D_A/acc": 1.0, "d/D_A/loss": 0.0001}))
    assert "--set method.lr_by_group.D=0.0025" in found[0].advice
    assert "G's largest loss term is cycle_A (40% of G's loss)" in found[0].saw


def test_stall_fires_after_n_evaluations_without_a_new_best() -> None:
    records = trace(20)
    scores = [10.0, 11.0, 12.0, 11.5, 11.9, 11.0, 11.8, 12.0, 11.7]
    evals = [{"step": 40 * (i + 1), "eval/a2b/psnr": v} for i, v in enumerate(scores)]
    merged = sorted(records + evals, key=lambda r: (r["step"], "eval/a2b/psnr" in r))
    found = episodes(merged, best_metric="a2b/psnr")
    assert [(e.rule, e.start) for e in found] == [("stall", 320)]
    assert episodes(merged, best_metric="") == []  # no tracked metric: nothing to stall
    # lower is better: the first score, 10, is never beaten, so five evaluations later it stalls
    assert [(e.rule, e.start) for e in episodes(merged, best_metric="a2b/psnr", best_mode="min")] == [("stall", 240)]
    mirrored = [{**e, "eval/a2b/psnr": -e["eval/a2b/psnr"]} for e in evals]
    merged = sorted(records + mirrored, key=lambda r: (r["step"], "eval/a2b/psnr" in r))
    assert [(e.rule, e.start) for e in episodes(merged, best_metric="a2b/psnr", best_mode="min")] == [("stall", 320)]


# --------------------------------------------------------------------------- the monitor in a run


def _fit(tiny_recipe: Path, *overrides: str):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(tiny_recipe, ["train.sample_every=0", "train.checkpoint_every=0", *overrides])
    return Trainer(resolved, show_progress=False).fit()


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_monitor_logs_its_signals_and_leaves_training_unchanged(tiny_recipe: Path) -> None:
    on = _fit(tiny_recipe, "run.name=on")
    off = _fit(tiny_recipe, "run.name=off", "train.health.enabled=false")
    health = [r for r in _records(on.run_dir) if r.get("event") == "health"]
    assert [r["step"] for r in health] == [1, 2, 3, 4]
    keys = set(health[-1])
    assert {"d/D_A/acc", "d/D_B/gap", "d/D_A/loss", "grad/G", "grad/D", "share/G/cycle_A", "loss/G",
            "probe/a2b/diversity", "probe/b2a/identity", "lr/D"} <= keys
    assert 0.0 <= health[-1]["d/D_A/acc"] <= 1.0
    assert not any(r.get("event") == "health" for r in _records(off.run_dir))
    assert on.losses == off.losses  # the probe and the observers take no random numbers from training


def test_a_rule_whose_reaction_is_stop_stops_the_run_saved(tiny_recipe: Path, capsys) -> None:
    result = _fit(tiny_recipe, "train.health.collapse_ratio=100", "train.health.window=2",
                  "train.health.on_collapse='stop'")
    assert result.stopped_early and result.stop_signal is None and result.step == 2
    records = _records(result.run_dir)
    warning = next(r for r in records if r.get("event") == "health_warning")
    assert (warning["rule"], warning["start"], warning["reaction"]) == ("collapse", 1, "stop")
    assert next(r for r in records if r.get("event") == "interrupted")["health"] == "collapse since step 1"
    assert (result.run_dir / "checkpoints").is_dir()
    assert "Health warnings" in (result.run_dir / "index.html").read_text()


# --------------------------------------------------------------------------- ganzoo doctor


def _crashed_run(tmp_path: Path) -> Path:
    run = tmp_path / "crashed"
    run.mkdir()
    (run / "recipe.toml").write_text("[train]\nlog_every = 20\n[train.health]\nwindow = 2\n")
    lines = [{"step": 0, "event": "start", "total": 400}, {"step": 0, "eval/a2b/psnr": 7.5}]
    lines += trace(10, bad_from=120, **{"probe/a2b/diversity": 0.02})
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"step": 220, "G_A": 0.'  # cut by the crash
    (run / "metrics.jsonl").write_text(text)
    return run


def test_doctor_diagnoses_a_crashed_run(tmp_path: Path, ganzoo_cli) -> None:
    run = _crashed_run(tmp_path)
    result = ganzoo_cli("doctor", run, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["state"].startswith("crashed") and report["last_step"] == 200
    assert report["unreadable_lines"] == 1 and report["healthy"] is False
    assert [(e["rule"], e["start"], e["end"]) for e in report["episodes"]] == [("collapse", 120, None)]
    text = ganzoo_cli("doctor", run).output
    assert "collapse from step 120 still on at step 200" in text and "try: --set" in text
    # other settings judge the same log: the run's window of 2 records, then 4
    later = json.loads(ganzoo_cli("doctor", run, "--json", "--set", "window=4").stdout)
    assert [(e["rule"], e["start"]) for e in later["episodes"]] == [("collapse", 120)]
    assert json.loads(ganzoo_cli("doctor", run, "--json", "-s", "collapse_ratio=0.01").stdout)["healthy"]
    wrong = ganzoo_cli("doctor", run, "--set", "window=0")
    assert wrong.exit_code == 2 and "train.health settings: window" in wrong.output


def test_doctor_on_a_finished_healthy_run_and_on_a_folder_that_is_no_run(tmp_path: Path, ganzoo_cli) -> None:
    run = tmp_path / "fine"
    run.mkdir()
    lines = [{"step": 0, "event": "start"}, *trace(6), {"step": 120, "event": "end"}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = ganzoo_cli("doctor", run).output
    assert "finished at step 120" in out and "healthy" in out
    missing = ganzoo_cli("doctor", tmp_path / "nothing")
    assert missing.exit_code == 2 and "has no metrics.jsonl" in missing.output


@pytest.mark.parametrize(("recipe", "nets"), [
    ("unit_quickstart.toml", ["generator.dim=4", "discriminator.dim=4"]),
    ("pix2pix_quickstart.toml", ["generator.ngf=4", "discriminator.ndf=4"]),
])
def test_the_monitor_reads_every_built_in_method(tmp_path: Path, recipe: str, nets: list[str]) -> None:
    """Multi-scale discriminators (UNIT), one direction and pairs judged by D (pix2pix)."""
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    root = Path(__file__).resolve().parents[1] / "recipes"
    resolved = load_recipe(root / recipe, [f"run.out_dir='{tmp_path}'", "train.iterations=2", "train.log_every=1",
                                           "train.batch_size=2", "train.sample_every=0", "train.checkpoint_every=0",
                                           "train.eval_items=4", "data.train_size=8", "data.test_size=4", *nets])
    result = Trainer(resolved, show_progress=False).fit()
    health = [r for r in _records(result.run_dir) if r.get("event") == "health"][-1]
    d_names = {k.split("/")[1] for k in health if k.startswith("d/") and k.endswith("/acc")}
    assert d_names == ({"dis_a", "dis_b"} if "unit" in recipe else {"D"})
    assert all(f"d/{n}/loss" in health for n in d_names)
    assert "probe/a2b/diversity" in health
    assert ("probe/b2a/diversity" in health) == ("unit" in recipe)  # pix2pix translates A->B only
    # both methods step D first: the generators' step is found as the one that trains no D
    assert health["g_step"] == "G" and any(k.startswith("share/G/") for k in health)


class _Fixed(torch.nn.Module):
    """A 'method' whose translation is a given function: the probe signals of known cases."""

    directions = ("a2b",)

    def __init__(self, fn):
        super().__init__()
        self.fn, self.w = fn, torch.nn.Parameter(torch.zeros(()))

    def translate(self, x, direction="a2b"):
        return self.fn(x)


@pytest.mark.parametrize(("fn", "diversity", "identity"), [
    (lambda x: x, 1.0, 0.0),                                    # the identity
    (lambda x: torch.zeros_like(x) - 0.6, 0.0, None),           # one B-like output for every input: collapse
    (lambda x: -x, 1.0, None),                                  # diverse and far from the input
])
def test_probe_signals_of_known_generators(fn, diversity, identity) -> None:
    from ganzoo.engine.health import HealthMonitor

    g = torch.Generator().manual_seed(0)
    probe = {"A": torch.rand(6, 3, 8, 8, generator=g) * 0.5 + 0.4, "B": torch.rand(6, 3, 8, 8, generator=g) * 0.5 - 0.9}
    monitor = HealthMonitor(_Fixed(fn), None, HealthConfig(), None, probe=probe, rules={})
    signals = monitor._probe_signals()
    assert signals["probe/a2b/diversity"] == pytest.approx(diversity, abs=1e-3)
    if identity is not None:
        assert signals["probe/a2b/identity"] == pytest.approx(identity, abs=1e-3)
    else:
        assert signals["probe/a2b/identity"] > 0.5
