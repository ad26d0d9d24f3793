"""Hostile and careless inputs on the engine's side: each gets a clear message and loses nothing
(no run, no checkpoint, no recipe). Tiny sizes: this suite runs in CI."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.trainer import Trainer
from ganzoo.errors import CheckpointError, GanzooError, TrainingError
from ganzoo.recipe import load_recipe


def fit(tiny_recipe, run_dir, *overrides, **kwargs):
    return Trainer(load_recipe(tiny_recipe, list(overrides)), run_dir=run_dir, show_progress=False, **kwargs).fit()


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content's hash: what "nothing changed" means."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def finished_run(tiny_recipe, tmp_path) -> Path:
    return fit(tiny_recipe, tmp_path / "run", "train.iterations=2").run_dir


# ---------------------------------------------------------------------- run directories


def test_a_new_run_refuses_a_directory_that_holds_a_run(tiny_recipe, finished_run, ganzoo_cli):
    before = fingerprint(finished_run)
    result = ganzoo_cli("run", tiny_recipe, "--out", finished_run, "--no-progress", "-s", "generator.ngf=6")
    assert result.exit_code == 2
    assert f"error: {finished_run} holds a run; continue it with: ganzoo resume {finished_run}" in result.stderr
    assert "--overwrite" in result.stderr
    assert fingerprint(finished_run) == before


def test_overwrite_starts_over_and_removes_only_the_runs_own_files(tiny_recipe, finished_run, ganzoo_cli):
    old = ckpt.load_state(finished_run / "checkpoints" / "final")["step"]
    result = ganzoo_cli("run", tiny_recipe, "--out", finished_run, "--no-progress", "--overwrite",
                        "-s", "train.iterations=1", "-s", "train.checkpoint_every=0")
    assert result.exit_code == 0, result.stderr
    assert old == 2 and ckpt.load_state(finished_run / "checkpoints" / "final")["step"] == 1
    assert sorted(p.name for p in (finished_run / "checkpoints").iterdir()) == ["final", "latest"]
    assert [r["step"] for r in map(json.loads, (finished_run / "metrics.jsonl").read_text().splitlines())
            if r.get("event") == "start"] == [0]  # one run's log, not two
    (finished_run / "notes.txt").write_text("mine")
    result = ganzoo_cli("run", tiny_recipe, "--out", finished_run, "--no-progress", "--overwrite")
    assert result.exit_code == 2 and "also holds notes.txt; choose another --out" in result.stderr
    assert (finished_run / "notes.txt").read_text() == "mine"
    result = ganzoo_cli("run", tiny_recipe, "--out", finished_run, "--resume", "--overwrite")
    assert result.exit_code == 2 and "give one" in result.stderr


def test_a_second_process_cannot_write_a_locked_run_directory(tiny_recipe, tmp_path):
    run_dir = tmp_path / "locked"
    run_dir.mkdir()
    lock = {"pid": os.getppid(), "host": socket.gethostname(), "since": "2026-12-02 10:00:00", "command": "run"}
    (run_dir / ".lock").write_text(json.dumps(lock))  # a live process of this host holds it
    with pytest.raises(GanzooError, match=rf"{run_dir} is in use by another run \(pid {os.getppid()} on "):
        fit(tiny_recipe, run_dir, "train.iterations=1")
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]


def test_a_stale_lock_is_taken_over_and_released(tiny_recipe, tmp_path, capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run_dir = tmp_path / "stale"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(json.dumps({"pid": int(gone.stdout), "host": socket.gethostname()}))
    result = fit(tiny_recipe, run_dir, "train.iterations=1")
    assert result.step == 1 and not (run_dir / ".lock").exists()
    assert "taking over the lock" in capsys.readouterr().err


def test_a_refused_resume_changes_nothing_and_checkpoints_carry_their_recipe(tiny_recipe, finished_run,
                                                                             ganzoo_cli):
    before = fingerprint(finished_run)
    result = ganzoo_cli("run", tiny_recipe, "--out", finished_run, "--resume", "--no-progress",
                        "-s", "generator.ngf=6", "-s", "train.iterations=3")
    assert result.exit_code == 2 and "does not fit this recipe's networks" in result.stderr
    assert fingerprint(finished_run) == before
    assert (finished_run / "checkpoints" / "final" / "recipe.toml").read_text() == \
        (finished_run / "recipe.toml").read_text()
    # the run's own recipe.toml lost: the checkpoint's copy restores the run
    (finished_run / "recipe.toml").unlink()
    text = (finished_run / "checkpoints" / "final" / "recipe.toml").read_text()
    (finished_run / "checkpoints" / "final" / "recipe.toml").write_text(text.replace("iterations = 2",
                                                                                      "iterations = 3"))
    result = ganzoo_cli("resume", finished_run, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "using the recipe saved in" in result.stderr and "finished at step 3" in result.stdout


# ---------------------------------------------------------------------- non-finite training


def test_a_gradient_that_overflows_under_a_finite_loss_stops_before_the_update(tiny_recipe, tmp_path,
                                                                               on_step_call):
    def overflow_gradient(losses):
        losses["cycle_A"].register_hook(lambda grad: grad * float("inf"))  # the loss itself stays finite

    on_step_call("generator_step", 3, after=overflow_gradient)
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=6", "train.checkpoint_every=2"]),
                      run_dir=tmp_path / "grad", show_progress=False)
    with pytest.raises(TrainingError, match=r"the gradient of G_[AB]\.\S+ became (inf|nan) at step 3 \(G step\) "
                                            r"although every loss was finite; the last good checkpoint, "
                                            r".*step_0000002, is kept"):
        trainer.fit()
    assert all(torch.isfinite(p).all() for p in trainer.method.parameters())  # the update never happened
    assert ckpt.resolve_checkpoint(tmp_path / "grad").name == "step_0000002"


def test_deferred_checks_never_save_weights_a_bad_gradient_reached(tiny_recipe, tmp_path, on_step_call):
    on_step_call("generator_step", 3, after=lambda losses: losses["cycle_A"].register_hook(lambda g: g * torch.nan))
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=8", "train.checkpoint_every=2",
                                                "train.check_finite_every=5", "train.sample_every=0"]),
                      run_dir=tmp_path / "late", show_progress=False)
    with pytest.raises(TrainingError, match=r"became nan at step 3 \(G step\)"):
        trainer.fit()
    assert ckpt.resolve_checkpoint(tmp_path / "late").name == "step_0000002"
    assert all(torch.isfinite(t).all() for t in ckpt.load_state(tmp_path / "late" / "checkpoints" / "step_0000002")
               ["optimizers"]["G"]["state"][0].values() if t.is_floating_point())


def test_huge_finite_losses_stop_before_they_overflow_adam(tiny_recipe, tmp_path, on_step_call):
    def huge(losses):  # a finite loss whose gradients' squares overflow float32 (and Adam's second moments)
        losses["cycle_A"] = losses["cycle_A"] * 1e30

    on_step_call("generator_step", 1, after=huge)
    with pytest.raises(TrainingError, match=r"the gradients overflowed float32 \(their norm is inf; the largest is "
                                            r"G_[AB]\.\S+'s\) at step 1 \(G step\) although every loss was finite; "
                                            r"no checkpoint was written yet"):
        fit(tiny_recipe, tmp_path / "huge", "train.iterations=4", "train.checkpoint_every=2")


def test_non_finite_optimizer_states_are_never_checkpointed(tiny_recipe, tmp_path, monkeypatch):
    """Weights stay finite when Adam's second moment is inf (the updates become 0): the run would
    silently stop learning and save that state; the check before each checkpoint refuses it."""
    from ganzoo.engine.steps import StepRunner

    iteration = StepRunner.iteration

    def overflowed_after_the_first(self, batch, number):
        logged = iteration(self, batch, number)
        if number == 1:
            next(iter(self.optimizers["G"].state.values()))["exp_avg_sq"].fill_(float("inf"))
        return logged

    monkeypatch.setattr(StepRunner, "iteration", overflowed_after_the_first)
    with pytest.raises(TrainingError, match=r"optimizer G's exp_avg_sq of G_A\.\S+ is not finite at step 2, so no "
                                            r"checkpoint is written; no checkpoint was written yet"):
        fit(tiny_recipe, tmp_path / "adam", "train.iterations=4", "train.checkpoint_every=2")
    assert not list((tmp_path / "adam" / "checkpoints").glob("step_*"))


def test_a_non_finite_loss_before_any_checkpoint_says_so(tiny_recipe, tmp_path, on_step_call):
    on_step_call("generator_step", 1, after=lambda losses: losses.update(cycle_A=losses["cycle_A"] * torch.nan))
    with pytest.raises(TrainingError, match=r"loss cycle_A became nan at step 1 \(G step\); no checkpoint was "
                                            r"written yet\."):
        fit(tiny_recipe, tmp_path / "early", "train.iterations=3")


# ---------------------------------------------------------------------- full disks, leftovers, odd checkpoints


def test_a_full_disk_during_a_checkpoint_is_a_message_and_leaves_nothing_behind(tiny_recipe, tmp_path,
                                                                               monkeypatch):
    real_save = ckpt.save_model
    calls = {"n": 0}

    def disk_fills(model, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: as safetensors reports a full disk
            raise Exception('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '  # noqa: TRY002
                            'message: "No space left on device" })')
        return real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(ckpt, "save_model", disk_fills)
    with pytest.raises(CheckpointError, match=r"no space left on the disk of .*checkpoints while writing "
                                              r"step_0000004 .* the last good checkpoint, .*step_0000002, is kept"):
        fit(tiny_recipe, tmp_path / "full", "train.iterations=6", "train.checkpoint_every=2")
    folder = tmp_path / "full" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "step_0000002"]  # no .tmp folder left
    assert ckpt.resolve_checkpoint(folder).name == "step_0000002"


def test_oserror_enospc_is_recognised_too():
    assert ckpt._disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not ckpt._disk_full(OSError(errno.EACCES, "Permission denied"))


def test_leftovers_of_a_killed_checkpoint_write_are_removed(tiny_recipe, finished_run, capsys):
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    leftover = finished_run / "checkpoints" / f".step_0000003.tmp-{gone}"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half")
    text = (finished_run / "recipe.toml").read_text().replace("iterations = 2", "iterations = 3")
    (finished_run / "recipe.toml").write_text(text)
    Trainer(load_recipe(finished_run / "recipe.toml"), run_dir=finished_run, resume=True, show_progress=False).fit()
    assert not leftover.exists() and "left by an interrupted checkpoint write" in capsys.readouterr().err


def test_a_latest_pointer_to_an_incomplete_checkpoint_falls_back_saying_so(finished_run):
    folder = finished_run / "checkpoints"
    (folder / "latest").write_text("step_0000009")
    with pytest.warns(ckpt.CheckpointWarning, match="names step_0000009, which is incomplete or missing; using "
                                                    "the newest complete checkpoint, final"):
        assert ckpt.resolve_checkpoint(finished_run).name == "final"


# ---------------------------------------------------------------------- settings and plugins


def test_an_unknown_device_is_one_line(ganzoo_cli, tiny_recipe, tmp_path):
    result = ganzoo_cli("run", tiny_recipe, "--out", tmp_path / "tpu", "-s", "run.device='tpu9'")
    assert result.exit_code == 2 and "error: unknown device 'tpu9' (auto, cpu, cuda or cuda:N)" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "tpu").exists()


def test_an_unreadable_vgg_weights_file_is_one_line(ganzoo_cli, tmp_path):
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(b"not a state dict")
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "unit_quickstart.toml"
    result = ganzoo_cli("run", recipe, "--out", tmp_path / "u", "--no-progress", "-s", "method.vgg_w=1",
                        "-s", f"method.vgg_weights='{bad}'", "-s", "train.iterations=1")
    assert result.exit_code == 2
    assert f"error: {bad}: cannot be read as a VGG16 state dict (UnpicklingError)" in result.stderr


EXITS = "import sys\nsys.exit(3)\n"
RAISES = "class Odd(BaseException):\n    pass\n\nraise Odd('x')\n"


@pytest.mark.parametrize("body", [EXITS, RAISES])
def test_a_plugin_that_exits_or_raises_a_base_exception_fails_alone(ganzoo_cli, fake_distribution, body):
    fake_distribution("ganzoo-rude", {"rude_plugin": body}, {"rude": "rude_plugin"})
    result = ganzoo_cli("plugins", "--json")
    status = {p["name"]: p for p in json.loads(result.stdout)}
    assert status["rude"]["status"] == "failed"
    assert status["rude"]["error"] in ("it called sys.exit(3)", "Odd: x")
    result = ganzoo_cli("list-components", "method")
    assert result.exit_code == 0 and "cyclegan" in result.stdout and "plugin rude" in result.stderr


def test_a_run_directory_that_is_a_file_is_one_line(tiny_recipe, tmp_path, ganzoo_cli):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    result = ganzoo_cli("run", tiny_recipe, "--out", target, "--no-progress")
    assert result.exit_code == 2 and f"error: {target}: is a file, not a run directory" in result.stderr
    assert target.read_text() == "keep me"


# ---------------------------------------------------------------------- interruptions and logs


def test_an_interrupted_run_exits_143_after_saving_and_says_how_to_continue(tiny_recipe, tmp_path, ganzoo_cli,
                                                                            on_step_call):
    import signal

    run_dir = tmp_path / "term"
    on_step_call("discriminator_step", 2, before=lambda: os.kill(os.getpid(), signal.SIGTERM))
    result = ganzoo_cli("run", tiny_recipe, "--out", run_dir, "--no-progress", "-s", "train.iterations=50",
                        "-s", "train.checkpoint_every=0")
    assert result.exit_code == 128 + signal.SIGTERM  # 143: saved, but not finished
    assert f"Continue with: ganzoo resume {run_dir}" in result.stderr
    assert ckpt.load_state(ckpt.resolve_checkpoint(run_dir))["step"] == 2


def test_progress_is_one_plain_whole_line_per_log_window_when_not_a_terminal(tiny_recipe, tmp_path):
    import io

    from rich.console import Console

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=40)  # a log file, narrower than a line
    Trainer(load_recipe(tiny_recipe, ["train.log_every=2"]), run_dir=tmp_path / "log", console=console,
            show_progress=True).fit()
    lines = [line for line in stream.getvalue().splitlines() if " step " in line]
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"]
    assert all("it/s" in line and "ETA" in line and "cycle_A" in line and len(line) > 40 for line in lines)
