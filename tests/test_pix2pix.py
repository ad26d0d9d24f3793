"""pix2pix: slot defaults, the reference update order, learning on tiny paired data, and the
facades recipe file (valid when its data is there, a download hint when it is not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.errors import GanzooError, RecipeError
from ganzoo.optim import build_optimizer
from ganzoo.recipe import load_recipe, resolve

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

TINY = {
    "run": {"seed": 0},
    "train": {"iterations": 4, "batch_size": 4},
    "method": {"type": "pix2pix", "optimizer": {"lr": 1e-3, "betas": [0.5, 0.999]}},
    "generator": {"type": "unet_128", "num_downs": 5, "ngf": 8},
    "discriminator": {"ndf": 8, "n_layers": 2},
}


def write_aligned(root: Path, n: int = 8, size: int = 32, split: str = "train") -> Path:
    """Side-by-side A|B files drawn from the procedural set's paired ground truth."""
    from ganzoo.data.procedural import ProceduralConfig, ProceduralDataset

    ds = ProceduralDataset(ProceduralConfig(image_size=size, train_size=n), "train")
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pair = ds.ground_truth(i)
        ab = torch.cat([pair["A"], pair["B"]], dim=2)  # A left, B right
        arr = ((ab.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.png")
    return root


def tiny(root: Path, **data) -> dict:
    recipe = {k: dict(v) for k, v in TINY.items()}
    recipe["data"] = {"type": "aligned", "root": str(root), "load_size": 32, "crop_size": 32,
                      "preprocess": "resize_and_crop", **data}
    return recipe


def test_slot_defaults_follow_the_reference(ganzoo_registry, tmp_path):
    write_aligned(tmp_path / "d", n=2)
    resolved = resolve({"method": {"type": "pix2pix"},
                        "data": {"type": "aligned", "root": str(tmp_path / "d")}}, ganzoo_registry)
    g, d = resolved.slots["generator"], resolved.slots["discriminator"]
    assert g.spec.name == "unet_256" and g.config.norm == "batch" and g.config.use_dropout
    assert d.spec.name == "patchgan" and d.config.input_nc == 6 and d.config.norm == "batch"
    assert resolved.slots["gan_loss"].spec.name == "vanilla"
    assert resolved.slots["l1_loss"].spec.name == "l1" and resolved.slots["l1_loss"].config.weight == 100
    cfg = resolved.method.config
    assert cfg.optimizer.lr == 2e-4 and tuple(cfg.optimizer.betas) == (0.5, 0.999)
    assert cfg.schedule.policy == "linear" and cfg.schedule.decay_start == 0.5


def test_update_order_d_first_then_g_with_d_frozen(ganzoo_registry, tmp_path):
    recipe = resolve(tiny(write_aligned(tmp_path / "d", n=2)), ganzoo_registry).build_method()
    steps = recipe.train_steps()
    assert [(s.name, s.optimizer) for s in steps] == [("D", "D"), ("G", "G")]
    assert steps[1].frozen == (recipe.D,) and not steps[0].frozen
    assert set(recipe.param_groups()) == {"G", "D"}
    assert not hasattr(recipe, "pool") and recipe.requires_paired


def train(recipe, batches, iterations: int) -> list[float]:
    """The engine's iteration, inlined: each step zeroes, computes, back-propagates and steps
    its optimizer, with the step's frozen modules excluded."""
    opts = {name: build_optimizer(params, recipe.optimizer_config(name))
            for name, params in recipe.param_groups().items()}
    l1 = []
    for it in range(iterations):
        batch = batches[it % len(batches)]
        for step in recipe.train_steps():
            frozen = [p for m in step.frozen for p in m.parameters()]
            for p in frozen:
                p.requires_grad_(False)
            opts[step.optimizer].zero_grad(set_to_none=True)
            terms = step.compute(batch)
            sum(terms.values()).backward()
            opts[step.optimizer].step()
            for p in frozen:
                p.requires_grad_(True)
            if "G_L1" in terms:
                l1.append(float(terms["G_L1"].detach()) / 100.0)
    return l1


def test_a_few_steps_lower_l1_on_tiny_paired_data(ganzoo_registry, tmp_path):
    torch.manual_seed(0)
    resolved = resolve(tiny(write_aligned(tmp_path / "d", n=8)), ganzoo_registry)
    ds = resolved.build_dataset("train")
    assert ds.paired and ds[0]["A"].shape == (3, 32, 32)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    batches = [{k: v for k, v in b.items() if k in ("A", "B")} for b in loader]
    recipe = resolved.build_method().train()
    l1 = train(recipe, batches, 30)
    first, last = np.mean(l1[:4]), np.mean(l1[-4:])
    assert last < 0.75 * first, f"L1 did not fall: {first:.3f} -> {last:.3f}"
    recipe.eval()
    with torch.no_grad():
        out = recipe.translate(batches[0]["A"])
    assert out.shape == batches[0]["B"].shape and out.abs().max() <= 1
    assert set(recipe.visuals()) == {"real_A", "fake_B", "real_B"}
    with pytest.raises(GanzooError, match="A -> B only"):
        recipe.translate(batches[0]["A"], "b2a")


def test_discriminator_channels_must_match_the_pair(ganzoo_registry, tmp_path):
    recipe = tiny(write_aligned(tmp_path / "d", n=1))
    recipe["discriminator"]["input_nc"] = 3
    with pytest.raises(GanzooError, match="input_nc.*= 6"):
        resolve(recipe, ganzoo_registry).build_method()


def test_grayscale_input_with_matching_discriminator(ganzoo_registry, tmp_path):
    recipe = tiny(write_aligned(tmp_path / "d", n=2), input_nc=1)
    recipe["generator"]["input_nc"] = 1
    recipe["discriminator"]["input_nc"] = 4
    resolved = resolve(recipe, ganzoo_registry)
    item = resolved.build_dataset()[0]
    batch = {"A": item["A"][None].repeat(2, 1, 1, 1), "B": item["B"][None].repeat(2, 1, 1, 1)}
    assert batch["A"].shape[1] == 1
    train(resolved.build_method(), [batch], 1)


def test_facades_recipe_validates_when_its_data_exists(ganzoo_registry, tmp_path):
    write_aligned(tmp_path / "facades", n=1, size=16)
    resolved = load_recipe(RECIPES / "pix2pix_facades.toml", [f"data.root='{tmp_path / 'facades'}'"],
                           ganzoo_registry)
    assert resolved.method.spec.name == "pix2pix" and resolved.data.spec.name == "aligned"
    assert resolved.data.config.direction == "BtoA"
    assert (resolved.data.config.load_size, resolved.data.config.crop_size) == (286, 256)
    assert resolved.train.batch_size == 1 and resolved.train.epochs == 200
    item = resolved.build_dataset("train")[0]
    assert item["A"].shape == (3, 256, 256)


def test_facades_recipe_without_data_names_the_download_command(ganzoo_registry, tmp_path, ganzoo_cli):
    missing = tmp_path / "nothing" / "facades"
    with pytest.raises(RecipeError) as info:
        load_recipe(RECIPES / "pix2pix_facades.toml", [f"data.root='{missing}'"], ganzoo_registry)
    message = str(info.value)
    assert str(missing) in message
    assert f"ganzoo data download pix2pix/facades --root {missing.parent}" in message
    result = ganzoo_cli("validate", RECIPES / "pix2pix_facades.toml", "--set", f"data.root='{missing}'")
    assert result.exit_code == 2 and "ganzoo data download pix2pix/facades" in result.output


def test_runs_end_to_end_through_the_cli(tmp_path, ganzoo_cli):
    root = write_aligned(tmp_path / "d", n=4)
    recipe = tmp_path / "p.toml"
    recipe.write_text(f"""
[run]
out_dir = '{tmp_path / "runs"}'
[train]
iterations = 2
batch_size = 2
log_every = 1
sample_every = 0
checkpoint_every = 0
[method]
type = "pix2pix"
[data]
type = "aligned"
root = '{root}'
load_size = 32
crop_size = 32
[generator]
type = "unet_128"
num_downs = 5
ngf = 4
[discriminator]
ndf = 4
n_layers = 1
""")
    result = ganzoo_cli("run", recipe, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "finished at step 2" in result.output


def test_engine_evaluates_only_the_learned_direction(ganzoo_registry, tmp_path):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import resolve

    root = write_aligned(tmp_path / "d", n=4)
    write_aligned(root, n=4, split="test")
    recipe = tiny(root)
    recipe["train"] = {"iterations": 1, "batch_size": 2, "sample_every": 0, "checkpoint_every": 0}
    result = Trainer(resolve(recipe, ganzoo_registry), run_dir=tmp_path / "run", show_progress=False).fit()
    final = result.evaluations[-1]
    assert "a2b/psnr" in final and "b2a/psnr" not in final


def test_engine_refuses_unpaired_data_before_training(ganzoo_registry, tmp_path):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.errors import GanzooError
    from ganzoo.recipe import resolve

    recipe = {k: dict(v) for k, v in TINY.items()}
    recipe["data"] = {"type": "procedural", "image_size": 32}
    with pytest.raises(GanzooError, match="trains on aligned pairs, but data 'procedural' is unpaired"):
        Trainer(resolve(recipe, ganzoo_registry), run_dir=tmp_path / "run", show_progress=False).fit()
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_translation_tests_as_the_reference_with_dropout_and_each_images_statistics(ganzoo_registry, tmp_path):
    """The pix2pix reference tests without --eval: dropout on, batch norm on the statistics of the
    test image (batch 1). Deterministic all the same, whatever the batch, and without side effects."""
    from ganzoo.inference import Translator, testing

    recipe = tiny(write_aligned(tmp_path / "d", n=2))
    recipe["generator"]["num_downs"] = 6  # the reference's dropout sits in the blocks past the fifth
    method = resolve(recipe, ganzoo_registry).build_method()
    assert type(method).test_mode == "train"
    torch.manual_seed(0)
    for _ in range(3):  # give the running statistics something other than their initial values
        method.generator_step({"A": torch.rand(2, 3, 64, 64) * 2 - 1, "B": torch.rand(2, 3, 64, 64) * 2 - 1})
    method.eval()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    buffers = {k: v.clone() for k, v in method.state_dict().items() if "running" in k}
    state = torch.get_rng_state()
    translator = Translator.from_method(method, "a2b")
    together = translator(x)
    alone = torch.cat([translator(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone)  # each image alone, fresh noise per image: batch-independent
    torch.testing.assert_close(translator(x), together)  # and repeatable
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream untouched
    assert all(torch.equal(v, method.state_dict()[k]) for k, v in buffers.items())  # running stats untouched
    assert not method.training
    with torch.no_grad():
        eval_mode = method.translate(x, "a2b").clamp(-1, 1)
    assert (together - eval_mode).abs().max() > 1e-3  # not eval mode
    with testing(method) as alone_flag:
        dropouts = [m for m in method.modules() if isinstance(m, torch.nn.Dropout)]
        norms = [m for m in method.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert alone_flag and dropouts and all(m.training for m in dropouts + norms)
    assert not any(m.training for m in dropouts + norms)


def test_cyclegan_tests_in_eval_mode(ganzoo_registry):
    from ganzoo.inference import Translator

    method = resolve({"method": {"type": "cyclegan"}, "data": {"type": "procedural", "image_size": 16},
                      "generator": {"type": "resnet_6blocks", "ngf": 4}, "discriminator": {"ndf": 4}},
                     ganzoo_registry, check_data=False).build_method()
    assert type(method).test_mode == "eval"
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(Translator.from_method(method, "a2b")(x), method.eval().G_A(x).clamp(-1, 1))
