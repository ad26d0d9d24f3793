"""UNSB: the time grid and the chain against their formulas, the energy and SB losses against a
hand computation, the networks' conditioning, multi-step inference through the CLI (--steps
changes the output, a seed repeats it, wrong values are one-line errors), the single-step
export, and the horse2zebra recipe. Exact resume (energy net and PatchNCE heads included) is in
tests/test_contract.py's TestUNSB; test_resume_covers_the_energy_net_and_the_heads checks that
it compares those weights and that they have moved."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ganzoo_unsb.bridge import chain_step, energy_loss, harmonic_times, sb_loss, step_coefficients
from PIL import Image

from ganzoo.errors import RecipeError
from ganzoo.recipe import load_recipe
from ganzoo.testing import write_unpaired_folders

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TINY = ("generator.ngf=4", "generator.n_blocks=5", "generator.n_mlp=1", "discriminator.ndf=4",
        "discriminator.n_layers=2", "energy.ndf=4", "energy.n_layers=2", "nce_loss.num_patches=16",
        "nce_loss.mlp_width=8")


def tiny_recipe(tmp_path: Path, iterations: int = 3) -> Path:
    path = tmp_path / "unsb.toml"
    path.write_text(
        f"[run]\nname = \"unsb\"\nseed = 0\nout_dir = '{tmp_path / 'runs'}'\n\n"
        f"[train]\niterations = {iterations}\nbatch_size = 2\nlog_every = 1\nsample_every = 0\n"
        "checkpoint_every = 0\neval_items = 2\neval_metrics = []\n\n"
        "[method]\ntype = \"unsb\"\n\n"
        "[data]\ntype = \"procedural\"\nimage_size = 16\ntrain_size = 8\ntest_size = 4\n")
    return path


def build(tmp_path: Path, *more: str):
    return load_recipe(tiny_recipe(tmp_path), [*TINY, *more]).build_method()


# --------------------------------------------------------------------------- the bridge's formulas


def test_harmonic_time_grid_is_the_references():
    # increments 0, 1, 1/2, 1/3, 1/4 -> sums 0, 1, 1.5, 11/6, 25/12 -> / (25/12) -> 0.5 + 0.5 x
    sums = [0, 1, 1.5, 11 / 6, 25 / 12]
    expected = [0.0] + [0.5 + 0.5 * s / (25 / 12) for s in sums]
    assert harmonic_times(5) == pytest.approx(expected, abs=1e-12)
    assert harmonic_times(5) == pytest.approx([0, 0.5, 0.74, 0.86, 0.94, 1.0], abs=1e-12)
    assert harmonic_times(1) == [0.0, 1.0] and harmonic_times(2) == pytest.approx([0, 0.5, 1])
    for t in (2, 3, 8):
        grid = harmonic_times(t)
        assert len(grid) == t + 1 and grid[-1] == pytest.approx(1) and all(np.diff(grid) > 0)


def test_step_coefficients_follow_the_formula():
    a, s = step_coefficients(0.5, 0.74)  # dt 0.24: a = 0.24 / 0.5, s = 0.24 (1 - a)
    assert a == pytest.approx(0.48) and s == pytest.approx(0.24 * 0.52)
    a, s = step_coefficients(0.0, 0.5)
    assert a == pytest.approx(0.5) and s == pytest.approx(0.25)
    a, s = step_coefficients(0.94, 1.0)  # the last step lands on the prediction, without noise
    assert a == pytest.approx(1.0) and s == pytest.approx(0.0, abs=1e-12)


def test_one_chain_step_of_the_method_is_the_formula(tmp_path):
    method = build(tmp_path).eval()
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    torch.manual_seed(5)
    x1 = method._chain(x0, 1)  # one generator call at step 0, one bridge step to t = 0.5
    torch.manual_seed(5)  # the same draws, in the method's order: the noise z, then eps
    z = torch.randn(2, method.G.z_dim)
    eps = torch.randn_like(x0)
    with torch.no_grad():
        prediction = method.G(x0, 0, z)
    tau = method.config.tau
    assert tau == 0.01
    expected = 0.5 * x0 + 0.5 * prediction + math.sqrt(tau * 0.25) * eps
    torch.testing.assert_close(x1, expected)
    torch.testing.assert_close(chain_step(x0, prediction, 0.0, 0.5, tau, eps), expected)


def test_energy_and_sb_losses_against_a_hand_computation():
    e_pos = torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64)  # mean 2
    e_neg = torch.tensor([[[[0.0, math.log(3.0)]]]], dtype=torch.float64)  # logsumexp = log(1 + 3) = log 4
    lse = math.log(4.0)
    assert float(energy_loss(e_pos, e_neg)) == pytest.approx(-2 + lse + lse**2)
    x_t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x1 = torch.tensor([1.0, 1.0], dtype=torch.float64)  # mean squared distance 0.5
    # step index 1 of T = 5: weight (5 - 1) / 5
    value = float(sb_loss(e_pos, e_neg, x_t, x1, step=1, num_steps=5, tau=0.01))
    assert value == pytest.approx(-(4 / 5) * 0.01 * (2 - lse) + 0.01 * 0.5)
    assert float(sb_loss(e_pos, e_neg, x_t, x1, step=0, num_steps=5, tau=0.1)) == pytest.approx(
        -0.1 * (2 - lse) + 0.1 * 0.5)


def test_generator_step_has_every_term_and_gradients_reach_G_and_the_heads(tmp_path):
    method = build(tmp_path).train()
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    steps = method.train_steps()
    assert [s.name for s in steps] == ["D", "E", "G"] and steps[2].optimizers == ("G", "F")
    assert set(map(id, steps[2].frozen)) == {id(method.D), id(method.E)}
    for step in steps[:2]:
        step.compute(batch)
    losses = steps[2].compute(batch)
    assert set(losses) == {"G_GAN", "SB", "NCE", "NCE_Y"}
    method.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    groups = method.param_groups()
    for name in ("G", "F"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[name]), name


# --------------------------------------------------------------------------- networks


def test_the_generator_depends_on_time_and_noise_and_offers_features(tmp_path):
    from ganzoo_unsb.networks import TimeResnetGenerator

    g = TimeResnetGenerator(TimeResnetGenerator.Config(ngf=4, n_blocks=5, init_gain=0.5))
    x, z = torch.rand(1, 3, 16, 16), torch.randn(1, g.z_dim)
    with torch.no_grad():  # clearly, not by rounding (a shift before instance norm would cancel out)
        base = g(x, 0, z)
        assert (base - g(x, 3, z)).abs().max() > 1e-3
        assert (base - g(x, 0, torch.randn(1, g.z_dim))).abs().max() > 1e-3
    assert g.feature_layers() == {"input": 3, "down1": 8, "down2": 16, **{f"block{i}": 16 for i in range(1, 6)}}
    feats = g.features(x, ["block5", "input"], t=2, z=z)
    assert [tuple(f.shape) for f in feats] == [(1, 16, 4, 4), (1, 3, 22, 22)]
    with pytest.raises(Exception, match="block9"):
        g.features(x, ["block9"])


def test_the_patchgan_depends_on_time():
    from ganzoo_unsb.networks import EnergyNetwork, TimePatchGAN

    d = TimePatchGAN(TimePatchGAN.Config(ndf=4, n_layers=2, init_gain=0.5))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert (d(x, 0) - d(x, 4)).abs().max() > 1e-3
        torch.testing.assert_close(d(x, torch.tensor([1, 1])), d(x, 1))
    assert EnergyNetwork.Config().input_nc == 12


def test_list_components_shows_the_unsb_parts(ganzoo_cli):
    out = ganzoo_cli("list-components").output
    for name in ("unsb_resnet_9blocks", "unsb_patchgan", "unsb_energy", "unsb"):
        assert name in out


# --------------------------------------------------------------------------- resume


def test_resume_covers_the_energy_net_and_the_heads(tmp_path):
    """The contract's exact-resume test compares model.safetensors: it must hold E and the
    PatchNCE heads, trained (not at their init); their optimizers and the negatives' memory
    are in the checkpoint's state."""
    from safetensors.torch import load_file

    from ganzoo.engine.trainer import Trainer

    resolved = load_recipe(tiny_recipe(tmp_path, iterations=2), list(TINY))
    run = Trainer(resolved, show_progress=False).fit().run_dir
    saved = load_file(run / "checkpoints" / "final" / "model.safetensors")
    torch.manual_seed(resolved.run.seed)
    fresh = resolved.build_method().state_dict()
    for prefix in ("E.", "nce_loss.heads.", "D.", "G."):
        keys = [k for k in saved if k.startswith(prefix)]
        assert keys, prefix
        assert any(not torch.equal(saved[k], fresh[k]) for k in keys), f"{prefix} did not train"
    state = torch.load(run / "checkpoints" / "final" / "state.pt", weights_only=True)
    assert state["method"]["previous_A"].shape == (2, 3, 16, 16)  # the batch the next energy step pairs with
    assert set(state["optimizers"]) == {"G", "D", "E", "F"} and state["optimizers"]["F"]["state"]


# --------------------------------------------------------------------------- inference


@pytest.fixture(scope="module")
def unsb_run(tmp_path_factory) -> Path:
    from ganzoo.engine.trainer import Trainer

    root = tmp_path_factory.mktemp("unsb_run")
    return Trainer(load_recipe(tiny_recipe(root, iterations=2), list(TINY)), show_progress=False).fit().run_dir


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate((16, 16, 20)):
        Image.fromarray(rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_steps_change_the_translation_and_a_seed_repeats_it(unsb_run, inputs, tmp_path, ganzoo_cli):
    def translate(name: str, *options: str) -> dict[str, np.ndarray]:
        result = ganzoo_cli("translate", unsb_run, inputs, "--out", tmp_path / name, "--no-progress", *options)
        assert result.exit_code == 0, result.output
        return _images(tmp_path / name)

    one, three = translate("one", "--steps", "1"), translate("three", "--steps", "3")
    again = translate("again", "--steps", "3", "--batch-size", "1")  # batch and order do not matter
    other_seed = translate("seed1", "--steps", "3", "--seed", "1")
    default = translate("default")
    assert one.keys() == three.keys() and len(one) == 3
    for name in one:
        assert one[name].shape == three[name].shape
        assert not np.array_equal(one[name], three[name])
        assert np.array_equal(three[name], again[name])
        assert not np.array_equal(three[name], other_seed[name])
    five = translate("five", "--steps", "5")
    assert all(np.array_equal(default[n], five[n]) for n in default)  # the recipe's default: 5


def test_steps_out_of_range_or_for_a_single_step_method_are_one_line_errors(unsb_run, tiny_run, inputs, tmp_path,
                                                                          ganzoo_cli):
    for bad in ("0", "6"):
        result = ganzoo_cli("translate", unsb_run, inputs, "--out", tmp_path / bad, "--steps", bad)
        assert result.exit_code != 0 and "translates in 1 to 5 steps" in result.output, result.output
    result = ganzoo_cli("translate", tiny_run, inputs, "--out", tmp_path / "c", "--steps", "2")
    assert result.exit_code != 0 and "CycleGAN translates in one generator call" in result.output
    result = ganzoo_cli("evaluate", tiny_run, "--metrics", "psnr", "--steps", "2", "--no-progress")
    assert result.exit_code != 0 and "one generator call" in result.output


def test_evaluate_reports_each_number_of_steps(unsb_run, tmp_path, ganzoo_cli):
    import json

    out = tmp_path / "e.json"
    result = ganzoo_cli("evaluate", unsb_run, "--metrics", "psnr", "--direction", "a2b", "--steps", "1,5",
                        "--json", out, "--no-progress")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"a2b/nfe1/psnr", "a2b/nfe5/psnr"}
    assert report["results"]["a2b/nfe1/psnr"] != report["results"]["a2b/nfe5/psnr"]
    assert report["protocol"]["inference_steps"] == [1, 5] and report["protocol"]["seed"] == 0
    single = tmp_path / "s.json"
    ganzoo_cli("evaluate", unsb_run, "--metrics", "psnr", "--direction", "a2b", "--json", single, "--no-progress")
    plain = json.loads(single.read_text())
    assert plain["results"]["a2b/psnr"] == report["results"]["a2b/nfe5/psnr"]  # default NFE 5, same seed
    assert plain["protocol"]["inference_steps"] == 5


def test_export_is_the_single_step_translation_of_seed_0(unsb_run, tmp_path, ganzoo_cli):
    from ganzoo.engine.loading import load_trained
    from ganzoo.inference import Translator

    result = ganzoo_cli("export", unsb_run, "--format", "torchscript", "--out", tmp_path / "u.pt", "--size", "16")
    assert result.exit_code == 0, result.output
    assert "single-step translation (NFE 1 of 5)" in result.output and "--steps 1 --seed 0" in result.output
    _, method, _ = load_trained(unsb_run)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    exported = torch.jit.load(str(tmp_path / "u.pt"))
    with torch.no_grad():
        torch.testing.assert_close(exported(x).clamp(-1, 1), Translator.from_method(method, steps=1)(x))


# --------------------------------------------------------------------------- the horse2zebra recipe


def test_horse2zebra_recipe_has_the_references_settings(ganzoo_registry, tmp_path):
    root = write_unpaired_folders(tmp_path / "horse2zebra", n=2)
    resolved = load_recipe(RECIPES / "unsb_horse2zebra.toml", [f"data.root='{root}'"], ganzoo_registry)
    m = resolved.method.config
    assert resolved.method.spec.name == "unsb"
    assert (m.num_timesteps, m.tau, m.lambda_sb, m.nce_idt, m.inference_steps) == (5, 0.01, 1, True, 5)
    assert resolved.train.batch_size == 1 and resolved.train.epochs == 400
    assert (resolved.data.config.load_size, resolved.data.config.crop_size) == (286, 256)
    assert resolved.data.config.full_view_after == 0.5  # the decay epochs load at 256, as the reference
    assert resolved.slots["generator"].config.ngf == 64 and resolved.slots["generator"].config.n_blocks == 9
    assert resolved.slots["nce_loss"].config.weight == 1 and resolved.slots["gan_loss"].spec.name == "lsgan"
    assert set(resolved.train.eval_metrics) == {"fid", "kid"} and resolved.train.eval_every > 0
    assert (resolved.train.best_metric, resolved.train.best_mode) == ("a2b/fid", "min")


def test_horse2zebra_recipe_without_data_names_the_download_command(ganzoo_registry, tmp_path):
    missing = tmp_path / "nothing" / "horse2zebra"
    with pytest.raises(RecipeError) as info:
        load_recipe(RECIPES / "unsb_horse2zebra.toml", [f"data.root='{missing}'"], ganzoo_registry)
    assert f"ganzoo data download cyclegan/horse2zebra --root {missing.parent}" in str(info.value)


def test_checkpoints_without_blur_filters_still_load():
    """ganzoo 0.2's UNSB networks kept their constant blur filters out of the state dict; the
    shared ganzoo.layers blur modules keep them (as the references do) and accept their absence."""
    from ganzoo_unsb.networks import TimeResnetGenerator, TimeResnetGeneratorConfig

    g = TimeResnetGenerator(TimeResnetGeneratorConfig(ngf=8, n_blocks=2))
    state = g.state_dict()
    old = {k: v for k, v in state.items() if not k.endswith(".filt")}
    assert len(old) < len(state)
    fresh = TimeResnetGenerator(TimeResnetGeneratorConfig(ngf=8, n_blocks=2))
    fresh.load_state_dict(old, strict=True)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    z = torch.zeros(1, g.z_dim)
    assert torch.equal(fresh.eval()(x, 0, z), g.eval()(x, 0, z))
