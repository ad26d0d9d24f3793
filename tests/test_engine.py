"""The training engine: outputs, CycleGAN learning, exact resume, interruptions, failures."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
from pathlib import Path

import pytest
import torch

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.trainer import Trainer
from ganzoo.errors import CheckpointError, TrainingError
from ganzoo.recipe import load_recipe


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def loss_records(run_dir: Path) -> dict[int, dict]:
    return {r["step"]: r for r in records(run_dir) if "G_A" in r}


def test_run_writes_its_outputs(tiny_recipe, tmp_path):
    result = Trainer(load_recipe(tiny_recipe), run_dir=tmp_path / "run", show_progress=False).fit()
    run = result.run_dir
    assert result.step == 4 and not result.stopped_early
    assert (run / "recipe.toml").is_file() and (run / "plugins.json").is_file()
    versions = json.loads((run / "plugins.json").read_text())
    assert any(p["name"] == "cyclegan" and p["version"] for p in versions["plugins"])
    # the last grid is step 4's, written once (no final.png beside it)
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_0000002.png", "step_0000004.png"]
    assert (run / "checkpoints" / "final" / "model.safetensors").is_file()
    assert (run / "checkpoints" / "latest").read_text() == "final"
    # the resolved recipe re-runs as it is, naming the evaluation the test split's kind chose
    expected = load_recipe(tiny_recipe).to_dict()
    expected["train"].update(eval_metrics=["psnr", "ssim"], best_metric="a2b/psnr", best_mode="max")
    assert load_recipe(run / "recipe.toml").to_dict() == expected
    steps = loss_records(run)
    assert sorted(steps) == [1, 2, 3, 4]
    assert {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B", "lr/G", "lr/D"} <= set(steps[4])
    evals = [r for r in records(run) if "eval/a2b/psnr" in r]
    assert [e["step"] for e in evals] == [0, 4]


def test_new_run_never_overwrites_an_old_one(tiny_recipe):
    first = Trainer(load_recipe(tiny_recipe, ["train.iterations=1"]), show_progress=False)
    first.fit()
    second = Trainer(load_recipe(tiny_recipe, ["train.iterations=1"]), show_progress=False)
    assert second.run_dir != first.run_dir and second.run_dir.name == "tiny-2"


def test_one_step_changes_the_weights_and_g_step_leaves_d_alone(tiny_recipe):
    trainer = Trainer(load_recipe(tiny_recipe), show_progress=False)
    trainer.setup()
    recipe = trainer.method
    before = {k: v.clone() for k, v in recipe.state_dict().items()}
    batch = next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=2)))
    runner = trainer.runner
    g_step, d_step = runner.steps
    runner.steps = [g_step]
    runner.iteration(batch, 1)
    after_g = {k: v.clone() for k, v in recipe.state_dict().items()}
    assert not torch.equal(before["G_A.model.1.weight"], after_g["G_A.model.1.weight"])
    assert not torch.equal(before["G_B.model.1.weight"], after_g["G_B.model.1.weight"])
    assert all(torch.equal(before[k], after_g[k]) for k in before if k.startswith(("D_A", "D_B")))
    assert all(p.requires_grad for p in recipe.parameters())  # unfrozen again
    runner.steps = [d_step]
    runner.iteration(batch, 2)
    after_d = recipe.state_dict()
    assert not torch.equal(after_g["D_A.model.0.weight"], after_d["D_A.model.0.weight"])


def test_cyclegan_lowers_its_losses_on_the_builtin_data(tiny_recipe, tmp_path):
    resolved = load_recipe(tiny_recipe, ["train.iterations=40", "train.log_every=1", "data.train_size=64",
                                         "generator.ngf=8", "train.sample_every=0", "train.checkpoint_every=0",
                                         "method.optimizer.lr=5e-4", "method.schedule.policy='constant'"])
    run = Trainer(resolved, run_dir=tmp_path / "learn", show_progress=False).fit().run_dir
    steps = loss_records(run)

    def mean(keys, lo, hi):
        return sum(steps[s][k] for s in range(lo, hi + 1) for k in keys) / (hi - lo + 1)

    recon = ("cycle_A", "cycle_B", "idt_A", "idt_B")
    assert mean(recon, 31, 40) < 0.7 * mean(recon, 1, 10)
    assert mean(("D_A", "D_B"), 31, 40) < mean(("D_A", "D_B"), 1, 10)


def test_resume_gives_the_same_next_steps(tiny_recipe, tmp_path):
    overrides = ["train.iterations=6", "train.checkpoint_every=3", "train.log_every=1", "train.sample_every=0"]
    straight = Trainer(load_recipe(tiny_recipe, overrides), run_dir=tmp_path / "a", show_progress=False).fit()
    # a run that "crashed" after step 4: its directory has the step-3 checkpoint and log lines past it
    crashed = tmp_path / "b"
    shutil.copytree(straight.run_dir, crashed)
    shutil.rmtree(crashed / "checkpoints" / "final")
    (crashed / "checkpoints" / "latest").write_text("step_0000003")
    resumed = Trainer(load_recipe(tiny_recipe, overrides), run_dir=crashed, resume=True, show_progress=False).fit()
    assert resumed.step == 6
    a, b = loss_records(straight.run_dir), loss_records(crashed)
    assert sorted(b) == [1, 2, 3, 4, 5, 6]  # the stale lines after step 3 were replaced
    for step in (4, 5, 6):
        assert a[step] == b[step], step
    from safetensors.torch import load_file
    fa = load_file(straight.run_dir / "checkpoints" / "final" / "model.safetensors")
    fb = load_file(crashed / "checkpoints" / "final" / "model.safetensors")
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)


def test_non_finite_loss_stops_with_its_name_and_keeps_the_last_checkpoint(tiny_recipe, tmp_path, on_step_call):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=6", "train.checkpoint_every=2"]),
                      run_dir=tmp_path / "nan", show_progress=False)

    def poison(losses):
        losses["cycle_A"] = losses["cycle_A"] * float("nan")

    on_step_call("generator_step", 3, after=poison)
    with pytest.raises(TrainingError, match=r"loss cycle_A became nan at step 3 \(G step\)"):
        trainer.fit()
    latest = ckpt.resolve_checkpoint(tmp_path / "nan")
    assert latest.name == "step_0000002"
    assert ckpt.load_state(latest)["step"] == 2


@pytest.mark.parametrize(("step", "term", "label"), [("generator_step", "cycle_A", "G"),
                                                     ("discriminator_step", "D_B", "D")])
def test_a_non_finite_loss_stops_before_its_step_updates_the_weights(tiny_recipe, tmp_path, on_step_call,
                                                                      step, term, label):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=6", "train.checkpoint_every=2",
                                                "train.sample_every=0", "train.eval_metrics=[]"]),
                      run_dir=tmp_path / "nan", show_progress=False)

    def poison(losses):
        losses[term] = losses[term] * float("nan")

    on_step_call(step, 3, after=poison)
    with pytest.raises(TrainingError, match=rf"loss {term} became nan at step 3 \({label} step\)"):
        trainer.fit()
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "nan" / "checkpoints" / "step_0000002" / ckpt.WEIGHTS)
    live = trainer.method.state_dict()
    # the failing step's networks are as they were after step 2; with the D step failing, the G
    # step of the same iteration did run
    own = [k for k in saved if k.startswith(("G_A.", "G_B.") if label == "G" else ("D_A.", "D_B."))]
    assert own and all(torch.equal(live[k], saved[k]) for k in own)
    assert torch.equal(live["G_A.model.1.weight"], saved["G_A.model.1.weight"]) == (label == "G")


def test_sigterm_saves_a_checkpoint_and_stops_cleanly(tiny_recipe, tmp_path, on_step_call):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=50", "train.checkpoint_every=0"]),
                      run_dir=tmp_path / "term", show_progress=False)
    on_step_call("discriminator_step", 2, before=lambda: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    result = trainer.fit()
    assert result.stopped_early and result.step == 2
    assert ckpt.load_state(ckpt.resolve_checkpoint(tmp_path / "term"))["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler from before the run is back


def test_crash_during_save_leaves_the_previous_checkpoint(tiny_recipe, tmp_path, monkeypatch):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=2"]), run_dir=tmp_path / "atomic",
                      show_progress=False)
    trainer.fit()
    folder = tmp_path / "atomic" / "checkpoints"
    good = ckpt.resolve_checkpoint(folder)

    def exploding_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    trainer.step = 99
    with pytest.raises(OSError):
        trainer.save()
    assert ckpt.resolve_checkpoint(folder) == good
    assert ckpt.load_state(good)["step"] == 2
    assert not (folder / "step_0000099").exists()


def test_checkpoint_loading_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "ckpt"
    bad.mkdir()
    with open(bad / ckpt.STATE, "wb") as f:
        pickle.dump({"format": 1, "evil": Evil()}, f)
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        ckpt.load_state(bad)
    assert not marker.exists()


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(tiny_recipe, tmp_path):
    run = Trainer(load_recipe(tiny_recipe, ["train.iterations=1"]), run_dir=tmp_path / "r",
                  show_progress=False).fit().run_dir
    final = run / "checkpoints" / "final"
    (final / ckpt.STATE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="state.pt: cannot be read safely"):
        ckpt.load_state(final)
    other = load_recipe(tiny_recipe, ["generator.ngf=6"]).build_method()
    with pytest.raises(CheckpointError, match="does not fit this recipe's networks"):
        ckpt.load_weights(final, other)
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        ckpt.resolve_checkpoint(tmp_path / "empty")


@pytest.mark.parametrize("ema", ["0.0", "0.9"])
def test_the_last_logged_evaluation_is_what_ganzoo_evaluate_reports(tiny_recipe, tmp_path, ganzoo_cli, ema):
    """One evaluation path: same transform, padding, 8-bit rounding and weights (the average's
    with train.ema, which is also what ganzoo evaluate loads)."""
    overrides = ["train.iterations=3", "train.eval_metrics=['psnr', 'ssim']", f"train.ema={ema}"]
    run = Trainer(load_recipe(tiny_recipe, overrides), run_dir=tmp_path / "run", show_progress=False).fit().run_dir
    logged = [r for r in records(run) if any(k.startswith("eval/") for k in r)][-1]
    out = tmp_path / "eval.json"
    result = ganzoo_cli("evaluate", run, "--metrics", "psnr,ssim", "--max-items", "4", "--json", out,
                        "--no-progress", "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert logged["step"] == report["protocol"]["step"] == 3
    scores = {k: v for k, v in logged.items() if k.startswith("eval/")}
    assert set(scores) == {f"eval/{d}/{m}" for d in ("a2b", "b2a") for m in ("psnr", "ssim")}
    assert scores == {f"eval/{k}": v for k, v in report["results"].items()}


def test_how_often_a_run_evaluates_does_not_change_what_it_trains(tiny_recipe, tmp_path):
    """The pool's random draws come from the global stream, which evaluation must not consume."""
    common = ["train.iterations=4", "method.pool_size=2", "train.sample_every=0", "train.checkpoint_every=0"]
    never = Trainer(load_recipe(tiny_recipe, [*common, "train.eval_metrics=[]"]), run_dir=tmp_path / "a",
                    show_progress=False).fit()
    often = Trainer(load_recipe(tiny_recipe, [*common, "train.eval_every=1"]), run_dir=tmp_path / "b",
                    show_progress=False).fit()
    assert not never.evaluations and [e["step"] for e in often.evaluations] == [0, 1, 2, 3, 4]
    from safetensors.torch import load_file

    fa = load_file(never.run_dir / "checkpoints" / "final" / "model.safetensors")
    fb = load_file(often.run_dir / "checkpoints" / "final" / "model.safetensors")
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
