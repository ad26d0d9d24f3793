"""The health monitor's rollback reaction: a rule whose ``on_<rule>`` is ``"rollback"`` sends the
run back to the last checkpoint before its episode, lowers the group's lr for good (checkpoints
and resumes keep it), logs it, and trains on; ``max_rollbacks`` and a missing checkpoint stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganzoo.engine import health_rules
from ganzoo.engine.health_rules import Finding, HealthConfig, diagnose
from ganzoo.engine.outputs import JsonlLog


def _force(monkeypatch: pytest.MonkeyPatch, fire, group: str | None = "G") -> list[int]:
    """Replace the collapse rule by one that fires on the health records ``fire(step)`` picks;
    returns the steps it fired at."""
    fired: list[int] = []

    def rule(ctx):
        step = int(ctx.latest["step"])
        if fire(step, fired):
            fired.append(step)
            return Finding(f"forced at {step}", ("--set method.lr_by_group.G=1e-4",), group=group)
        return None

    monkeypatch.setitem(health_rules.BUILTIN_RULES, "collapse", rule)
    return fired


def _trainer(tiny_recipe: Path, *overrides: str, resume: bool = False):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(tiny_recipe, ["train.sample_every=0", "train.eval_every=0", "train.health.window=1",
                                         "train.health.on_collapse='rollback'", "train.checkpoint_every=2",
                                         "train.iterations=8", *overrides])
    return Trainer(resolved, show_progress=False, resume=resume)


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_rollback_restores_the_checkpoint_before_the_episode_lowers_the_lr_and_trains_on(
        tiny_recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys, ganzoo_cli) -> None:
    fired = _force(monkeypatch, lambda step, fired: step == 5 and not fired)
    trainer = _trainer(tiny_recipe, "train.health.rollback_factor=0.25")
    result = trainer.fit()
    assert fired == [5]
    assert not result.stopped_early and result.step == 8
    records = _records(result.run_dir)
    event = next(r for r in records if r.get("event") == "health_rollback")
    assert (event["kind"], event["rule"], event["from_step"], event["to_step"], event["group"]) == (
        "health", "collapse", 5, 4, "G")
    assert event["checkpoint"] == "step_0000004" and event["count"] == 1
    assert event["new_lr"]["G"] == pytest.approx(0.25 * event["old_lr"]["G"])
    assert set(event["old_lr"]) == {"G"}  # only the group the rule named
    # the steps after the restored one are trained again: 5 is logged twice, around the rollback
    steps = [r["step"] for r in records if r.get("event") == "health"]
    assert steps == [1, 2, 3, 4, 5, 5, 6, 7, 8]
    # G's base rate (so its schedule) is lowered for good; D's is untouched
    bases = {g: s.base_lrs[0] for g, s in trainer.runner.schedulers.items()}
    assert bases["G"] == pytest.approx(0.25 * bases["D"])
    health = [r for r in records if r.get("event") == "health"]
    assert [round(r["lr/G"] / r["lr/D"], 6) for r in health[:5]] == [1.0] * 5  # before, and after:
    assert [round(r["lr/G"] / r["lr/D"], 6) for r in health[5:7]] == [0.25] * 2  # the schedule from the lower base
    err = capsys.readouterr().err
    assert "rolled back from step 5 to step 4" in err and "lr/G" in err
    # the rules and ganzoo doctor read the log alike: one rollback, the episode ended by it
    fired.clear()  # the forced rule fires again on the replay's first step 5
    tracker = diagnose(records, HealthConfig(window=1), rules={"collapse": health_rules.BUILTIN_RULES["collapse"]})
    assert tracker.rollbacks == 1 and [(e.start, e.end) for e in tracker.episodes] == [(5, 5)]
    report = json.loads(ganzoo_cli("doctor", result.run_dir, "--json").stdout)
    assert [(r["from_step"], r["to_step"], r["group"]) for r in report["rollbacks"]] == [(5, 4, "G")]
    assert "rolled back from step 5 to step 4 for collapse: lr/G" in ganzoo_cli("doctor", result.run_dir).output


def test_resume_after_a_rollback_keeps_the_lowered_lr_and_the_count(tiny_recipe: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _force(monkeypatch, lambda step, fired: step == 3 and not fired, group="D")
    first = _trainer(tiny_recipe)
    first.fit()
    lowered = first.runner.schedulers["D"].base_lrs[0]
    assert lowered == pytest.approx(0.5 * first.runner.schedulers["G"].base_lrs[0])
    resumed = _trainer(tiny_recipe, "train.iterations=10", resume=True)
    result = resumed.fit()
    assert result.step == 10
    assert resumed.runner.schedulers["D"].base_lrs[0] == pytest.approx(lowered)
    last = [r for r in _records(result.run_dir) if r.get("event") == "health"][-2]  # step 9: the lr is not 0 yet
    assert last["step"] == 9 and last["lr/D"] / last["lr/G"] == pytest.approx(0.5)
    assert resumed.health.tracker.rollbacks == 1  # replayed from the log: counts towards max_rollbacks
    assert sum(r.get("event") == "health_rollback" for r in _records(result.run_dir)) == 1


def test_max_rollbacks_then_the_run_stops_saved(tiny_recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fired = _force(monkeypatch, lambda step, fired: step >= 3)  # the problem never goes away
    trainer = _trainer(tiny_recipe, "train.health.max_rollbacks=2")
    result = trainer.fit()
    assert fired == [3, 3, 3]  # two rollbacks to step 2, then the third firing stops the run
    assert result.stopped_early and result.stop_signal is None and result.step == 3
    records = _records(result.run_dir)
    assert [r["count"] for r in records if r.get("event") == "health_rollback"] == [1, 2]
    reason = next(r for r in records if r.get("event") == "interrupted")["health"]
    assert "max_rollbacks = 2" in reason
    base_g, base_d = (trainer.runner.schedulers[g].base_lrs[0] for g in ("G", "D"))
    assert base_g == pytest.approx(0.25 * base_d)  # lowered twice, the second time from the first's rate


def test_without_a_checkpoint_before_the_episode_it_stops_and_says_so(tiny_recipe: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys) -> None:
    _force(monkeypatch, lambda step, fired: step == 3)
    result = _trainer(tiny_recipe, "train.checkpoint_every=0").fit()
    assert result.stopped_early and result.step == 3
    reason = next(r for r in _records(result.run_dir) if r.get("event") == "interrupted")["health"]
    assert "no checkpoint before step 3" in reason
    assert "cannot roll back for collapse" in capsys.readouterr().err


def test_a_resume_keeps_the_log_from_before_a_rollback(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "metrics.jsonl")
    for record in [{"step": 5, "event": "health"}, {"step": 6, "event": "health"},
                   {"step": 4, "event": "health_rollback", "to_step": 4}, {"step": 5, "event": "health"}]:
        log.write(record)
    log.truncate_after(4)  # a crash after the checkpoint of step 4 that the rollback wrote
    assert [(r["step"], r["event"]) for r in log.records()] == [(5, "health"), (6, "health"), (4, "health_rollback")]
