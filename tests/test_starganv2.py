"""StarGAN v2 (plugins/ganzoo_starganv2): the method contract (on two-domain batches), parameter
counts of the default networks against the reference's layout, shapes, R1 against a hand
computation, style codes and seeds, the diversity weight's decay, multi-domain batches, and an
exact resume with the EMA of G, F and E."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from ganzoo.testing import MethodContract

torch.set_num_threads(1)

THREE = ["warm", "cool", "violet"]
TINY = ("discriminator.image_size=16", "discriminator.dim=8", "discriminator.max_conv_dim=16", "method.style_dim=8",
        "method.hidden_dim=16", "method.latent_dim=4")


class TestStarGANv2(MethodContract):
    """The contract on the built-in multi-domain data with references (StarGAN v2 needs labels)."""

    method = "starganv2"
    overrides = (*TINY, "data.type=multidomain_procedural", "data.references=true")
    size = 16

    def test_every_step_runs_forward_and_backward(self, tmp_path):
        data = self._recipe(tmp_path).build_dataset("train")
        batch = {k: torch.stack([torch.as_tensor(data[i][k]) for i in range(2)])
                 for k in ("image", "domain", "ref", "ref2", "ref_domain")}
        _every_step_gets_gradients(self._recipe(tmp_path).build_method().train(), batch)

    def test_resume_is_exact_for_the_ema_of_G_F_and_E_too(self, tmp_path):
        from safetensors.torch import load_file

        straight = self._fit(tmp_path, tmp_path / "straight", "train.ema=0.9").run_dir
        crashed = tmp_path / "crashed"
        shutil.copytree(straight, crashed)
        shutil.rmtree(crashed / "checkpoints" / "final")
        (crashed / "checkpoints" / "latest").write_text("step_0000002")
        self._fit(tmp_path, crashed, "train.ema=0.9", resume=True)
        for name in ("model.safetensors", "ema.safetensors"):
            a = load_file(straight / "checkpoints" / "final" / name)
            b = load_file(crashed / "checkpoints" / "final" / name)
            assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == [], name
        ema = load_file(straight / "checkpoints" / "final" / "ema.safetensors")
        assert {k.split(".")[0] for k in ema} == {"G", "F", "E"}

    def test_translate_to_a_domain_repeats_with_a_seed_and_follows_a_style_reference(self, tmp_path, ganzoo_cli):
        import numpy as np
        from PIL import Image

        run = self._fit(tmp_path, tmp_path / "run", "train.iterations=1").run_dir
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "x.png")
        outs = []
        for seed, to in ((0, "violet"), (0, "violet"), (1, "violet"), (0, "cool")):
            out = tmp_path / f"out_{len(outs)}"
            result = ganzoo_cli("translate", str(run), str(tmp_path / "x.png"), "--out", str(out), "--to", to,
                                "--seed", str(seed), "--no-progress")
            assert result.exit_code == 0, result.output
            outs.append(np.asarray(Image.open(next(out.iterdir()))))
        assert (outs[0] == outs[1]).all()
        assert not (outs[0] == outs[2]).all() and not (outs[0] == outs[3]).all()
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(tmp_path / "r.png")
        guided = []
        for seed in (0, 1):  # reference-guided: the style is the reference's, whatever the seed
            out = tmp_path / f"ref_{seed}"
            result = ganzoo_cli("translate", str(run), str(tmp_path / "x.png"), "--out", str(out), "--to", "violet",
                                "--style-from", str(tmp_path / "r.png"), "--seed", str(seed), "--no-progress")
            assert result.exit_code == 0, result.output
            guided.append(np.asarray(Image.open(next(out.iterdir()))))
        assert (guided[0] == guided[1]).all() and not (guided[0] == outs[0]).all()


# --------------------------------------------------------------------------- parameter counts


def conv(i, o, k, bias=True):
    return i * o * k * k + (o if bias else 0)


def lin(i, o):
    return i * o + o


def down(i, o, norm):  # two 3x3 convs, optional 2 affine instance norms of i channels, 1x1 skip when i != o
    return conv(i, i, 3) + conv(i, o, 3) + (4 * i if norm else 0) + (conv(i, o, 1, False) if i != o else 0)


def up(i, o, s):  # two 3x3 convs, AdaIN linear maps for i and o channels, 1x1 skip when i != o
    return conv(i, o, 3) + conv(o, o, 3) + lin(s, 2 * i) + lin(s, 2 * o) + (conv(i, o, 1, False) if i != o else 0)


def reference_counts(img=256, k=3, latent=16, style=64, hidden=512, top=512):
    d0 = 2**14 // img
    g, d = conv(3, d0, 3) + 2 * d0 + conv(d0, 3, 1), d0
    for _ in range(int(math.log2(img)) - 4):
        o = min(2 * d, top)
        g, d = g + down(d, o, True) + up(o, d, style), o
    g += 2 * (down(d, d, True) + up(d, d, style))
    trunk, d = conv(3, d0, 3), d0
    for _ in range(int(math.log2(img)) - 2):
        o = min(2 * d, top)
        trunk, d = trunk + down(d, o, False), o
    trunk += conv(d, d, 4)
    mapping = lin(latent, hidden) + 3 * lin(hidden, hidden) + k * (3 * lin(hidden, hidden) + lin(hidden, style))
    return {"G": g, "F": mapping, "E": trunk + k * lin(d, style), "D": trunk + conv(d, k, 1)}


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _build(registry, overrides=(), **method):
    from ganzoo.recipe import recipe_from_dict

    raw = {"run": {"name": "t"}, "method": {"type": "starganv2", **method},
           "data": {"type": "multidomain_procedural", "references": True}}
    return recipe_from_dict(raw, overrides, registry, check_data=False).build_method()


def test_default_networks_match_the_references_parameter_formula(ganzoo_registry):
    """AFHQ's setting: 256 px, 3 domains, w_hpf 0 (G 4 down-samplings + 2 bottleneck blocks; E, D 6)."""
    method = _build(ganzoo_registry, domains=THREE)
    want = reference_counts()
    got = {name: _count(getattr(method, name)) for name in want}
    assert got == want
    assert want == {"G": 33_892_995, "F": 3_259_072, "E": 20_949_760, "D": 20_852_803}


def test_network_shapes(ganzoo_registry):
    method = _build(ganzoo_registry, TINY, domains=THREE)
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([0, 2])
    s = method.F(torch.randn(2, 4), y)
    assert s.shape == (2, 8) and method.F(torch.randn(2, 4)).shape == (2, 3, 8)
    assert method.E(x, y).shape == (2, 8) and method.E(x).shape == (2, 3, 8)
    assert method.D(x, y).shape == (2,) and method.D(x).shape == (2, 3)
    assert torch.equal(method.D(x, y), method.D(x)[torch.arange(2), y])  # one head per domain
    assert method.G(x, s).shape == (2, 3, 16, 16)


# --------------------------------------------------------------------------- losses


def test_r1_against_a_hand_computation():
    from ganzoo_starganv2.losses import r1_penalty

    # logits = sum(w * x) + sum(x^2): d/dx = w + 2x, so R1 = 0.5 * mean_i ||w + 2 x_i||^2
    w = torch.tensor([[[[1.0, -2.0]]]])
    x = torch.tensor([[[[0.5, 1.0]]], [[[0.0, -1.0]]]], requires_grad=True)
    logits = (w * x).sum((1, 2, 3)) + x.pow(2).sum((1, 2, 3))
    # image 1: w + 2x = (2, 0) -> 4; image 2: (1, -4) -> 17; 0.5 * (4 + 17) / 2
    assert r1_penalty(logits, x).item() == pytest.approx(5.25)
    assert r1_penalty(logits, x).requires_grad  # D's step back-propagates through it


def test_d_step_is_real_plus_fake_plus_lambda_reg_r1(ganzoo_registry):
    from ganzoo_starganv2.losses import adversarial, r1_penalty

    method = _build(ganzoo_registry, TINY, domains=THREE, lambda_reg=2.5)
    b = _multi_domain_batch()
    torch.manual_seed(0)
    losses = method.d_latent_step(b)
    x = b["image"].clone().requires_grad_(True)
    logits = method.D(x, b["domain"])
    assert losses["D_latent_real"].item() == pytest.approx(adversarial(logits, True).item(), rel=1e-5)
    assert losses["D_latent_R1"].item() == pytest.approx(2.5 * r1_penalty(logits, x).item(), rel=1e-5)


def test_diversity_weight_decays_linearly_to_zero_as_configured(ganzoo_registry):
    from ganzoo_starganv2.losses import diversity_weight

    assert [diversity_weight(2.0, 4, i) for i in (1, 2, 3, 4, 5, 9)] == [2.0, 1.5, 1.0, 0.5, 0.0, 0.0]
    method = _build(ganzoo_registry, TINY, domains=THREE, lambda_ds=2.0, ds_iter=2)
    b = _multi_domain_batch()
    seen = []
    for _ in range(3):
        method.d_latent_step(b)  # counts the iteration
        seen.append("G_latent_ds" in method.g_latent_step(b))
    assert seen == [True, True, False] and method.extra_state() == {"iteration": 3}


# --------------------------------------------------------------------------- batches and inference


def _multi_domain_batch(n=3, size=16, k=3):
    g = torch.Generator().manual_seed(0)
    img = lambda: torch.rand(n, 3, size, size, generator=g) * 2 - 1  # noqa: E731
    return {"image": img(), "domain": torch.tensor([0, 1, 2][:n]), "ref": img(), "ref2": img(),
            "ref_domain": torch.tensor([2, 0, 1][:n])}


def _every_step_gets_gradients(method, b):
    groups = method.param_groups()
    for step in method.train_steps():
        method.zero_grad(set_to_none=True)
        losses = step.compute(b)
        sum(losses.values()).backward()
        for name in step.optimizers:
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[name]), (step.name, name)
    assert set(method.train_steps()[2].optimizers) == {"G", "F", "E"}  # F and E learn in the latent step


def test_every_step_trains_on_synthetic_multi_domain_batches(ganzoo_registry):
    _every_step_gets_gradients(_build(ganzoo_registry, TINY, domains=THREE), _multi_domain_batch())


def test_batches_of_another_size_or_with_too_many_domains_are_clear_errors(ganzoo_registry):
    import ganzoo

    method = _build(ganzoo_registry, TINY, domains=THREE[:2])
    b = _multi_domain_batch()
    with pytest.raises(ganzoo.DataError, match="domain index 2, but the method has 2 domains"):
        method.d_latent_step(b)
    with pytest.raises(ganzoo.DataError, match="discriminator.image_size is 16; set it to 32"):
        method.d_latent_step(_multi_domain_batch(size=32))


def test_style_codes_change_the_output_and_a_seed_repeats_it(ganzoo_registry):
    method = _build(ganzoo_registry, TINY, domains=THREE).eval()
    x, target = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([1, 2])
    with torch.no_grad():
        outs = []
        for seed in (0, 0, 1):
            torch.manual_seed(seed)
            outs.append(method.translate(x, target=target))
        assert torch.equal(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])
        refs = _multi_domain_batch(2)
        a = method.translate(x, target=target, reference=refs["ref"])
        assert torch.equal(a, method.translate(x, target=target, reference=refs["ref"]))  # no randomness
        assert not torch.allclose(a, method.translate(x, target=target, reference=refs["ref2"]))
        one = method.translate(x, target=2, reference=refs["ref"][:1])  # one reference for the batch
        assert one.shape == x.shape
        assert not torch.allclose(method.translate(x, target=0, reference=refs["ref"][:1]), one)


def test_list_components_shows_the_method_and_its_discriminator(ganzoo_cli):
    out = ganzoo_cli("list-components", "--filter", "starganv2*").output
    assert "method" in out and "discriminator" in out


def test_batches_without_references_train_with_a_warning(ganzoo_registry):
    method = _build(ganzoo_registry, TINY, domains=THREE)
    b = _multi_domain_batch()
    with pytest.warns(UserWarning, match="data.references = true"):
        losses = method.d_latent_step({"image": b["image"], "domain": b["domain"]})
    assert torch.isfinite(sum(losses.values()))


def test_afhq_recipe_has_the_references_settings_and_names_the_download(ganzoo_registry, tmp_path):
    from pathlib import Path

    from ganzoo.errors import GanzooError
    from ganzoo.recipe import load_recipe

    path = Path(__file__).resolve().parent.parent / "recipes" / "starganv2_afhq.toml"
    r = load_recipe(path, check_data=False)
    m, t = r.method.config, r.train
    assert (t.iterations, t.batch_size, t.ema) == (100_000, 8, 0.999)
    assert (m.optimizer.lr, tuple(m.optimizer.betas), m.optimizer.weight_decay, m.lr_by_group) == \
        (1e-4, (0.0, 0.99), 1e-4, {"F": 1e-6})
    assert (m.lambda_reg, m.lambda_sty, m.lambda_cyc, m.lambda_ds, m.ds_iter) == (1, 1, 1, 2, 100_000)
    assert (m.latent_dim, m.style_dim, m.hidden_dim, m.w_hpf, m.schedule.policy) == (16, 64, 512, 0, "constant")
    assert r.slots["discriminator"].config.image_size == 256 and r.data.config.references
    with pytest.raises(GanzooError, match="afhq-dataset"):
        load_recipe(path, ["data.root=" + str(tmp_path / "afhq")])
