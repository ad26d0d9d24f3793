"""MUNIT: the default networks' shapes and parameter counts against the reference's formula,
AdaIN against its definition, the loss terms, style codes (random and reference-guided) through
the method, the Translator, the CLI (--style-from, --samples, --grid) and the Python API, the
diversity metric on a hand-made example and through evaluate, and the recipes. Exact resume is
the method contract's (TestMUNIT below). Tiny widths and 16 px images: seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ganzoo_unit import MUNITGenerator, MUNITGeneratorConfig, adain_param_count
from ganzoo_unit.munit_networks import AdaIN
from PIL import Image

from ganzoo.errors import GanzooError, RecipeError
from ganzoo.recipe import load_recipe
from ganzoo.testing import MethodContract

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TINY = ("generator.dim=4", "generator.n_res=1", "generator.mlp_dim=8", "discriminator.dim=4",
        "discriminator.n_layer=2", "discriminator.num_scales=2")


class TestMUNIT(MethodContract):
    method = "munit"
    overrides = TINY


def tiny_recipe(tmp_path: Path, iterations: int = 2) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "munit.toml"
    path.write_text(
        f"[run]\nname = \"munit\"\nseed = 0\nout_dir = '{tmp_path / 'runs'}'\n\n"
        f"[train]\niterations = {iterations}\nbatch_size = 2\nlog_every = 1\nsample_every = 0\n"
        "checkpoint_every = 0\neval_items = 4\neval_metrics = []\n\n"
        "[method]\ntype = \"munit\"\n\n"
        "[data]\ntype = \"procedural\"\nimage_size = 16\ntrain_size = 8\ntest_size = 4\n")
    return path


def build(tmp_path: Path, *more: str):
    return load_recipe(tiny_recipe(tmp_path), [*TINY, *more]).build_method()


# --------------------------------------------------------------------------- networks


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def test_default_generator_shapes_and_parameter_count_follow_the_reference_formula():
    g = MUNITGenerator(MUNITGeneratorConfig())
    # AdaINGen(dim 64, style_dim 8, n_downsample 2, n_res 4, mlp_dim 256, 3 MLP layers), 3 channels.
    style = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 2 * conv(256, 256, 4) + conv(256, 8, 1)
    content = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 4 * 2 * conv(256, 256, 3)  # IN: no params
    decoder = 4 * 2 * conv(256, 256, 3) + conv(256, 128, 5) + 2 * 128 + conv(128, 64, 5) + 2 * 64 + conv(64, 3, 7)
    adain = 4 * 2 * 2 * 256  # 4 blocks x 2 norms x (scale, shift) x 256 channels
    mlp = (8 * 256 + 256) + (256 * 256 + 256) + (256 * adain + adain)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in g.named_children()}
    assert counts == {"enc_style": style, "enc_content": content, "dec": decoder, "mlp": mlp}
    assert adain_param_count(64, 2, 4) == adain == g.dec.num_adain_params
    assert sum(counts.values()) == 15_026_187
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        c, s = g.encode(x)
        assert c.shape == (2, 256, 8, 12) and s.shape == (2, 8, 1, 1)
        assert g.decode(c, s).shape == x.shape and g(x).shape == x.shape
    with pytest.raises(GanzooError, match="multiple of 4"):
        g.encode(torch.zeros(1, 3, 30, 32))


def test_default_discriminator_is_units_multiscale_patchgan(ganzoo_registry, tmp_path):
    method = load_recipe(tiny_recipe(tmp_path), []).build_method()
    d = method.dis_a
    assert type(d).__name__ == "MultiScaleDiscriminator" and len(d.cnns) == 3
    per_scale = conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + conv(512, 1, 1)
    assert sum(p.numel() for p in d.parameters()) == 3 * per_scale
    c = method.config
    assert (c.gan_w, c.recon_x_w, c.recon_s_w, c.recon_c_w, c.recon_x_cyc_w, c.vgg_w) == (1, 10, 1, 1, 0, 0)
    assert (c.optimizer.lr, tuple(c.optimizer.betas), c.optimizer.weight_decay) == (1e-4, (0.5, 0.999), 1e-4)
    assert (c.schedule.policy, c.schedule.step_size, c.schedule.gamma) == ("step", 100_000, 0.5)


def test_adain_gives_each_channel_the_requested_mean_and_std():
    x = torch.randn(2, 3, 8, 8) * 5 + 3
    weight, bias = torch.tensor([[1.0, 2.0, 0.5], [3.0, 1.0, 1.0]]), torch.tensor([[0.0, -1.0, 2.0], [1.0, 1.0, 0.0]])
    y = AdaIN(3)(x, weight, bias)
    torch.testing.assert_close(y.mean((2, 3)), bias, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var((2, 3), unbiased=False).sqrt(), weight, atol=1e-3, rtol=1e-3)


# --------------------------------------------------------------------------- losses and styles


def test_generator_step_has_the_references_terms_and_optional_cycle(tmp_path):
    torch.manual_seed(0)
    method = build(tmp_path).train()
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    terms = {"gan_a", "gan_b", "recon_x_a", "recon_x_b", "recon_s_a", "recon_s_b", "recon_c_a", "recon_c_b"}
    assert set(method.generator_step(batch)) == terms
    assert set(method.discriminator_step(batch)) == {"dis_a", "dis_b"}
    cyc = build(tmp_path / "c", "method.recon_x_cyc_w=10").train()
    assert set(cyc.generator_step(batch)) == terms | {"cyc_x_a", "cyc_x_b"}
    off = build(tmp_path / "o", "method.recon_s_w=0", "method.recon_c_w=0").train()
    assert set(off.generator_step(batch)) == {"gan_a", "gan_b", "recon_x_a", "recon_x_b"}


def test_style_codes_change_the_output_and_a_seed_repeats_it(tmp_path):
    from ganzoo.inference import Translator

    method = build(tmp_path).eval()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        s1, s2 = torch.randn(1, 8, 1, 1), torch.randn(1, 8, 1, 1)
        assert not torch.allclose(method.translate(x, style=s1), method.translate(x, style=s2))
        ref = torch.rand(1, 3, 16, 16) * 2 - 1
        guided = method.translate(x, "a2b", reference=ref)
        torch.testing.assert_close(guided, method.translate(x, "a2b", style=method.style_of(ref, "a2b")))
        with pytest.raises(GanzooError, match="2 style references for 3 inputs"):
            method.translate(x, reference=torch.rand(2, 3, 16, 16))
        wide = method.translate(x, reference=torch.rand(1, 3, 16, 40) * 2 - 1)  # any size: global pooling
        assert wide.shape == x.shape
        with pytest.raises(GanzooError, match="smaller than the 16 px its style encoder needs"):
            method.translate(x, reference=torch.rand(1, 3, 8, 8))
    same = Translator.from_method(method, "a2b", seed=5)(x)
    again = Translator.from_method(method, "a2b", seed=5)(x[[2, 1, 0]])[[2, 1, 0]]  # order does not matter
    other = Translator.from_method(method, "a2b", seed=6)(x)
    torch.testing.assert_close(same, again)
    assert not torch.allclose(same, other)
    with_ref = Translator.from_method(method, "a2b", seed=6, reference=ref)(x)
    torch.testing.assert_close(with_ref, guided.clamp(-1, 1))


def test_export_is_the_translation_of_seed_0(tmp_path):
    from ganzoo.export import export_translation
    from ganzoo.inference import Translator

    method = build(tmp_path).eval()
    export_translation(method, tmp_path / "m.pt", fmt="torchscript", direction="b2a", size=16)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(tmp_path / "m.pt"))(x).clamp(-1, 1),
                                   Translator.from_method(method, "b2a", seed=0)(x))


# --------------------------------------------------------------------------- CLI and API


@pytest.fixture(scope="module")
def munit_run(tmp_path_factory) -> Path:
    from ganzoo.engine.trainer import Trainer

    root = tmp_path_factory.mktemp("munit_run")
    return Trainer(load_recipe(tiny_recipe(root), list(TINY)), show_progress=False).fit().run_dir


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate((16, 20)):
        Image.fromarray(rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    return folder


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_translate_samples_style_from_and_grid(munit_run, inputs, tmp_path, ganzoo_cli):
    def translate(name: str, *options: str) -> dict[str, np.ndarray]:
        result = ganzoo_cli("translate", munit_run, inputs, "--out", tmp_path / name, "--no-progress", *options)
        assert result.exit_code == 0, result.output
        return _images(tmp_path / name)

    samples = translate("samples", "--samples", "3", "--seed", "4")
    assert sorted(samples) == [f"{i}_{k}.png" for i in range(2) for k in range(3)]
    assert samples["0_0.png"].shape == (16, 20, 3) and samples["1_2.png"].shape == (20, 24, 3)
    assert not np.array_equal(samples["0_0.png"], samples["0_1.png"])  # each sample its own style
    seed5 = translate("seed5", "--seed", "5")  # sample k is what --seed S+k writes
    assert np.array_equal(seed5["0.png"], samples["0_1.png"]) and np.array_equal(seed5["1.png"], samples["1_1.png"])
    grid = translate("grid", "--samples", "3", "--seed", "4", "--grid")
    assert sorted(grid) == ["0.png", "1.png"] and grid["0.png"].shape == (16, 4 * 20, 3)
    assert np.array_equal(grid["0.png"][:, 20:40], samples["0_0.png"])
    assert np.array_equal(grid["0.png"][:, :20], np.asarray(Image.open(inputs / "0.png")))
    styled = translate("styled", "--style-from", str(tmp_path / "style.png"))
    styled_again = translate("styled2", "--style-from", str(tmp_path / "style.png"), "--seed", "9")
    assert all(np.array_equal(styled[n], styled_again[n]) for n in styled)  # the reference fixes the style
    assert not np.array_equal(styled["0.png"], seed5["0.png"])


def test_translate_refuses_samples_of_a_deterministic_method_and_bad_references(munit_run, tiny_run, inputs,
                                                                                 tmp_path, ganzoo_cli):
    result = ganzoo_cli("translate", tiny_run, inputs, "--out", tmp_path / "a", "--samples", "2")
    assert result.exit_code != 0 and "CycleGAN translates each input to one image" in result.output
    result = ganzoo_cli("translate", tiny_run, inputs, "--out", tmp_path / "b", "--style-from", tmp_path / "style.png")
    assert result.exit_code != 0 and "CycleGAN has no reference-guided translation" in result.output
    result = ganzoo_cli("translate", munit_run, inputs, "--out", tmp_path / "c", "--style-from", tmp_path / "no.png")
    assert result.exit_code != 0 and "no such file" in result.output
    result = ganzoo_cli("translate", munit_run, inputs, "--out", tmp_path / "d", "--style-from",
                        tmp_path / "style.png", "--samples", "2")
    assert result.exit_code != 0 and "drop --samples" in result.output


def test_numbered_outputs_that_would_overwrite_each_other_are_refused(tmp_path):
    from ganzoo.inference import Job
    from ganzoo.multimodal import translate_samples

    jobs = [Job(tmp_path / "a.png", tmp_path / "out" / "a.png", (16, 16)),
            Job(tmp_path / "a_0.png", tmp_path / "out" / "a_0.png", (16, 16))]
    with pytest.raises(GanzooError, match="numbered outputs collide"):
        translate_samples([None, None], jobs)  # refused before anything is read or translated


def test_python_api_samples_and_reference(munit_run, inputs, tmp_path):
    import ganzoo

    model = ganzoo.load(munit_run, device="cpu")
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    outs = model.translate(x, samples=3, seed=2)
    assert len(outs) == 3 and not torch.equal(outs[0], outs[1])
    torch.testing.assert_close(outs[1], model.translate(x, seed=3))
    ref = Image.fromarray(np.full((16, 16, 3), 200, dtype=np.uint8))
    guided = model.translate(x, reference=ref)
    torch.testing.assert_close(guided, model.translate(x, reference=torch.full((3, 16, 16), 200 / 127.5 - 1)))
    report = model.translate_folder(inputs, tmp_path / "o", samples=2, seed=3, grid=True)
    assert report.written == 2 and Image.open(tmp_path / "o" / "0.png").size == (3 * 20, 16)


# --------------------------------------------------------------------------- diversity


class _L1Net(torch.nn.Module):
    """A stand-in for LPIPS: the mean absolute difference per image."""

    def forward(self, a, b):
        return (a - b).abs().flatten(1).mean(1)


def test_diversity_is_the_mean_over_pairs_then_inputs(monkeypatch):
    from ganzoo.metrics.diversity import Diversity

    monkeypatch.setattr(Diversity, "model", lambda self: _L1Net())
    metric = Diversity(Diversity.Config(samples=3))
    # Input 0: samples at constant levels 0, 0.3, 0.9 -> pairs 0.3, 0.9, 0.6 -> 0.6.
    # Input 1: all samples equal -> 0.
    levels = torch.tensor([[0.0, 0.5], [0.3, 0.5], [0.9, 0.5]])
    samples = levels[:, :, None, None, None].expand(3, 2, 3, 4, 4)
    metric.update(samples[0])  # single translations are ignored
    metric.update_samples(samples)
    assert metric.compute()["diversity"] == pytest.approx(0.3)  # (0.6 + 0) / 2
    assert Diversity.higher_is_better == {"diversity": True} and not Diversity.needs_pairs


def test_evaluate_reports_diversity_for_munit_and_skips_it_for_a_deterministic_method(tmp_path, monkeypatch):
    from ganzoo.metrics.diversity import Diversity
    from ganzoo.metrics.evaluate import build_metrics, evaluate

    monkeypatch.setattr(Diversity, "model", lambda self: _L1Net())
    monkeypatch.setattr(Diversity, "check", lambda self: None)
    resolved = load_recipe(tiny_recipe(tmp_path), list(TINY))
    method = resolved.build_method()
    data = resolved.build_dataset("test")
    metrics = build_metrics(["psnr", "diversity"], {"diversity": {"samples": 3}})
    report = evaluate(method, data, metrics, max_items=4, directions=["a2b"])
    assert set(report.results) == {"a2b/psnr", "a2b/diversity"} and report.results["a2b/diversity"] > 0
    assert report.protocol["metrics"]["diversity"]["diversity"].startswith("mean LPIPS")
    unit = load_recipe(tiny_recipe(tmp_path / "u"), ["method.type='unit'", "generator.type='unit_vae'",
                                                     "generator.dim=4", "generator.n_res=1", "discriminator.dim=4",
                                                     "discriminator.n_layer=2", "discriminator.num_scales=2"])
    report = evaluate(unit.build_method(), data, build_metrics(["psnr", "diversity"]), max_items=4,
                      directions=["a2b"])
    assert "a2b/psnr" in report.results and "one image" in report.skipped["a2b/diversity"]


def test_trains_on_unpaired_folders_and_scores_diversity_without_ground_truth(tmp_path, monkeypatch):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.metrics.diversity import Diversity
    from ganzoo.metrics.evaluate import build_metrics, evaluate
    from ganzoo.testing import write_unpaired_folders

    monkeypatch.setattr(Diversity, "model", lambda self: _L1Net())
    monkeypatch.setattr(Diversity, "check", lambda self: None)
    root = write_unpaired_folders(tmp_path / "data", n=4, size=16)
    folders = ["data.type='unpaired_folders'", f"data.root='{root}'", "data.load_size=16", "data.crop_size=16"]
    resolved = load_recipe(tiny_recipe(tmp_path, iterations=1), [*TINY, *folders])
    result = Trainer(resolved, show_progress=False).fit()
    assert result.step == 1
    report = evaluate(resolved.build_method(), resolved.build_dataset("test"), build_metrics(["psnr", "diversity"]),
                      max_items=4, directions=["a2b", "b2a"])
    assert set(report.results) == {"a2b/diversity", "b2a/diversity"} and "unpaired" in report.skipped["a2b/psnr"]


def test_diversity_without_lpips_weights_is_a_clear_skip(tmp_path, monkeypatch):
    from ganzoo.metrics.evaluate import build_metrics, evaluate

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nohub"))
    monkeypatch.delenv("GANZOO_LPIPS_BACKBONE", raising=False)
    resolved = load_recipe(tiny_recipe(tmp_path), list(TINY))
    report = evaluate(resolved.build_method(), resolved.build_dataset("test"), build_metrics(["diversity"]),
                      max_items=2, directions=["a2b"])
    assert "ganzoo weights fetch lpips-alex" in report.skipped["a2b/diversity"]


# --------------------------------------------------------------------------- recipes


def test_quickstart_recipe_builds_on_the_built_in_data(ganzoo_registry):
    resolved = load_recipe(RECIPES / "munit_quickstart.toml", [], ganzoo_registry)
    assert resolved.method.spec.name == "munit" and resolved.data.spec.name == "procedural"
    assert resolved.slots["generator"].spec.name == "munit_adain"
    assert resolved.slots["discriminator"].spec.name == "multiscale_patchgan"


def test_edges2shoes_recipe_has_the_references_settings_and_names_the_download(ganzoo_registry, tmp_path):
    root = tmp_path / "edges2shoes"
    (root / "train").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 16, 3), dtype=np.uint8)).save(root / "train" / "1_AB.jpg")
    resolved = load_recipe(RECIPES / "munit_edges2shoes.toml", [f"data.root='{root}'"], ganzoo_registry)
    g, m = resolved.slots["generator"].config, resolved.method.config
    assert (g.dim, g.style_dim, g.n_downsample, g.n_style_downsample, g.n_res, g.mlp_dim) == (64, 8, 2, 4, 4, 256)
    assert (m.recon_x_w, m.recon_s_w, m.recon_c_w, m.recon_x_cyc_w, m.vgg_w) == (10, 1, 1, 0, 0)
    assert resolved.train.batch_size == 1 and resolved.train.iterations == 1_000_000
    assert (m.schedule.step_size, m.schedule.gamma, m.optimizer.weight_decay) == (100_000, 0.5, 1e-4)
    missing = tmp_path / "nothing" / "edges2shoes"
    with pytest.raises(RecipeError) as info:
        load_recipe(RECIPES / "munit_edges2shoes.toml", [f"data.root='{missing}'"], ganzoo_registry)
    assert f"ganzoo data download pix2pix/edges2shoes --root {missing.parent}" in str(info.value)
