"""UNIT: the networks follow the reference layout, weight sharing is real, the KL is the closed
form, a few dozen steps lower the reconstruction losses, translation is deterministic, and the
recipe files name components that exist. Tiny widths and 16-32 px images: seconds on a CPU."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ganzoo_losses.plugin as losses_plugin
import ganzoo_unit.plugin as unit_plugin
import pytest
import torch
import torch.nn.functional as F
from ganzoo_unit import (
    UNIT,
    MultiScaleDiscriminator,
    MultiScaleDiscriminatorConfig,
    UNITConfig,
    UNITGenerator,
    UNITGeneratorConfig,
    unit_kl,
)
from ganzoo_unit.losses import VGG16_CACHE_FILE, VGGPerceptualLoss, caffe_input, torchvision_input
from safetensors.torch import load_model, save_model

import ganzoo
from ganzoo.optim import build_optimizer, lr_factor
from ganzoo.plugins import load_plugins
from ganzoo.registry import PluginInfo, Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TINY: dict[str, dict[str, Any]] = {
    "generator": {"dim": 8, "n_res": 2},
    "discriminator": {"dim": 8, "n_layer": 2, "num_scales": 2},
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors gain nothing from intra-op threads, and OpenMP's spinning threads slow
    them down a hundredfold on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The core datasets, the loss plugin and this plugin only: independent of what else is
    installed or being written beside it."""
    extra = [(PluginInfo("unit"), unit_plugin), (PluginInfo("losses"), losses_plugin)]
    return load_plugins(entry_points=[], extra=extra, strict=True).registry


def make_parts(registry: Registry, tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the engine passes a recipe: slot name -> factory of a fresh configured component."""
    parts: dict[str, Any] = {}
    for slot_name, slot in UNIT.slots.items():
        table = {**slot.defaults, **tables.get(slot_name, {})}
        spec = registry.get(slot.kind, table.pop("type", slot.default))
        config = spec.make_config(table)
        kwargs = {"name": slot_name} if slot.kind == "loss" else {}
        parts[slot_name] = lambda spec=spec, config=config, kwargs=kwargs: spec.build(config, **kwargs)
    return parts


def make_recipe(registry: Registry, tables: Mapping[str, Mapping[str, Any]] = TINY, **config: Any) -> UNIT:
    return UNIT(UNITConfig.model_validate(config), make_parts(registry, tables))


def batch(n: int = 2, size: int = 16) -> dict[str, torch.Tensor]:
    return {"A": torch.rand(n, 3, size, size) * 2 - 1, "B": torch.rand(n, 3, size, size) * 2 - 1}


def run_steps(recipe: UNIT, batches: list[dict[str, torch.Tensor]], iterations: int) -> list[dict[str, float]]:
    """A minimal engine: per iteration each TrainStep in order, its ``frozen`` modules frozen."""
    optimizers = {
        name: build_optimizer(params, recipe.optimizer_config(name)) for name, params in recipe.param_groups().items()
    }
    history = []
    for it in range(iterations):
        logged: dict[str, float] = {}
        for step in recipe.train_steps():
            for module in step.frozen:
                module.requires_grad_(False)
            optimizers[step.optimizer].zero_grad(set_to_none=True)
            losses = step.compute(batches[it % len(batches)])
            sum(losses.values()).backward()
            optimizers[step.optimizer].step()
            for module in step.frozen:
                module.requires_grad_(True)
            logged.update({k: float(v.detach()) for k, v in losses.items()})
        history.append(logged)
    return history


# --------------------------------------------------------------------------- components


def test_components_are_registered(registry):
    assert registry.get("generator", "unit_vae").cls is UNITGenerator
    assert registry.get("discriminator", "multiscale_patchgan").cls is MultiScaleDiscriminator
    assert registry.get("method", "unit").cls is UNIT
    for kind, name in [("generator", "unit_vae"), ("discriminator", "multiscale_patchgan"), ("method", "unit")]:
        assert registry.get(kind, name).summary


def test_generator_defaults_match_reference_layout(registry):
    gen = registry.get("generator", "unit_vae").build()
    c = gen.config
    assert (c.dim, c.n_downsample, c.n_res, c.activ, c.pad_type, c.init) == (64, 2, 4, "relu", "reflect", "kaiming")
    # Conv 7x7 3->64, 4x4 stride-2 64->128->256, 4 + 4 residual blocks at 256, 5x5 256->128->64 with
    # layer norm, 7x7 64->3: the reference VAEGen's parameter count, and its state-dict keys.
    res = 8 * (256 * 256 * 9 + 256)
    enc = 3 * 64 * 49 + 64 + 64 * 128 * 16 + 128 + 128 * 256 * 16 + 256 + res
    dec = res + 256 * 128 * 25 + 128 + 2 * 128 + 128 * 64 * 25 + 64 + 2 * 64 + 64 * 3 * 49 + 3
    assert sum(p.numel() for p in gen.parameters()) == enc + dec == 11_140_483
    keys = set(gen.state_dict())
    for key in ["enc.model.0.conv.weight", "enc.model.2.conv.bias", "enc.model.3.model.3.model.1.conv.weight",
                "dec.model.0.model.0.model.0.conv.weight", "dec.model.2.norm.gamma", "dec.model.4.norm.beta",
                "dec.model.5.conv.weight"]:
        assert key in keys, key
    assert gen.stride == 4
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    y = gen(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    y.mean().backward()
    assert all(p.grad is not None for p in gen.parameters())


def test_generator_encode_decode_and_noise():
    gen = UNITGenerator(UNITGeneratorConfig(dim=8, n_res=1))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    h, noise = gen.encode(x)
    assert h.shape == noise.shape == (2, 32, 4, 4)
    assert 0.5 < noise.std() < 1.5  # a N(0, I) draw, fresh every call
    assert not torch.equal(noise, gen.encode(x)[1])
    assert torch.equal(gen(x), gen.decode(h))
    # Norms are per sample, so the recipe may decode two latents in one batched call.
    both = gen.decode(torch.cat([h, h + noise]))
    torch.testing.assert_close(both, torch.cat([gen.decode(h), gen.decode(h + noise)]))
    with pytest.raises(ganzoo.GanzooError, match="multiple of 4"):
        gen.encode(torch.zeros(1, 3, 18, 18))


def test_discriminator_defaults_and_scales(registry):
    dis = registry.get("discriminator", "multiscale_patchgan").build()
    c = dis.config
    assert (c.dim, c.n_layer, c.norm, c.activ, c.num_scales, c.pad_type) == (64, 4, "none", "lrelu", 3, "reflect")
    per_scale = 3 * 64 * 16 + 64 + 64 * 128 * 16 + 128 + 128 * 256 * 16 + 256 + 256 * 512 * 16 + 512 + 512 + 1
    assert sum(p.numel() for p in dis.parameters()) == 3 * per_scale
    assert {"cnns.0.0.conv.weight", "cnns.2.4.weight"} <= set(dis.state_dict())
    # Gaussian N(0, 0.02) init, as the reference trainer re-initialises its discriminators.
    assert abs(float(dis.cnns[0][1].conv.weight.detach().std()) - 0.02) < 0.002
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    outs = dis(x)
    assert [o.shape[-1] for o in outs] == [4, 2, 1]
    sum(o.mean() for o in outs).backward()
    with pytest.raises(ganzoo.GanzooError, match="too small"):
        dis(torch.zeros(1, 3, 32, 32))


def test_discriminator_downsamples_like_the_reference():
    dis = MultiScaleDiscriminator(MultiScaleDiscriminatorConfig(dim=4, n_layer=2, num_scales=2))
    x = torch.rand(1, 3, 16, 16)
    coarse = dis.cnns[1](F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
    assert torch.equal(dis(x)[1], coarse)


def test_recipe_defaults_are_the_reference_configs():
    c = UNITConfig()
    assert (c.optimizer.type, c.optimizer.lr, c.optimizer.betas, c.optimizer.weight_decay) == (
        "adam", 1e-4, (0.5, 0.999), 1e-4)
    assert (c.schedule.policy, c.schedule.step_size, c.schedule.gamma) == ("step", 100_000, 0.5)
    assert lr_factor(c.schedule, 250_000, 1_000_000) == 0.25
    assert (c.gan_w, c.recon_x_w, c.recon_kl_w, c.recon_x_cyc_w, c.recon_kl_cyc_w, c.vgg_w) == (
        1, 10, 0.01, 10, 0.01, 0)
    assert c.shared_blocks == 0
    # A partial optimizer table keeps UNIT's other defaults.
    partial = UNITConfig.model_validate({"optimizer": {"lr": 2e-4}, "schedule": {"step_size": 10}})
    assert partial.optimizer.weight_decay == 1e-4 and partial.schedule.policy == "step"


def test_recipe_builds_and_runs_forward_backward(registry):
    recipe = make_recipe(registry)
    assert [s.name for s in recipe.train_steps()] == ["D", "G"]  # the reference: dis_update, gen_update
    d_step, g_step = recipe.train_steps()
    assert d_step.optimizer == "D" and g_step.optimizer == "G"
    assert set(map(id, g_step.frozen)) == {id(recipe.dis_a), id(recipe.dis_b)}
    assert set(recipe.generators()) == {"gen_a", "gen_b"}
    losses = g_step.compute(batch())
    assert set(losses) == {"gan_a", "gan_b", "recon_x_a", "recon_x_b", "kl_a", "kl_b",
                           "kl_cyc_aba", "kl_cyc_bab", "cyc_x_a", "cyc_x_b"}
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert list(recipe.visuals()) == ["real_A", "A2B", "A2B2A", "A2A", "real_B", "B2A", "B2A2B", "B2B"]
    assert set(d_step.compute(batch())) == {"dis_a", "dis_b"}


def test_zero_weights_skip_their_terms(registry):
    recipe = make_recipe(registry, recon_x_cyc_w=0, recon_kl_cyc_w=0, recon_kl_w=0, gan_w=0)
    assert set(recipe.generator_step(batch())) == {"recon_x_a", "recon_x_b"}


def test_discriminator_loss_matches_reference_lsgan(registry):
    """dis_loss_scale 2 undoes the 0.5 of ganzoo's lsgan D term: the reference's calc_dis_loss is
    sum over scales of mean(D(fake)^2) + mean((D(real) - 1)^2)."""
    recipe = make_recipe(registry)
    b = batch()
    torch.manual_seed(1)
    ours = recipe.discriminator_step(b)["dis_a"]
    torch.manual_seed(1)
    with torch.no_grad():
        _, _ = recipe.gen_a.encode(b["A"])
        h_b, n_b = recipe.gen_b.encode(b["B"])
        x_ba = recipe.gen_a.decode(h_b + n_b)
    reference = sum(
        torch.mean(o0**2) + torch.mean((o1 - 1) ** 2)
        for o0, o1 in zip(recipe.dis_a(x_ba), recipe.dis_a(b["A"]), strict=True)
    )
    torch.testing.assert_close(ours, reference)


# --------------------------------------------------------------------------- weight sharing


def _ids(module: torch.nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


def test_shared_blocks_are_one_parameter_set(registry):
    recipe = make_recipe(registry, shared_blocks=1)
    ga, gb = recipe.gen_a, recipe.gen_b
    assert ga.encoder_blocks()[-1] is gb.encoder_blocks()[-1]
    assert ga.encoder_blocks()[0] is not gb.encoder_blocks()[0]
    assert ga.decoder_blocks()[0] is gb.decoder_blocks()[0]
    assert ga.decoder_blocks()[-1] is not gb.decoder_blocks()[-1]
    shared = _ids(ga) & _ids(gb)
    assert shared == _ids(ga.encoder_blocks()[-1]) | _ids(ga.decoder_blocks()[0])

    groups = recipe.param_groups()
    g_ids = [id(p) for p in groups["G"]]
    assert len(g_ids) == len(set(g_ids)) == len(_ids(ga) | _ids(gb))
    assert len(g_ids) == len(list(ga.parameters())) + len(list(gb.parameters())) - len(shared)
    assert not set(g_ids) & {id(p) for p in groups["D"]}

    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        before_a, before_b = ga(x), gb(x)
        ga.encoder_blocks()[-1].model[0].conv.weight.add_(0.5)  # a shared layer, through gen_a
        after_a, after_b = ga(x), gb(x)
        assert not torch.allclose(before_a, after_a) and not torch.allclose(before_b, after_b)
        ga.encoder_blocks()[0].model[0].conv.weight.add_(0.5)  # gen_a's own first block
        assert not torch.allclose(ga(x), after_a)
        torch.testing.assert_close(gb(x), after_b)


def test_no_sharing_by_default_and_too_many_blocks(registry):
    recipe = make_recipe(registry)
    assert not _ids(recipe.gen_a) & _ids(recipe.gen_b)
    with pytest.raises(ganzoo.GanzooError, match="shared_blocks <= n_res"):
        make_recipe(registry, shared_blocks=3)


def test_shared_weights_survive_a_checkpoint(registry, tmp_path):
    """The engine saves with safetensors' save_model, which stores an aliased tensor once."""
    recipe = make_recipe(registry, shared_blocks=2)
    run_steps(recipe, [batch()], 1)
    save_model(recipe, str(tmp_path / "model.safetensors"))
    restored = make_recipe(registry, shared_blocks=2)
    load_model(restored, str(tmp_path / "model.safetensors"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(restored.translate(x), recipe.translate(x))
    assert restored.gen_a.encoder_blocks()[-1] is restored.gen_b.encoder_blocks()[-1]


# --------------------------------------------------------------------------- KL, training, inference


def test_kl_matches_its_closed_form():
    """unit_kl(mu) = mean(mu^2) = 2 KL(N(mu, I) || N(0, I)) / numel, KL = 0.5 sum(mu^2)."""
    mu = torch.randn(2, 8, 4, 4) * 1.7 + 0.3
    normal = torch.distributions.Normal
    kl = torch.distributions.kl_divergence(normal(mu, torch.ones_like(mu)), normal(0.0, 1.0)).sum()
    torch.testing.assert_close(kl, 0.5 * (mu**2).sum())
    torch.testing.assert_close(unit_kl(mu), 2 * kl / mu.numel())
    assert float(unit_kl(torch.zeros(3, 4))) == 0.0


def _smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_training_lowers_reconstruction_losses(registry):
    recipe = make_recipe(registry, optimizer={"lr": 1e-3, "weight_decay": 0})
    a = _smooth_images(4, 16, seed=1)
    b = -_smooth_images(4, 16, seed=2)  # another domain: inverted colours
    batches = [{"A": a[i : i + 2], "B": b[i : i + 2]} for i in (0, 2)]
    with torch.no_grad():
        start = float(F.l1_loss(recipe.gen_a(a), a) + F.l1_loss(recipe.gen_b(b), b))
    history = run_steps(recipe, batches, 40)
    with torch.no_grad():
        end = float(F.l1_loss(recipe.gen_a(a), a) + F.l1_loss(recipe.gen_b(b), b))

    def mean(key: str, rows: list[dict[str, float]]) -> float:
        return sum(r[key] for r in rows) / len(rows)

    # The logged terms decode noisy latents (mean + N(0, I)), so they fall slower than the
    # deterministic reconstruction measured before and after.
    for key in ("recon_x_a", "recon_x_b"):
        assert mean(key, history[-5:]) < 0.85 * mean(key, history[:5]), key
    cycle_start = mean("cyc_x_a", history[:5]) + mean("cyc_x_b", history[:5])
    cycle_end = mean("cyc_x_a", history[-5:]) + mean("cyc_x_b", history[-5:])
    assert cycle_end < 0.9 * cycle_start
    assert end < 0.7 * start
    assert all(all(math.isfinite(v) for v in row.values()) for row in history)  # no NaN, no inf


def test_translate_is_deterministic(registry):
    recipe = make_recipe(registry)
    run_steps(recipe, [batch()], 2)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        first = recipe.translate(x, "a2b")
        torch.testing.assert_close(recipe.translate(x, "a2b"), first, rtol=0, atol=0)
        recipe.eval()
        torch.testing.assert_close(recipe.translate(x, "a2b"), first, rtol=0, atol=0)
        torch.testing.assert_close(first, recipe.gen_b.decode(recipe.gen_a.encode(x)[0]))
        back = recipe.translate(x, "b2a")
        torch.testing.assert_close(back, recipe.gen_a.decode(recipe.gen_b.encode(x)[0]))
        odd = recipe.translate(torch.rand(1, 3, 18, 14) * 2 - 1, "b2a")
    assert odd.shape == (1, 3, 18, 14)
    with pytest.raises(ganzoo.GanzooError, match="direction"):
        recipe.translate(x, "a2a")  # type: ignore[arg-type]


def test_translation_exports(registry, tmp_path):
    from ganzoo.export import export_translation

    recipe = make_recipe(registry, shared_blocks=1)
    result = export_translation(recipe, tmp_path / "a2b.pt", fmt="torchscript", direction="a2b", size=16)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5


# --------------------------------------------------------------------------- VGG


def test_vgg_without_weights_is_a_clear_error(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ganzoo.GanzooError, match=VGG16_CACHE_FILE) as err:
        make_recipe(registry, vgg_w=1.0)
    assert str(tmp_path / "torch") in str(err.value)
    missing = tmp_path / "nowhere" / "vgg16.pth"
    with pytest.raises(ganzoo.GanzooError, match=str(missing)):
        make_recipe(registry, vgg_w=1.0, vgg_weights=str(missing))


def vgg16_state(layout: str = "torchvision", pick: bool = False) -> dict[str, torch.Tensor]:
    """A VGG16 state dict up to conv5_3 in torchvision's key layout (``features.N.weight``, with a
    pool after conv4_3 at index 23) or the reference's (``conv1_1.weight`` ...). Random He
    weights; with ``pick``, weights a hand computation can follow: every conv passes only its
    input channel 0 on to its channel 0 (centre tap, random positive gain), the other channels
    are random constants (biases), and conv1_1 picks input channel 0 with a bias that cancels the
    mean its convention subtracts (B - 103.939 for the reference's, (R - 0.485) / 0.229 for torchvision's)."""
    state: dict[str, torch.Tensor] = {}
    index, cin = 0, 3
    for block, convs in enumerate([(64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)]):
        for j, c in enumerate(convs):
            if pick:
                weight, bias = torch.zeros(c, cin, 3, 3), torch.rand(c) - 0.5
                weight[0, 0, 1, 1] = 0.5 + torch.rand(())
                bias[0] = 0.0
                if index == 0:
                    bias[0] = weight[0, 0, 1, 1] * (103.939 if layout == "reference" else 0.485 / 0.229)
            else:
                weight, bias = torch.randn(c, cin, 3, 3) * (2 / (cin * 9)) ** 0.5, torch.zeros(c)
            key = f"conv{block + 1}_{j + 1}" if layout == "reference" else f"features.{index}"
            state[f"{key}.weight"], state[f"{key}.bias"] = weight, bias
            index, cin = index + 2, c
        index += 1  # torchvision's max pool
    return state


def test_vgg_loss_from_a_local_file(registry, tmp_path):
    state = vgg16_state()
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    recipe = make_recipe(registry, vgg_w=1.0, vgg_weights=str(path))
    assert recipe.vgg is not None and recipe.vgg.source == path
    losses = recipe.generator_step(batch(1, 32))
    assert {"vgg_a", "vgg_b"} <= set(losses) and float(losses["vgg_a"].detach()) > 0
    sum(losses.values()).backward()
    # Frozen, not trained, not checkpointed.
    assert not any(k.startswith("vgg") for k in recipe.state_dict())
    assert not any(p is b for p in recipe.parameters() for b in recipe.vgg.buffers())


def save_vgg(tmp_path: Path, state: dict[str, torch.Tensor]) -> VGGPerceptualLoss:
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    return VGGPerceptualLoss(path)


@pytest.mark.parametrize("layout", ["torchvision", "reference"])
def test_vgg_features_are_relu5_3_at_one_eighth_like_the_reference(tmp_path, layout):
    """The reference's Vgg16 has no pool after conv4_3: 512 channels at H/8 (torchvision's
    features[:30] would give 4x4 here)."""
    vgg = save_vgg(tmp_path, vgg16_state(layout))
    assert vgg.features(torch.rand(1, 3, 64, 64) * 2 - 1).shape == (1, 512, 8, 8)
    assert vgg.features(torch.rand(1, 3, 48, 64) * 2 - 1).shape == (1, 512, 6, 8)
    assert vgg(torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)).ndim == 0  # 2x2 features: the smallest
    with pytest.raises(ganzoo.GanzooError, match="at least 16 px"):
        vgg(torch.zeros(1, 3, 15, 16), torch.zeros(1, 3, 15, 16))


def test_vgg_input_conventions_on_a_known_pixel(tmp_path):
    pixel = torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)  # RGB in [-1, 1]: red 255, green 127.5, blue 0
    # The reference's vgg_preprocess: BGR, 0..255, minus the Caffe mean (103.939, 116.779, 123.680).
    caffe = torch.tensor([0 - 103.939, 127.5 - 116.779, 255 - 123.680])
    torch.testing.assert_close(caffe_input(pixel).flatten(), caffe)
    # torchvision's weights: RGB in [0, 1], ImageNet mean and std.
    tv = torch.tensor([(1 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0 - 0.406) / 0.225])
    torch.testing.assert_close(torchvision_input(pixel).flatten(), tv)
    # The weights choose: the reference's file gets the reference's input, torchvision's its own.
    assert save_vgg(tmp_path, vgg16_state("reference")).convention == "caffe"
    vgg = save_vgg(tmp_path, vgg16_state("torchvision"))
    assert vgg.convention == "torchvision"
    torch.testing.assert_close(vgg.preprocess(pixel).flatten(), tv)


@pytest.mark.parametrize("layout", ["torchvision", "reference"])
def test_vgg_loss_is_the_reference_formula_by_hand(tmp_path, layout):
    """Weights that carry one input channel (B for the Caffe convention, R for torchvision's)
    through all 13 convs: relu5_3 channel 0 is gain x 8x8 max pool of that channel, the other 511
    are constant, so instance norm zeroes them; the loss is the MSE over all 512 channels."""
    state = vgg16_state(layout, pick=True)
    vgg = save_vgg(tmp_path, state)
    image, target = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    gain = torch.stack([w[0, 0, 1, 1] for k, w in state.items() if k.endswith("weight")]).prod()

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        channel = (x[:, 2:3] + 1) * 127.5 if layout == "reference" else (x[:, 0:1] + 1) / 2 / 0.229
        f = F.max_pool2d(channel, 8) * gain  # three 2x2 pools: H/8
        mean = f.mean(dim=(2, 3), keepdim=True)
        var = ((f - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        return (f - mean) / torch.sqrt(var + 1e-5)

    expected = ((by_hand(image) - by_hand(target)) ** 2).sum() / (2 * 512 * 4 * 4)
    torch.testing.assert_close(vgg(image, target), expected, rtol=1e-4, atol=1e-6)


def test_vgg_weights_of_another_network_are_a_clear_error(tmp_path):
    with pytest.raises(ganzoo.GanzooError, match="not a VGG16 state dict"):
        save_vgg(tmp_path, {"conv.weight": torch.zeros(1)})
    state = vgg16_state()
    state["features.21.weight"] = torch.zeros(256, 512, 3, 3)
    with pytest.raises(ganzoo.GanzooError, match="conv4_3"):
        save_vgg(tmp_path, state)


# --------------------------------------------------------------------------- recipe files


@pytest.mark.parametrize("name", ["unit_monet.toml", "unit_gta2city.toml", "unit_quickstart.toml"])
def test_recipe_files_name_existing_components(registry, name):
    doc = tomllib.loads((ROOT / "recipes" / name).read_text())
    recipe_table = dict(doc["method"])
    assert recipe_table.pop("type") == "unit"
    registry.get("method", "unit").make_config(recipe_table)
    built = {}
    for slot_name, slot in UNIT.slots.items():
        table = dict(doc.get(slot_name, {}))
        spec = registry.get(slot.kind, table.pop("type", slot.default))
        built[slot_name] = spec.make_config({**slot.defaults, **table})
    data = dict(doc["data"])
    data_config = registry.get("dataset", data.pop("type")).make_config(data)
    size = getattr(data_config, "crop_size", None) or data_config.image_size
    gen = UNITGenerator(built["generator"])
    assert size % gen.stride == 0
    assert MultiScaleDiscriminator(built["discriminator"]).min_input_size <= size
    assert doc["train"]["iterations"] > 0 and doc["train"]["batch_size"] >= 1


def test_monet_recipe_is_the_reference_setup():
    doc = tomllib.loads((ROOT / "recipes" / "unit_monet.toml").read_text())
    assert doc["train"]["iterations"] == 1_000_000 and doc["train"]["batch_size"] == 1
    assert doc["data"]["root"] == "data/monet2photo"
    assert doc["data"]["load_size"] == doc["data"]["crop_size"] == 256
    assert doc["data"]["preprocess"] == "scale_shortside_and_crop"  # new_size: the shorter side


def test_gta2city_recipe_is_the_reference_config():
    """configs/unit_gta2city_folder.yaml: the settings of the other configs, but vgg_w 1, and
    frames of 1914x1052 / 2048x1024 resized on their shorter side (new_size 256), crop 256."""
    doc = tomllib.loads((ROOT / "recipes" / "unit_gta2city.toml").read_text())
    monet = tomllib.loads((ROOT / "recipes" / "unit_monet.toml").read_text())
    assert doc["method"] == {**monet["method"], "vgg_w": 1.0}
    for table in ("train", "generator", "discriminator", "gan_loss"):
        assert doc[table] == monet[table]
    assert doc["data"] == {**monet["data"], "root": "data/gta2city"}
    assert (doc["data"]["preprocess"], doc["data"]["load_size"], doc["data"]["crop_size"]) == (
        "scale_shortside_and_crop", 256, 256)


def test_quickstart_recipe_trains_on_its_data(registry):
    doc = tomllib.loads((ROOT / "recipes" / "unit_quickstart.toml").read_text())
    data = dict(doc["data"])
    dataset = registry.get("dataset", data.pop("type")).build({**data, "train_size": 4}, split="train")
    items = [dataset[i] for i in range(4)]
    batches = [{k: torch.stack([it[k] for it in items[i:i + 2]]) for k in ("A", "B")} for i in (0, 2)]
    table = dict(doc["method"])
    table.pop("type")
    recipe = UNIT(UNITConfig.model_validate(table), make_parts(registry, doc))
    networks = {name: getattr(recipe, name) for name in ("gen_a", "gen_b", "dis_a", "dis_b")}
    start = {name: [p.detach().clone() for p in net.parameters()] for name, net in networks.items()}
    history = run_steps(recipe, batches, 3)
    # Every logged loss is finite at every step (v == v would let inf through) ...
    assert history[0] and all(row.keys() == history[0].keys() for row in history)
    for step, row in enumerate(history):
        assert all(math.isfinite(v) for v in row.values()), (step, row)
    # ... the losses move ...
    assert any(row[k] != history[0][k] for row in history[1:] for k in row)
    # ... and each of the four networks has trained: its weights changed, to finite values.
    for name, net in networks.items():
        params = list(net.parameters())
        assert any(not torch.equal(p, q) for p, q in zip(params, start[name], strict=True)), name
        assert all(torch.isfinite(p).all() for p in params), name
