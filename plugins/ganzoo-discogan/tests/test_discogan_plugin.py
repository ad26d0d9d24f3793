"""The DiscoGAN plugin's own tests, run against an installed ganzoo with the fixtures of
``ganzoo.testing`` (a pytest plugin that installing ganzoo registers). They need the plugin
installed (``pip install plugins/ganzoo-discogan``, or on PYTHONPATH via ``pip --target``), since
ganzoo finds plugins through their entry points, never by import.

Fidelity checks compare with SKTBrain/DiscoGAN: layer names and shapes, the feature-matching
formula, optimizer defaults, the loss mix and the update schedule.
"""

from __future__ import annotations

import json
from pathlib import Path

import ganzoo
import pytest
import torch
from ganzoo.testing import MethodContract
from torch import nn

import ganzoo_discogan

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
RECIPE = RECIPES / "discogan_quickstart.toml"
EDGES2SHOES = RECIPES / "discogan_edges2shoes.toml"
TINY = [
    "-s", "data.image_size=16", "-s", "data.train_size=8", "-s", "data.test_size=4",
    "-s", "generator.ngf=4", "-s", "generator.n_layers=2",
    "-s", "discriminator.ndf=4", "-s", "discriminator.n_layers=2",
    "-s", "train.batch_size=2", "-s", "train.eval_items=4", "-s", "train.sample_every=0",
]


def build_recipe(registry, recipe: dict | None = None, **slots: dict) -> ganzoo.Method:
    """A DiscoGAN recipe at 16 px from the registry, the way a recipe file would build it."""
    spec = registry.get("method", "discogan")
    chosen = {
        "generator": ("generator", {"type": "discogan_encdec", "ngf": 4, "n_layers": 2}),
        "discriminator": ("discriminator", {"type": "discogan", "ndf": 4, "n_layers": 2}),
    }
    parts = {}
    for slot_name, slot in spec.cls.slots.items():
        kind, values = chosen.get(slot_name, (slot.kind, {}))
        values = {**slot.defaults, "type": slot.default, **values, **slots.get(slot_name, {})}
        component = registry.get(kind, values.pop("type"))
        config = component.make_config({k: v for k, v in values.items() if k in component.config.model_fields})
        kwargs = {"name": slot_name} if kind == "loss" else {}
        parts[slot_name] = lambda c=component, cfg=config, kw=kwargs: c.build(cfg, **kw)
    return spec.cls(spec.make_config(recipe), parts)


def batch(size: int = 16, n: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"A": torch.rand(n, 3, size, size) * 2 - 1, "B": torch.rand(n, 3, size, size) * 2 - 1}


# ---------------------------------------------------------------- the plugin is installed and listed


def test_plugin_is_loaded_with_provenance(ganzoo_plugins):
    info = next(p for p in ganzoo_plugins.plugins if p.name == "discogan")
    assert info.status == "loaded", info.error
    assert (info.dist, info.version, info.components) == ("ganzoo-discogan", ganzoo_discogan.__version__, 4)
    for kind, name in [("method", "discogan"), ("generator", "discogan_encdec"),
                       ("discriminator", "discogan"), ("loss", "discogan_fm")]:
        assert ganzoo_plugins.registry.get(kind, name).plugin.dist == "ganzoo-discogan"


def test_written_against_this_api_version():
    assert ganzoo.API_VERSION == ganzoo_discogan.REQUIRED_API_VERSION


def test_listed_by_the_cli(ganzoo_cli):
    result = ganzoo_cli("list-components", "--json", "--filter", "discogan*")
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {("method", "discogan"), ("generator", "discogan_encdec"),
                         ("discriminator", "discogan"), ("loss", "discogan_fm")}
    assert all(r["dist"] == "ganzoo-discogan" and r["version"] for r in rows.values())


def test_its_recipes_run_by_name(ganzoo_cli, tmp_path, monkeypatch):
    """The installed package carries its recipes: ``ganzoo recipes`` lists them and a name finds
    one from any folder (here an empty one)."""
    monkeypatch.chdir(tmp_path)
    rows = {r["name"]: r for r in json.loads(ganzoo_cli("recipes", "--json").stdout)}
    for name in ("discogan_quickstart", "discogan_edges2shoes"):
        assert rows[name]["method"] == "discogan" and rows[name]["source"].startswith("discogan")
    result = ganzoo_cli("validate", "discogan_quickstart")
    assert result.exit_code == 0, result.output
    plugin = next(p for p in json.loads(ganzoo_cli("plugins", "--json").stdout) if p["name"] == "discogan")
    assert [Path(folder).name for folder in plugin["recipe_folders"]] == ["recipes"]


# ---------------------------------------------------------------- networks: the reference's layout


def test_generator_has_the_reference_layout_at_64px(ganzoo_registry):
    g = ganzoo_registry.get("generator", "discogan_encdec").build()
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items() if k.endswith("weight")}
    # model.Generator(extra_layers=False) of SKTBrain/DiscoGAN: index -> weight shape
    assert shapes == {
        "main.0.weight": (64, 3, 4, 4), "main.2.weight": (128, 64, 4, 4), "main.3.weight": (128,),
        "main.5.weight": (256, 128, 4, 4), "main.6.weight": (256,), "main.8.weight": (512, 256, 4, 4),
        "main.9.weight": (512,), "main.11.weight": (512, 256, 4, 4), "main.12.weight": (256,),
        "main.14.weight": (256, 128, 4, 4), "main.15.weight": (128,), "main.17.weight": (128, 64, 4, 4),
        "main.18.weight": (64,), "main.20.weight": (64, 3, 4, 4),
    }
    assert not any(k.endswith("bias") and "main.0" in k for k in g.state_dict())  # convs have no bias
    assert g.stride == 16


def test_generator_shapes_range_and_bottleneck(ganzoo_registry):
    spec = ganzoo_registry.get("generator", "discogan_encdec")
    g = spec.build({"ngf": 4, "n_layers": 2})
    y = g(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert y.shape == (2, 3, 16, 16) and y.abs().max() <= 1
    # the reference's extra_layers: a 100-channel 1x1 code at 64 px
    g = spec.build({"ngf": 4, "bottleneck": 100})
    assert g.main[11].out_channels == 100  # after the 11 encoder layers, as extra_layers=True
    assert g(torch.zeros(2, 3, 64, 64)).shape == (2, 3, 64, 64)


def test_discriminator_layout_logits_and_features(ganzoo_registry):
    spec = ganzoo_registry.get("discriminator", "discogan")
    d = spec.build()
    assert [k for k in d.state_dict() if k.endswith("weight")] == [
        "conv1.weight", "conv2.weight", "bn2.weight", "conv3.weight", "bn3.weight", "conv4.weight",
        "bn4.weight", "conv5.weight"]
    logits, features = d.forward_features(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 1, 1)
    assert [tuple(f.shape[1:]) for f in features] == [(128, 16, 16), (256, 8, 8), (512, 4, 4)]
    small = spec.build({"ndf": 4, "n_layers": 2})
    assert small(torch.zeros(2, 3, 16, 16)).shape == (2, 1, 1, 1)


def test_discriminator_says_what_to_do_when_images_are_too_small(ganzoo_registry):
    d = ganzoo_registry.get("discriminator", "discogan").build({"ndf": 4})
    with pytest.raises(ganzoo.GanzooError, match=r"needs at least 64 px; set discriminator.n_layers to 3"):
        d(torch.zeros(1, 3, 32, 32))


# ---------------------------------------------------------------- losses


def test_feature_matching_is_the_references_get_fm_loss(ganzoo_registry):
    d = ganzoo_registry.get("discriminator", "discogan").build({"ndf": 4, "n_layers": 3})
    fm = ganzoo_registry.get("loss", "discogan_fm").build({"weight": 1.0})
    real, fake = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32).requires_grad_(True)
    ours = fm(d, real, fake)
    # get_fm_loss: HingeEmbeddingLoss(l2, ones) per layer, summed
    _, real_feats = d.forward_features(real)
    _, fake_feats = d.forward_features(fake)
    reference = sum(nn.HingeEmbeddingLoss()((r.mean(0) - f.mean(0)) ** 2, torch.ones_like(r[0]))
                    for r, f in zip(real_feats, fake_feats, strict=True))
    torch.testing.assert_close(ours, reference)
    ours.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_feature_matching_needs_a_discriminator_with_features(ganzoo_registry):
    patchgan = ganzoo_registry.get("discriminator", "patchgan").build({"ndf": 4, "n_layers": 1})
    fm = ganzoo_registry.get("loss", "discogan_fm").build()
    with pytest.raises(ganzoo.GanzooError, match="forward_features"):
        fm(patchgan, torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))


# ---------------------------------------------------------------- the recipe


def test_recipe_defaults_are_the_references(ganzoo_registry):
    config = ganzoo_registry.get("method", "discogan").make_config()
    assert (config.optimizer.lr, config.optimizer.betas, config.optimizer.weight_decay) == (2e-4, (0.5, 0.999), 1e-5)
    assert config.schedule.policy == "constant"
    assert (config.gan_curriculum, config.starting_rate, config.default_rate, config.update_interval) == (
        10_000, 0.01, 0.5, 3)
    recipe = build_recipe(ganzoo_registry)
    assert (recipe.gan_loss.weight, recipe.fm_loss.weight, recipe.recon_loss.weight) == (0.1, 0.9, 1.0)
    assert recipe.d_gan_loss.weight == 1.0  # D's loss is not scaled by G's 0.1
    assert [(s.name, s.optimizer, s.repeat) for s in recipe.train_steps()] == [("D", "D", 1), ("G", "G", 2)]


def test_generator_objective_follows_the_curriculum(ganzoo_registry):
    recipe = build_recipe(ganzoo_registry, {"gan_curriculum": 2, "starting_rate": 0.01, "default_rate": 0.5})
    data = batch()
    assert set(recipe.discriminator_step(data)) == {"D_A", "D_B"}
    early = recipe.generator_step(data)  # update 1 of 2: rate 0.01
    late = recipe.generator_step(data)  # update 2: rate 0.5
    assert recipe.updates == 3
    assert set(early) == {"recon_A", "recon_B", "G_AB", "G_BA", "fm_AB", "fm_BA"}
    rec_A = recipe.G_BA(recipe.G_AB(data["A"]))
    torch.testing.assert_close(late["recon_A"], 0.5 * nn.MSELoss()(to_01(rec_A), to_01(data["A"])))
    assert recipe.extra_state() == {"updates": 3}
    recipe.load_extra_state({"updates": 10})
    assert recipe.rate() == 0.5


def to_01(x: torch.Tensor) -> torch.Tensor:
    """ganzoo's [-1, 1] images on the reference's [0, 1] scale (its dataset.py divides by 255)."""
    return x * 0.5 + 0.5


def test_reconstruction_is_the_references_mse_on_0_1_images(ganzoo_registry):
    recipe = build_recipe(ganzoo_registry, {"gan_curriculum": 0, "default_rate": 0.5})
    data = batch()
    losses = recipe.generator_step(data)
    for domain, there_and_back in (("A", lambda x: recipe.G_BA(recipe.G_AB(x))),
                                   ("B", lambda x: recipe.G_AB(recipe.G_BA(x)))):
        real, rec = data[domain], there_and_back(data[domain])
        # the reference's nn.MSELoss(): the mean over every element (batch, channel and pixel)
        by_hand = ((to_01(rec) - to_01(real)) ** 2).sum() / real.numel()
        torch.testing.assert_close(losses[f"recon_{domain}"], 0.5 * by_hand)
        # a quarter of the MSE on ganzoo's [-1, 1] images, which the rates were not tuned for
        torch.testing.assert_close(losses[f"recon_{domain}"], 0.5 * 0.25 * ((rec - real) ** 2).mean())


@pytest.mark.parametrize("updates, rate", [(0, 0.01), (10, 0.5)])
def test_generator_objective_is_the_references_formula(ganzoo_registry, updates, rate):
    """image_translation.py: gen_loss_A_total = (gen_loss_B * 0.1 + fm_loss_B * 0.9) * (1 - rate)
    + recon_loss_A * rate, and the same for B; the generators step on their sum."""
    recipe = build_recipe(ganzoo_registry, {"gan_curriculum": 10})
    recipe.load_extra_state({"updates": updates})
    data = batch()
    ours = sum(recipe.generator_step(data).values())
    A, B = data["A"], data["B"]
    AB, BA = recipe.G_AB(A), recipe.G_BA(B)
    ABA, BAB = recipe.G_BA(AB), recipe.G_AB(BA)

    def gan_and_fm(D, real, fake):  # the reference's get_gan_loss (generator part) and get_fm_loss
        (_, real_feats), (logits, fake_feats) = D.forward_features(real), D.forward_features(fake)
        prob = torch.sigmoid(logits)  # the reference's D ends in a sigmoid, fed to nn.BCELoss
        gen = nn.BCELoss()(prob, torch.ones_like(prob))
        fm = sum(nn.HingeEmbeddingLoss()((r.mean(0) - f.mean(0)) ** 2, torch.ones_like(r[0]))
                 for r, f in zip(real_feats, fake_feats, strict=True))
        return gen, fm

    gen_B, fm_B = gan_and_fm(recipe.D_B, B, AB)
    gen_A, fm_A = gan_and_fm(recipe.D_A, A, BA)
    recon_A, recon_B = nn.MSELoss()(to_01(ABA), to_01(A)), nn.MSELoss()(to_01(BAB), to_01(B))
    total_A = (gen_B * 0.1 + fm_B * 0.9) * (1 - rate) + recon_A * rate
    total_B = (gen_A * 0.1 + fm_A * 0.9) * (1 - rate) + recon_B * rate
    torch.testing.assert_close(ours, total_A + total_B)


def test_gan_and_fm_terms_do_not_scale_with_the_image_range(ganzoo_registry):
    """Why only the reconstruction term is mapped to [0, 1]: D's probabilities and its
    batch-normalized features are the same for an input twice as large, the reconstruction
    distance is not."""
    recipe = build_recipe(ganzoo_registry)
    real, fake = batch()["A"], batch()["B"]
    torch.testing.assert_close(recipe.gan_loss.generator_loss(recipe.D_B, 2 * fake),
                               recipe.gan_loss.generator_loss(recipe.D_B, fake), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(recipe.fm_loss(recipe.D_B, 2 * real, 2 * fake), recipe.fm_loss(recipe.D_B, real, fake),
                               rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(recipe.recon_loss(2 * fake, 2 * real), 4 * recipe.recon_loss(fake, real))


def test_fm_loss_with_a_featureless_discriminator_is_a_clear_error(ganzoo_registry):
    with pytest.raises(ganzoo.GanzooError, match="fm_loss slot needs a discriminator with forward_features"):
        build_recipe(ganzoo_registry, discriminator={"type": "patchgan", "ndf": 4, "n_layers": 1})
    # without feature matching, any discriminator fits the slot
    recipe = build_recipe(ganzoo_registry, discriminator={"type": "patchgan", "ndf": 4, "n_layers": 1},
                          fm_loss={"weight": 0.0})
    assert "fm_AB" not in recipe.generator_step(batch())


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_recipes_validate_or_only_miss_their_data(ganzoo_cli, recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # recipes name their data relative to where ganzoo runs: none here
    result = ganzoo_cli("validate", recipe)
    if result.exit_code == 0:
        assert "discogan (ganzoo-discogan" in result.stdout
        return
    errors = result.stderr.strip().splitlines()
    assert errors and all(f"{recipe}: data: " in line for line in errors), result.stderr
    assert "ganzoo data download" in result.stderr  # the missing data comes with how to get it


def test_quickstart_recipe_needs_no_data(ganzoo_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ganzoo_cli("validate", RECIPE).exit_code == 0


def write_edges2shoes_stand_in(root: Path, n: int = 3) -> None:
    """Files shaped like the pix2pix edges2shoes download: 256x512, dark edges | bright photo,
    the left half darker towards its left edge (so a flip would show)."""
    from PIL import Image

    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        for i in range(n):
            image = Image.new("RGB", (512, 256), (230, 230, 230))
            image.paste(Image.linear_gradient("L").rotate(90).convert("RGB"), (0, 0))
            image.save(root / split / f"{i}_AB.jpg")


def test_edges2shoes_recipe_has_the_references_data_settings(ganzoo_cli, ganzoo_registry, tmp_path, monkeypatch):
    tomllib = pytest.importorskip("tomllib")
    monkeypatch.chdir(tmp_path)
    recipe = tomllib.loads(EDGES2SHOES.read_text())
    assert (recipe["train"]["batch_size"], recipe["data"]["root"]) == (64, "data/edges2shoes")
    write_edges2shoes_stand_in(tmp_path / "data" / "edges2shoes")
    result = ganzoo_cli("validate", EDGES2SHOES)
    assert result.exit_code == 0, result.stderr

    data = ganzoo_registry.get("dataset", recipe["data"]["type"]).build(
        {k: v for k, v in recipe["data"].items() if k != "type"}, split="train")
    items = [data[0] for _ in range(8)]
    A, B = items[0]["A"], items[0]["B"]
    assert A.shape == B.shape == (3, 64, 64)  # the whole half resized to 64 x 64
    assert A.mean() < B.mean()  # A is the left half: the edges
    assert A[..., :8].mean() < A[..., -8:].mean()  # not flipped: the dark side stays on the left
    assert all(torch.equal(item["A"], A) and torch.equal(item["B"], B) for item in items)  # no random crop or flip

    result = ganzoo_cli("run", EDGES2SHOES, "-s", "train.iterations=1", "-s", "train.batch_size=2",
                        "-s", "train.eval_items=2", "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "finished at step 1" in result.stdout


def test_edges2shoes_recipe_says_where_to_get_its_data(ganzoo_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = ganzoo_cli("validate", EDGES2SHOES)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "data set root data/edges2shoes does not exist" in message
    assert "ganzoo data download pix2pix/edges2shoes --root data" in message


def test_trains_and_resumes_on_cpu(ganzoo_cli, tmp_path):
    run_dir = tmp_path / "run"
    result = ganzoo_cli("run", RECIPE, *TINY, "-s", "train.iterations=2", "--out", run_dir, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "finished at step 2" in result.stdout and "a2b/psnr" in result.stdout
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = next(r for r in records if "D_A" in r)
    assert {"D_A", "D_B", "G_AB", "G_BA", "fm_AB", "fm_BA", "recon_A", "recon_B"} <= set(losses)
    text = (run_dir / "recipe.toml").read_text().replace("iterations = 2", "iterations = 3")
    (run_dir / "recipe.toml").write_text(text)
    result = ganzoo_cli("resume", run_dir, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "finished at step 3" in result.stdout


def test_tests_in_train_mode_as_the_reference_which_never_calls_eval(ganzoo_registry):
    method = build_recipe(ganzoo_registry)
    assert type(method).test_mode == "train"


class TestDiscoGANContract(MethodContract):
    """The contract every ganzoo method meets (build, steps, engine iteration, exact resume,
    safetensors, odd sizes, export), with one class."""

    method = "discogan"
    overrides = ("generator.ngf=4", "generator.n_layers=2", "discriminator.ndf=4", "discriminator.n_layers=2")
