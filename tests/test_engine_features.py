"""The engine's speed and safety features on the CPU: precision, scalers, EMA, clipping,
channels_last, compile plumbing, best checkpoints, deferred checks, reports."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganzoo.engine import accel
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.ema import EMA
from ganzoo.engine.loading import load_trained
from ganzoo.engine.outputs import plot_losses, write_index
from ganzoo.engine.trainer import Trainer
from ganzoo.errors import GanzooError, TrainingError
from ganzoo.recipe import load_recipe


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def loss_records(run_dir: Path) -> dict[int, dict]:
    return {r["step"]: r for r in records(run_dir) if "G_A" in r}


def fit(tiny_recipe, run_dir, *overrides, resume=False):
    return Trainer(load_recipe(tiny_recipe, list(overrides)), run_dir=run_dir, resume=resume,
                   show_progress=False).fit()


def crash_after(run_dir: Path, copy: Path, checkpoint: str) -> Path:
    """A copy of a finished run as if it had crashed after ``checkpoint`` was written."""
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "checkpoints" / "final")
    (copy / "checkpoints" / "latest").write_text(checkpoint)
    return copy


def same_tensors(a: Path, b: Path) -> bool:
    fa, fb = load_file(a), load_file(b)
    return fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)


# ---------------------------------------------------------------------- exact resume


def test_resume_is_exact_with_bf16_ema_clipping_and_a_full_pool(tiny_recipe, tmp_path, capsys):
    # pool_size 2 fills at once, so the pool's random draws (global RNG) matter from step 2 on
    overrides = ["train.iterations=6", "train.checkpoint_every=3", "train.log_every=1", "train.sample_every=0",
                 "train.precision='bf16'", "train.ema=0.9", "train.grad_clip=5.0", "method.pool_size=2"]
    straight = fit(tiny_recipe, tmp_path / "a", *overrides)
    crashed = crash_after(straight.run_dir, tmp_path / "b", "step_0000003")
    resumed = fit(tiny_recipe, crashed, *overrides, resume=True)
    assert resumed.step == 6
    assert "a checkpoint of" not in capsys.readouterr().err  # the same number of processes: no warning
    a, b = loss_records(straight.run_dir), loss_records(crashed)
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):
        assert a[step] == b[step], step
    assert {"grad_norm/G", "grad_norm/D"} <= set(a[6])
    for name in (ckpt.WEIGHTS, ckpt.EMA_WEIGHTS):
        assert same_tensors(straight.run_dir / "checkpoints" / "final" / name, crashed / "checkpoints" / "final" / name)


@pytest.mark.parametrize(("checkpoint", "augment_seed"), [("step_0000005", None), ("step_0000010", 3)])
def test_resume_is_exact_across_an_epoch_boundary_with_fp16_and_augmentation(tiny_recipe, tmp_path, checkpoint,
                                                                             augment_seed):
    # 16 items in batches of 2: epoch 1 starts at step 9, so step 5's resume crosses into it (the
    # sampler must start epoch 1 from its first batch) and step 10's starts inside it (epoch 1's
    # order, from its second batch); fp16's scalers have backed off by then; the augmentation draws
    # from torch's global generator (seed None) or from its own, both checkpointed
    overrides = ["train.iterations=12", "train.checkpoint_every=5", "train.log_every=1", "train.sample_every=0",
                 "train.eval_metrics=[]", "train.precision='fp16'", "train.augment.policy='translation,cutout'"]
    if augment_seed is not None:
        overrides.append(f"train.augment.seed={augment_seed}")
    straight = fit(tiny_recipe, tmp_path / "a", *overrides)
    state = ckpt.load_state(straight.run_dir / "checkpoints" / checkpoint)
    assert all(s["scale"] < 2.0**16 for s in state["scalers"].values())
    assert (state["augment"] is None) == (augment_seed is None)
    crashed = crash_after(straight.run_dir, tmp_path / "b", checkpoint)
    assert fit(tiny_recipe, crashed, *overrides, resume=True).step == 12
    a, b = loss_records(straight.run_dir), loss_records(crashed)
    assert sorted(b) == list(range(1, 13))
    for step in range(int(checkpoint[-7:]) + 1, 13):
        assert a[step] == b[step], step
    assert same_tensors(straight.run_dir / "checkpoints" / "final" / ckpt.WEIGHTS,
                        crashed / "checkpoints" / "final" / ckpt.WEIGHTS)


# ---------------------------------------------------------------------- precision


def test_fp16_has_one_scaler_per_optimizer_and_checkpoints_them(tiny_recipe, tmp_path):
    run = fit(tiny_recipe, tmp_path / "fp16", "train.iterations=3", "train.precision='fp16'",
              "train.grad_clip=1.0").run_dir
    state = ckpt.load_state(ckpt.resolve_checkpoint(run))
    assert set(state["scalers"]) == {"G", "D"}

    def strict(constant):  # NaN / Infinity are not JSON
        raise ValueError(constant)

    lines = [json.loads(line, parse_constant=strict) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("grad_norm/G" in r for r in lines)  # null for windows whose every step overflowed
    # fp16 overflows at the initial scale of 2**16, so the scalers have backed off
    assert all(s["scale"] < 2.0**16 for s in state["scalers"].values())
    resumed = Trainer(load_recipe(tiny_recipe, ["train.precision='fp16'"]), run_dir=run, resume=True,
                      show_progress=False)
    resumed.setup()
    resumed.state.restore()
    assert {n: s.state_dict() for n, s in resumed.runner.scalers.items()} == state["scalers"]


def test_bf16_autocast_runs_the_forward_in_bf16(tiny_recipe):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.precision='bf16'"]), show_progress=False)
    trainer.setup()
    seen = {}
    original = trainer.method.G_A.forward

    def spy(x):
        out = original(x)
        seen["dtype"] = out.dtype
        return out

    trainer.method.G_A.forward = spy
    batch = trainer._prepare(next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=2))))
    trainer.runner.iteration(batch, 1)
    assert seen["dtype"] == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in trainer.method.parameters())  # master weights stay fp32


# ---------------------------------------------------------------------- clipping, EMA


def test_grad_clip_bounds_the_gradient_norm(tiny_recipe):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.grad_clip=0.01"]), show_progress=False)
    trainer.setup()
    batch = next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=2)))
    logged = trainer.runner.iteration(batch, 1)
    for group in ("G", "D"):
        grads = [p.grad for p in trainer.runner.params[group] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        assert logged[f"grad_norm/{group}"] > 0.01  # the norm before clipping is logged
        assert norm <= 0.01 * 1.001


def test_ema_is_the_exponential_average_of_the_generators():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    ema = EMA({"G": gen}, decay=0.75)
    start = {k: v.clone() for k, v in gen.state_dict().items()}
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(1.0)
        gen[1].running_mean.fill_(3.0)
    ema.update()
    avg = ema.average.state_dict()
    live = gen.state_dict()
    for key in ("0.weight", "0.bias", "1.weight"):
        assert torch.allclose(avg[f"G.{key}"], 0.75 * start[key] + 0.25 * live[key])
    assert torch.equal(avg["G.1.running_mean"], live["1.running_mean"])  # buffers are copied
    with ema.swapped():
        assert torch.equal(gen[0].weight, avg["G.0.weight"])
    assert torch.equal(gen[0].weight, live["0.weight"])  # restored


def test_ema_shared_layers_are_averaged_once():
    shared = nn.Linear(2, 2)
    a, b = nn.Sequential(shared, nn.Linear(2, 2)), nn.Sequential(shared, nn.Linear(2, 2))
    ema = EMA({"a": a, "b": b}, decay=0.5)
    assert ema.average["a"][0] is ema.average["b"][0]
    before = shared.weight.detach().clone()
    with torch.no_grad():
        shared.weight.add_(2.0)
    ema.update()
    assert torch.allclose(ema.average["a"][0].weight, before + 1.0)


def test_ema_is_saved_evaluated_and_exported(tiny_recipe, tmp_path, ganzoo_cli):
    from ganzoo.metrics.evaluate import build_metrics, evaluate

    result = fit(tiny_recipe, tmp_path / "ema", "train.ema=0.5", "train.iterations=3")
    final = result.run_dir / "checkpoints" / "final"
    saved = load_file(final / ckpt.EMA_WEIGHTS)
    assert all(k.startswith(("G_A.", "G_B.")) for k in saved) and "G_A.model.1.weight" in saved
    assert json.loads((final / ckpt.META).read_text())["ema"] is True
    resolved, with_ema, _ = load_trained(result.run_dir)
    _, live, _ = load_trained(result.run_dir, ema=False)
    assert torch.equal(with_ema.G_A.model[1].weight, saved["G_A.model.1.weight"])
    assert not torch.equal(live.G_A.model[1].weight, saved["G_A.model.1.weight"])
    # Evaluated: the run's last scores are those of the average, not of the live generators.
    test = resolved.build_dataset("test")

    def scores(method) -> dict[str, float]:
        return evaluate(method, test, build_metrics(["psnr", "ssim"]), device="cpu",
                        max_items=resolved.train.eval_items).results

    logged = [r for r in records(result.run_dir) if "eval/a2b/psnr" in r][-1]
    assert logged["step"] == 3
    averaged, trained_live = scores(with_ema), scores(live)
    for key in ("a2b/psnr", "b2a/psnr", "a2b/ssim"):
        assert logged[f"eval/{key}"] == pytest.approx(averaged[key], rel=1e-6), key
    assert logged["eval/a2b/psnr"] != pytest.approx(trained_live["a2b/psnr"], rel=1e-6)
    # Exported: ganzoo export of the run translates with the average.
    out = tmp_path / "g.pt"
    exported = ganzoo_cli("export", result.run_dir, "--format", "torchscript", "--size", "16", "--out", out)
    assert exported.exit_code == 0, exported.output
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        y = torch.jit.load(str(out))(x)
        torch.testing.assert_close(y, with_ema.translate(x, "a2b"), atol=1e-5, rtol=0)
        assert not torch.allclose(y, live.translate(x, "a2b"), atol=1e-4, rtol=0)
    assert (result.run_dir / "samples" / "step_0000003.png").is_file()  # the last step's grid, drawn by the average


# ---------------------------------------------------------------------- memory format, compile, augment


def test_channels_last_trains_like_nchw_and_checkpoints_contiguously(tiny_recipe, tmp_path):
    common = ["train.iterations=2", "train.log_every=1", "train.sample_every=0"]
    plain = fit(tiny_recipe, tmp_path / "nchw", *common)
    nhwc = fit(tiny_recipe, tmp_path / "nhwc", *common, "train.channels_last=true")
    a, b = loss_records(plain.run_dir), loss_records(nhwc.run_dir)
    for step in (1, 2):
        for key in ("G_A", "cycle_A", "D_A"):
            assert a[step][key] == pytest.approx(b[step][key], rel=1e-4, abs=1e-5)
    trainer = Trainer(load_recipe(tiny_recipe, ["train.channels_last=true"]), show_progress=False)
    trainer.setup()
    assert trainer.method.G_A.model[1].weight.is_contiguous(memory_format=torch.channels_last)
    batch = trainer._prepare({"A": torch.zeros(2, 3, 16, 16), "B": torch.zeros(2, 3, 16, 16)})
    assert batch["A"].is_contiguous(memory_format=torch.channels_last)
    # the saved weights load into an ordinary (NCHW) recipe
    _, recipe, _ = load_trained(nhwc.run_dir)
    assert recipe.G_A.model[1].weight.is_contiguous()


def test_compile_is_in_place_keeps_state_dict_keys_and_results(tiny_recipe, tmp_path, monkeypatch):
    # the 'eager' backend checks the plumbing (dynamo traces every step) in seconds; inductor
    # itself is covered by the slow test below and by benchmarks/train_benchmark.py
    monkeypatch.setenv(accel.COMPILE_BACKEND_ENV, "eager")
    common = ["train.iterations=2", "train.log_every=1", "train.sample_every=0"]
    plain = fit(tiny_recipe, tmp_path / "eager", *common)
    trainer = Trainer(load_recipe(tiny_recipe, [*common, "train.compile=true"]), run_dir=tmp_path / "compiled",
                      show_progress=False)
    trainer.fit()
    assert trainer.compiled == ["G_A", "G_B", "D_A", "D_B"]
    assert trainer.method.G_A._compiled_call_impl is not None
    assert not any("_orig_mod" in k for k in trainer.method.state_dict())
    a, b = loss_records(plain.run_dir), loss_records(tmp_path / "compiled")
    for key in ("G_A", "cycle_A", "D_A"):
        assert a[2][key] == pytest.approx(b[2][key], rel=1e-5)
    assert load_file(tmp_path / "compiled" / "checkpoints" / "final" / ckpt.WEIGHTS).keys() == \
        load_file(plain.run_dir / "checkpoints" / "final" / ckpt.WEIGHTS).keys()


def test_compile_leaves_a_gradient_penalty_discriminator_eager(tiny_recipe, capsys):
    resolved = load_recipe(tiny_recipe, ["gan_loss.type='wgangp'"])
    recipe = resolved.build_method()
    warnings = []
    names = accel.compile_method(recipe, True, warn=warnings.append)
    assert names == ["G_A", "G_B"]
    assert "gradient penalty" in warnings[0]
    assert recipe.D_A._compiled_call_impl is None


UNIT_TINY = """
[method]
type = "unit"
[data]
type = "procedural"
image_size = 16
[generator]
type = "unit_vae"
dim = 4
n_res = 1
[discriminator]
type = "multiscale_patchgan"
dim = 4
n_layer = 2
num_scales = 1
"""


def test_compile_targets_of_encode_decode_generators_are_their_parts(ganzoo_registry, tmp_path):
    if "unit" not in {s.name for s in ganzoo_registry.list("method")}:
        pytest.skip("the unit plugin is not registered")
    path = tmp_path / "unit.toml"
    path.write_text(UNIT_TINY)
    targets = accel.compile_targets(load_recipe(path, registry=ganzoo_registry).build_method())
    assert {"gen_a.enc", "gen_a.dec", "gen_b.enc", "gen_b.dec", "dis_a", "dis_b"} <= set(targets)
    assert "gen_a" not in targets


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GANZOO_SLOW_TESTS"),
                    reason="inductor compiles for minutes on a CPU; set GANZOO_SLOW_TESTS=1 to run")
def test_inductor_compile_trains(tiny_recipe, tmp_path):
    result = fit(tiny_recipe, tmp_path / "inductor", "train.iterations=2", "train.compile=true")
    assert result.step == 2 and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())


def test_augment_runs_on_the_device_batch_with_one_draw_for_paired_data(tiny_recipe):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.augment.policy='translation,cutout'"]), show_progress=False)
    trainer.setup()
    torch.manual_seed(1)
    image = torch.rand(8, 3, 16, 16) * 2 - 1
    trainer.dataset = SimpleNamespace(paired=True)
    batch = trainer._prepare({"A": image.clone(), "B": image.clone()})
    assert not torch.equal(batch["A"], image) and torch.equal(batch["A"], batch["B"])
    trainer.dataset = SimpleNamespace(paired=False)
    batch = trainer._prepare({"A": image.clone(), "B": image.clone()})
    assert not torch.equal(batch["A"], batch["B"])


# ---------------------------------------------------------------------- checks, best, signals


def test_deferred_finite_checks_still_name_the_step_and_never_save_it(tiny_recipe, tmp_path, on_step_call):
    def poison(losses):
        losses["idt_B"] = losses["idt_B"] + float("inf")

    on_step_call("generator_step", 3, after=poison)
    trainer = Trainer(load_recipe(tiny_recipe, ["train.iterations=8", "train.checkpoint_every=2",
                                                "train.check_finite_every=5", "train.sample_every=0"]),
                      run_dir=tmp_path / "late", show_progress=False)
    with pytest.raises(TrainingError, match=r"loss idt_B became inf at step 3 \(G step\)"):
        trainer.fit()
    assert trainer.step == 4  # noticed at the checkpoint of step 4, which was not written
    assert ckpt.resolve_checkpoint(tmp_path / "late").name == "step_0000002"


TOY_METRIC = '''\
import ganzoo

VALUES = [1.0, 5.0, 3.0, 4.0]  # the a2b scores of steps 0, 2, 4 and the final 6
CALLS = []


class Toy(ganzoo.Metric):
    """A scripted score: what a plugin's metric reports is what chooses checkpoints/best."""

    needs_target = False
    higher_is_better = {"toy": True}

    def reset(self):
        pass

    def update(self, output, target=None):
        pass

    def compute(self):
        CALLS.append(1)  # each evaluation computes a2b, then b2a
        return {"toy": VALUES[(len(CALLS) - 1) // 2]}


@ganzoo.hookimpl
def register_components(registrar):
    registrar.metric("toy", Toy)
'''


def test_a_plugin_metric_chooses_the_best_checkpoint_and_leaves_latest_alone(tiny_recipe, tmp_path,
                                                                             fake_distribution):
    from ganzoo import plugins

    fake_distribution("ganzoo-toy", {"toy_metric": TOY_METRIC}, {"toy": "toy_metric"})
    plugins.reset()
    try:
        result = fit(tiny_recipe, tmp_path / "best", "train.iterations=6", "train.eval_every=2",
                     "train.eval_metrics=['toy']", "train.best_metric='a2b/toy'")
    finally:
        plugins.reset()
    assert [(e["step"], e["a2b/toy"]) for e in result.evaluations] == [(0, 1.0), (2, 5.0), (4, 3.0), (6, 4.0)]
    assert [r["eval/a2b/toy"] for r in records(result.run_dir) if "eval/a2b/toy" in r] == [1.0, 5.0, 3.0, 4.0]
    folder = result.run_dir / "checkpoints"
    assert (folder / "latest").read_text() == "final"
    best = ckpt.load_state(folder / "best")
    assert best["step"] == 2 and best["best"] == {"metric": "a2b/toy", "value": 5.0, "step": 2}
    assert [r["step"] for r in records(result.run_dir) if r.get("event") == "best"] == [2]


def test_a_best_metric_that_no_evaluation_reports_stops_before_training(tiny_recipe, tmp_path):
    with pytest.raises(GanzooError, match=r"train.best_metric 'a2b/lpips' is not among the evaluation's "
                                          r"scores \(a2b/psnr, a2b/ssim, b2a/psnr, b2a/ssim\)"):
        fit(tiny_recipe, tmp_path / "typo", "train.eval_every=2", "train.best_metric='a2b/lpips'")
    assert not list((tmp_path / "typo").glob("checkpoints/*"))


def test_first_ctrl_c_finishes_the_iteration_and_saves(tiny_recipe, tmp_path, on_step_call):
    on_step_call("generator_step", 2, before=lambda: os.kill(os.getpid(), signal.SIGINT))
    previous = signal.getsignal(signal.SIGINT)
    result = fit(tiny_recipe, tmp_path / "int", "train.iterations=50", "train.checkpoint_every=0")
    assert result.stopped_early and result.step == 2  # the D step of iteration 2 still ran
    assert ckpt.load_state(ckpt.resolve_checkpoint(tmp_path / "int"))["step"] == 2
    assert signal.getsignal(signal.SIGINT) is previous


# ---------------------------------------------------------------------- files


def test_safetensors_round_trip_keeps_shared_and_channels_last_weights(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.b.weight = self.a.weight  # tied, as UNIT's shared blocks

    torch.manual_seed(0)
    net = Net().to(memory_format=torch.channels_last)
    ckpt.save_checkpoint(tmp_path / "c", step=1, model=net, state={}, meta={})
    fresh = Net()
    ckpt.load_weights(tmp_path / "c", fresh)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in fresh.state_dict().items())
    assert fresh.b.weight is fresh.a.weight


def test_reports_index_and_loss_curve(tiny_recipe, tmp_path):
    run = fit(tiny_recipe, tmp_path / "rep").run_dir
    page = (run / "index.html").read_text()
    assert "samples/step_0000002.png" in page and "samples/step_0000004.png" in page and "final.png" not in page
    assert "step 2: real_A | fake_B | rec_A | real_B | fake_A | rec_B" in page and "step 4 (final)" in page
    assert "<h2>Evaluation</h2>" in page and "a2b/psnr" in page
    assert page.index("samples/step_0000004.png") < page.index("samples/step_0000002.png")  # newest first
    from PIL import Image

    with Image.open(run / "loss_curves.png") as image:
        assert image.size[0] >= 300 and image.size[1] >= 180
    speed = [r for r in records(run) if r["kind"] == "speed"]
    assert speed and all(r["it_s"] > 0 and r["img_s"] == pytest.approx(2 * r["it_s"], rel=1e-2) for r in speed)


def test_loss_plot_and_index_from_records_alone(tmp_path):
    recs = [{"step": 0, "event": "start"}, {"step": 1, "G": 1.0, "D": 0.5, "lr/G": 1e-4},
            {"step": 2, "G": float("nan"), "D": 0.4}, {"step": 3, "G": 0.5, "D": 0.3},
            {"step": 3, "eval/psnr_a2b": 20.0}]
    path = plot_losses(recs, tmp_path / "curve.png")
    assert path is not None and path.stat().st_size > 500
    assert plot_losses([{"step": 0, "event": "start"}], tmp_path / "none.png") is None
    page = write_index(tmp_path, title="<x>", records=recs).read_text()
    assert "&lt;x&gt;" in page and "20.0000" in page


def test_tensorboard_gets_scalars_and_images(tiny_recipe, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = fit(tiny_recipe, tmp_path / "tb").run_dir  # logs every step, samples at steps 2 and 4
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/G_A", "loss/D_A", "lr/G", "eval/a2b/psnr"} <= set(tags["scalars"])
    losses = {e.step: e.value for e in events.Scalars("loss/G_A")}
    assert sorted(losses) == [1, 2, 3, 4]
    assert losses[4] == pytest.approx(loss_records(run)[4]["G_A"], rel=1e-5)
    assert tags["images"] == ["samples"]
    images = events.Images("samples")
    assert {e.step for e in images} == {2, 4}
    assert all(e.width > 16 and e.height > 16 and e.encoded_image_string.startswith(b"\x89PNG") for e in images)


class WorkerPids:
    """A data set that adds to each item the id of the process that loaded it."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return {**self.dataset[index], "worker_pid": os.getpid()}

    def __getattr__(self, name):
        return getattr(self.dataset, name)


def test_data_loader_workers_persist_across_epochs(tiny_recipe, tmp_path, monkeypatch):
    setup, prepare, pids = Trainer.setup, Trainer._prepare, []

    def setup_with_pids(self):
        setup(self)
        self.dataset = WorkerPids(self.dataset)

    def prepare_recording_pids(self, batch):
        pids.append(set(batch.pop("worker_pid").tolist()))
        return prepare(self, batch)

    monkeypatch.setattr(Trainer, "setup", setup_with_pids)
    monkeypatch.setattr(Trainer, "_prepare", prepare_recording_pids)
    # 16 items, batch 2: 8 batches per epoch, so 10 iterations cross an epoch boundary
    result = fit(tiny_recipe, tmp_path / "workers", "train.iterations=10", "train.num_workers=1",
                 "train.sample_every=0", "train.checkpoint_every=0")
    assert result.step == 10 and not result.stopped_early
    assert len(pids) == 10 and len(set.union(*pids)) == 1  # one worker process loaded both epochs
    assert pids[0] != {os.getpid()}
