"""CUT and FastCUT: PatchNCE against its formula, generator features by name, anti-aliased
resampling, flip equivariance and exact resume with the projection heads."""

from __future__ import annotations

import math

import pytest
import torch
from ganzoo_losses import PatchNCEConfig, PatchNCELoss
from ganzoo_networks import NLayerDiscriminator, ResnetGenerator, load_reference_state_dict, receptive_field
from torch import nn

import ganzoo
from ganzoo.layers import BlurDownsample, BlurUpsample
from ganzoo.testing import write_unpaired_folders

CUT_LAYERS = ["input", "down1", "down2", "block1", "block5"]


# ------------------------------------------------------------------------------------ PatchNCE


def _nce(channels: list[int], **config: object) -> PatchNCELoss:
    layers = [f"l{i}" for i in range(len(channels))]
    return PatchNCELoss(PatchNCEConfig(layers=layers, channels=dict(zip(layers, channels, strict=True)), **config))


def test_patchnce_equals_the_formula_computed_by_hand() -> None:
    torch.manual_seed(0)
    src, out = torch.randn(2, 3, 2, 3), torch.randn(2, 3, 2, 3)  # B=2, C=3, 2x3 locations
    ids = torch.tensor([4, 0, 2])
    tau, weight = 0.07, 2.5
    loss = _nce([3], mlp_width=0, temperature=tau, weight=weight)([src], [out], ids=[ids])

    def unit(v: list[float]) -> list[float]:
        n = math.sqrt(sum(x * x for x in v))
        return [x / (n + 1e-7) for x in v]

    terms = []
    for b in range(2):
        k = [unit([float(src[b, c].flatten()[i]) for c in range(3)]) for i in ids.tolist()]
        q = [unit([float(out[b, c].flatten()[i]) for c in range(3)]) for i in ids.tolist()]
        for i in range(3):
            dot = [sum(x * y for x, y in zip(q[i], k[j], strict=True)) for j in range(3)]
            # column 0 the positive, then every key of the same image, its own replaced by -10
            logits = [dot[i]] + [dot[j] if j != i else -10.0 for j in range(3)]
            terms.append(-logits[0] / tau + math.log(sum(math.exp(v / tau) for v in logits)))
    expected = weight * sum(terms) / len(terms)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_patchnce_averages_layers_and_samples_the_same_locations_in_both() -> None:
    torch.manual_seed(0)
    feats = [torch.randn(1, 4, 4, 4), torch.randn(1, 6, 2, 2)]
    nce = _nce([4, 6], mlp_width=8, num_patches=3)
    ids = nce.sample_ids(feats)
    assert [len(i) for i in ids] == [3, 3] and len(set(ids[0].tolist())) == 3
    outs = [f + 0.1 * torch.randn_like(f) for f in feats]
    per_layer = [nce.layer_loss(h, s, o, i) for h, s, o, i in zip(nce.heads, feats, outs, ids, strict=True)]
    assert torch.allclose(nce(feats, outs, ids=ids), (per_layer[0] + per_layer[1]) / 2)
    # more locations asked than a 2x2 map has: all four, each once
    assert sorted(_nce([6], num_patches=256).sample_ids([feats[1]])[0].tolist()) == [0, 1, 2, 3]


def test_patchnce_gradient_reaches_the_output_and_heads_but_not_the_keys() -> None:
    torch.manual_seed(0)
    nce = _nce([4], mlp_width=8, num_patches=5)
    src = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = torch.randn(2, 4, 3, 3, requires_grad=True)
    nce([src], [out]).backward()
    assert src.grad is None
    assert out.grad is not None and out.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in nce.parameters())


def test_descending_patchnce_through_the_generator_features_recovers_the_input() -> None:
    """The property CUT relies on (issue #13): with G's encoder and the heads fixed, an output
    image moved only by PatchNCE's gradient comes to keep the input's structure. A wrong sign,
    mask, normalisation or locations that differ between input and output would break it."""
    torch.manual_seed(0)
    g = ResnetGenerator({"ngf": 4, "n_blocks": 1, "antialias": True, "init_type": "xavier", "init_gain": 0.02})
    layers = ["input", "down1", "down2", "block1"]
    nce = PatchNCELoss(PatchNCEConfig(layers=layers, channels=g.feature_layers(), num_patches=64, mlp_width=16))
    for p in [*g.parameters(), *nce.parameters()]:
        p.requires_grad_(False)
    x = nn.functional.avg_pool2d(torch.randn(2, 3, 20, 20), 5, stride=1)  # smooth texture, 16x16
    out = torch.randn_like(x).requires_grad_(True)
    opt = torch.optim.Adam([out], lr=0.05)

    def corr(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
        return float((a @ b) / (a.norm() * b.norm()))

    with torch.no_grad():
        keys = g.features(x, layers)
        before, first = corr(out, x), float(nce(keys, g.features(out, layers)))
    for _ in range(120):
        opt.zero_grad()
        nce(keys, g.features(out, layers)).backward()
        opt.step()
    out = out.detach()
    assert abs(before) < 0.2
    assert corr(out, x) > 0.5  # 0.60 here; it keeps rising (0.73 at 200 steps)
    with torch.no_grad():
        assert float(nce(keys, g.features(out, layers))) < first / 2
        # and the input itself scores lower still than a shuffled copy of it
        ids = nce.sample_ids(keys)
        shuffled = x.flatten(2)[:, :, torch.randperm(256)].view_as(x)
        kept, lost = (float(nce(keys, g.features(y, layers), ids=ids)) for y in (x, shuffled))
        assert kept < lost


def test_patchnce_heads_are_built_from_the_given_channels() -> None:
    nce = _nce([3, 16, 32], mlp_width=256)
    assert [tuple(h[0].weight.shape) for h in nce.heads] == [(256, 3), (256, 16), (256, 32)]
    assert [tuple(h[2].weight.shape) for h in nce.heads] == [(256, 256)] * 3
    assert all(isinstance(h[1], nn.ReLU) for h in nce.heads)
    with pytest.raises(ganzoo.GanzooError, match="channels"):
        PatchNCELoss(PatchNCEConfig(), name="nce_loss")
    g = ResnetGenerator({"ngf": 4, "n_blocks": 2})
    with pytest.raises(ValueError, match="offers no feature layer 'block5' \\(it offers input, down1"):
        PatchNCEConfig(channels=g.feature_layers())
    assert "channels" not in PatchNCEConfig(channels={n: 1 for n in CUT_LAYERS}).model_dump()  # not in recipe.toml


def test_patchnce_is_registered_with_the_reference_defaults(ganzoo_registry) -> None:
    config = ganzoo_registry.get("loss", "patchnce").make_config()
    assert (config.num_patches, config.temperature, config.mlp_width, config.layers) == (256, 0.07, 256, CUT_LAYERS)


# ------------------------------------------------------------------------------------ features


@pytest.mark.parametrize("antialias", [False, True])
def test_resnet_features_come_from_the_named_layers(antialias: bool) -> None:
    torch.manual_seed(0)
    g = ResnetGenerator({"ngf": 4, "n_blocks": 6, "antialias": antialias}).eval()
    offered = g.feature_layers()
    assert offered == {"input": 3, "down1": 8, "down2": 16, **{f"block{i}": 16 for i in range(1, 7)}}
    x = torch.randn(2, 3, 16, 16)
    feats = g.features(x, CUT_LAYERS)
    assert [f.shape[1] for f in feats] == [offered[n] for n in CUT_LAYERS]
    # by hand, module by module, from the network's own pieces
    m = list(g.model)
    padded = m[0](x)
    step = 4 if antialias else 3  # conv, norm, relu (, blur)
    down1 = m[4](m[3](m[2](m[1](padded))))
    after1 = nn.Sequential(*m[4:4 + step])(m[3](m[2](m[1](padded))))
    down2 = m[4 + step](after1)
    trunk = nn.Sequential(*m[4 + step:4 + 2 * step])(after1)
    blocks = []
    for block in m[4 + 2 * step:4 + 2 * step + 5]:
        trunk = block(trunk)
        blocks.append(trunk)
    for got, want in zip(feats, [padded, down1, down2, blocks[0], blocks[4]], strict=True):
        assert torch.equal(got, want)
    assert feats[0].shape[-1] == 16 + 6 and feats[3].shape[-1] == 4
    assert feats[1].shape[-1] == (16 if antialias else 8)  # anti-aliased: the conv runs at full size


def test_features_stop_at_the_last_requested_layer() -> None:
    g = ResnetGenerator({"ngf": 4, "n_blocks": 3})
    ran: list[int] = []
    for i, module in enumerate(g.model):
        module.register_forward_hook(lambda *_, i=i: ran.append(i))
    g.features(torch.randn(1, 3, 8, 8), ["down1", "input"])
    assert ran == [0, 1, 2, 3, 4]


def test_features_refuse_unknown_names_and_generators_without_features() -> None:
    g = ResnetGenerator({"ngf": 4, "n_blocks": 2})
    with pytest.raises(ganzoo.GanzooError, match="unknown feature layer.*'block5'.*offers input, down1"):
        g.features(torch.randn(1, 3, 8, 8), ["input", "block5"])
    from ganzoo_networks import UnetGenerator

    with pytest.raises(ganzoo.GanzooError, match="offers no intermediate features"):
        UnetGenerator({"num_downs": 5, "ngf": 4}).features(torch.randn(1, 3, 32, 32), ["input"])


# ------------------------------------------------------------------------------------ anti-aliasing


def test_blur_resampling_keeps_constants_and_halves_or_doubles_the_size() -> None:
    x = torch.full((1, 2, 8, 6), 0.3)
    assert torch.allclose(BlurDownsample(2)(x), torch.full((1, 2, 4, 3), 0.3))
    assert torch.allclose(BlurUpsample(2)(x), torch.full((1, 2, 16, 12), 0.3))
    # the 1-2-1 blur: an impulse spreads as [1,2,1] x [1,2,1] / 16 before subsampling
    impulse = torch.zeros(1, 1, 6, 6)
    impulse[0, 0, 2, 2] = 16.0
    assert BlurDownsample(1)(impulse)[0, 0].tolist()[1] == [0.0, 4.0, 0.0]
    assert BlurDownsample(1)(impulse)[0, 0, 0, 1] == 0.0 and BlurDownsample(1)(impulse)[0, 0, 1, 0] == 0.0


@pytest.mark.parametrize("net", ["generator", "discriminator"])
def test_antialias_keeps_shapes_and_state_dicts_load(net: str) -> None:
    make = ((lambda **kw: ResnetGenerator({"ngf": 4, "n_blocks": 2, **kw})) if net == "generator"
            else (lambda **kw: NLayerDiscriminator({"ndf": 4, **kw})))
    x = torch.randn(2, 3, 32, 32)
    plain, smooth = make(), make(antialias=True)
    assert plain(x).shape == smooth(x).shape
    plain_keys = set(plain.state_dict())
    torch.manual_seed(3)
    other = make(antialias=True)
    load_reference_state_dict(other, smooth.state_dict())
    assert torch.equal(other(x), smooth(x))
    assert {k for k in smooth.state_dict() if k.endswith(".filt")}  # the reference's buffer names
    assert not {k for k in plain_keys if k.endswith(".filt")}
    with pytest.raises(RuntimeError):
        load_reference_state_dict(make(), smooth.state_dict())  # the layouts differ: refused, not half-loaded


def test_antialiased_patchgan_receptive_field() -> None:
    assert receptive_field(3) == 70
    assert NLayerDiscriminator({"n_layers": 3, "antialias": True}).receptive_field == receptive_field(3, True)
    assert receptive_field(3, True) > 70


# ------------------------------------------------------------------------------------ full view in the decay phase


@pytest.fixture
def image_root(tmp_path):
    return write_unpaired_folders(tmp_path, n=4, size=8)


def _folders(root, **kw):
    from ganzoo.data.folders import UnpairedFolderConfig, UnpairedFolderDataset

    config = UnpairedFolderConfig(root=root, load_size=16, crop_size=8, no_flip=True, serial_batches=True, **kw)
    return UnpairedFolderDataset(config, "train")


def _full_view(root, batch):
    """What an item looks like loaded at crop_size: the whole 8 px image, untouched."""
    from PIL import Image

    from ganzoo.data.transforms import build_transform

    whole = build_transform(load_size=8, crop_size=8, train=False)
    return torch.stack([whole(Image.open(p).convert("RGB")) for p in batch["A_path"]])


def test_full_view_after_switches_the_train_transform_once(image_root) -> None:
    data = _folders(image_root, full_view_after=0.5)
    stages = data.stages(10)
    assert list(stages) == [5]
    item = data[0]
    assert not torch.equal(item["A"], _full_view(image_root, {"A_path": [item["A_path"]]})[0])  # zoomed crop
    stages[5]()
    item = data[0]
    assert torch.equal(item["A"], _full_view(image_root, {"A_path": [item["A_path"]]})[0])
    assert _folders(image_root).stages(10) == {}
    from ganzoo.data.folders import UnpairedFolderDataset

    assert UnpairedFolderDataset(data.config, "test").stages(10) == {}  # evaluation always sees the full view


@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_restarts_at_a_stage_and_a_resumed_run_sees_it(image_root, workers: int) -> None:
    from ganzoo.engine.data import ResumableBatchSampler, infinite_batches

    kwargs = {"num_workers": workers, **({"persistent_workers": True} if workers else {})}

    def batches(start: int, n: int, rng: torch.Tensor | None = None) -> list[dict]:
        data = _folders(image_root, full_view_after=0.5)
        sampler = ResumableBatchSampler(len(data), 2, seed=0)  # 2 batches per epoch
        if rng is not None:
            torch.set_rng_state(rng)
        it = infinite_batches(data, sampler, start, seed=0, stages=data.stages(6), **kwargs)
        out = []
        for _ in range(n):
            out.append({"rng": torch.get_rng_state(), **next(it)})
        it.close()
        return out

    torch.manual_seed(0)
    straight = batches(0, 6)
    full = [torch.equal(b["A"], _full_view(image_root, b)) for b in straight]
    assert full == [False, False, False, True, True, True]  # switched at iteration 3, mid-epoch
    resumed = batches(4, 2, rng=straight[4]["rng"])  # as a run resumed after its 4th iteration
    for a, b in zip(straight[4:], resumed, strict=True):
        assert torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"])


# ------------------------------------------------------------------------------------ the method

TINY = ("generator.type='resnet_6blocks'", "generator.ngf=4", "discriminator.ndf=4", "discriminator.n_layers=2",
        "nce_loss.mlp_width=8", "nce_loss.num_patches=16", "data.image_size=16", "data.train_size=8",
        "data.test_size=4", "train.batch_size=2", "train.iterations=3", "train.checkpoint_every=2",
        "train.sample_every=0", "train.log_every=1", "train.eval_metrics=[]")


def _recipe(name: str, tmp_path, *more: str):
    from ganzoo.recipe import load_recipe

    return load_recipe(f"recipes/{name}_quickstart.toml", [*TINY, f"run.out_dir='{tmp_path / 'runs'}'", *more])


class PointwiseGenerator(ganzoo.Generator):
    """1x1 convolutions only: exactly equivariant to flips, with two named features."""

    def __init__(self, config: ganzoo.GeneratorConfig):
        super().__init__(config)
        self.a, self.b = nn.Conv2d(3, 5, 1), nn.Conv2d(5, 3, 1)

    def forward(self, x):
        return torch.tanh(self.b(torch.relu(self.a(x))))

    def feature_layers(self):
        return {"input": 3, "hidden": 5}

    def compute_features(self, x, layers):
        feats = {"input": x, "hidden": self.a(x)}
        return [feats[n] for n in layers]


def _fastcut_with(generator_cls, **config):
    from ganzoo_cut import FastCUT, FastCUTConfig
    from ganzoo_losses import LSGANLoss

    parts = {
        "generator": lambda **kw: generator_cls(ganzoo.GeneratorConfig(**kw)),
        "discriminator": lambda **kw: NLayerDiscriminator({"ndf": 4, "n_layers": 2, **kw}),
        "gan_loss": lambda **kw: LSGANLoss(ganzoo.LossConfig(**kw), "gan_loss"),
        "nce_loss": lambda **kw: PatchNCELoss(PatchNCEConfig(layers=["input", "hidden"], mlp_width=8, **kw), "nce"),
    }
    return FastCUT(FastCUTConfig(**config), parts)


def test_fastcut_flips_half_the_time_and_undoes_the_flip_on_the_features() -> None:
    torch.manual_seed(0)
    method = _fastcut_with(PointwiseGenerator)
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    ids = [torch.tensor([0, 9, 27, 63, 40]), torch.tensor([5, 1, 33])]
    method.nce_loss.sample_ids = lambda feats: ids  # the same locations for every draw
    nce, flips = {}, []
    for seed in range(16):
        torch.manual_seed(seed)
        method.discriminator_step(batch)
        flips.append(method._flipped)
        assert torch.allclose(method.visuals()["fake_B"], method.G(batch["A"]), atol=1e-6)  # shown unflipped
        nce[method._flipped] = method.generator_step(batch)["NCE"]
    assert 4 <= sum(flips) <= 12
    # G commutes with the flip, so with the flip undone the loss is the unflipped one...
    assert torch.allclose(nce[True], nce[False], atol=1e-6)
    # ...which it would not be had the output's features been left flipped
    x = batch["A"]
    left_flipped = method.nce_loss(method.G.features(x, method.nce_loss.layers),
                                   method.G.features(method.G(x.flip(3)), method.nce_loss.layers), ids=ids)
    assert not torch.allclose(left_flipped, nce[False], atol=1e-3)
    assert not _fastcut_with(PointwiseGenerator, flip_equivariance=False)._flipped


def test_cut_translates_x_and_y_in_one_batch_fastcut_only_x(tmp_path) -> None:
    for name, rows in (("cut", 4), ("fastcut", 2)):
        method = _recipe(name, tmp_path).build_method()
        seen: list[int] = []
        method.G.register_forward_hook(lambda _m, inp, _o, seen=seen: seen.append(inp[0].shape[0]))
        batch = {"A": torch.rand(2, 3, 16, 16), "B": torch.rand(2, 3, 16, 16)}
        losses = method.discriminator_step(batch)
        assert seen == [rows] and list(losses) == ["D"]
        losses = method.generator_step(batch)
        assert set(losses) == ({"G_GAN", "NCE", "NCE_Y"} if name == "cut" else {"G_GAN", "NCE"})
        assert method.directions == ("a2b",)


def test_reference_defaults(ganzoo_registry) -> None:
    cut, fast = ganzoo_registry.get("method", "cut"), ganzoo_registry.get("method", "fastcut")
    c, f = cut.make_config(), fast.make_config()
    assert (c.nce_idt, c.flip_equivariance, f.nce_idt, f.flip_equivariance) == (True, False, False, True)
    assert (c.optimizer.lr, c.optimizer.betas, c.schedule.decay_start, f.schedule.decay_start) == \
        (2e-4, (0.5, 0.999), 0.5, 0.75)
    assert cut.cls.slots["nce_loss"].defaults["weight"] == 1.0 and fast.cls.slots["nce_loss"].defaults["weight"] == 10
    assert cut.cls.slots["generator"].defaults == {"init_type": "xavier", "init_gain": 0.02, "antialias": True}


def test_d_step_then_g_and_heads_step_with_their_own_optimizer(tmp_path) -> None:
    method = _recipe("cut", tmp_path).build_method()
    groups = method.param_groups()
    assert set(groups) == {"G", "D", "F"}
    assert {id(p) for p in groups["F"]} == {id(p) for p in method.nce_loss.parameters()}
    d, g = method.train_steps()
    assert (d.name, d.optimizer, d.also, g.name, g.optimizer, tuple(g.also)) == ("D", "D", (), "G", "G", ("F",))
    assert list(g.frozen) == [method.D]


def test_resume_reproduces_the_next_steps_exactly_heads_included(tmp_path) -> None:
    import shutil

    from safetensors.torch import load_file

    from ganzoo.engine.trainer import Trainer

    straight = Trainer(_recipe("fastcut", tmp_path), run_dir=tmp_path / "straight", show_progress=False).fit()
    crashed = tmp_path / "crashed"
    shutil.copytree(straight.run_dir, crashed)
    shutil.rmtree(crashed / "checkpoints" / "final")
    (crashed / "checkpoints" / "latest").write_text("step_0000002")
    Trainer(_recipe("fastcut", tmp_path), run_dir=crashed, resume=True, show_progress=False).fit()
    a = load_file(straight.run_dir / "checkpoints" / "final" / "model.safetensors")
    b = load_file(crashed / "checkpoints" / "final" / "model.safetensors")
    at_2 = load_file(crashed / "checkpoints" / "step_0000002" / "model.safetensors")
    heads = [k for k in a if k.startswith("nce_loss.heads.")]
    assert heads and all(not torch.equal(a[k], at_2[k]) for k in heads if k.endswith("weight"))  # they train
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []


def test_evaluate_and_translate_say_the_method_is_one_sided(ganzoo_cli, tmp_path) -> None:
    from ganzoo.engine.trainer import Trainer

    run = Trainer(_recipe("cut", tmp_path, "train.iterations=1"), run_dir=tmp_path / "run", show_progress=False).fit()
    result = ganzoo_cli("evaluate", run.run_dir, "--metrics", "psnr", "-n", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "a2b" in result.stdout and "skipped all metrics (b2a): method cut translates a2b only" in result.stdout
    result = ganzoo_cli("evaluate", run.run_dir, "--metrics", "psnr", "--direction", "b2a", "--no-progress")
    assert result.exit_code == 2 and "CUT translates a2b only" in result.stderr
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "x.png")
    result = ganzoo_cli("translate", run.run_dir, tmp_path / "x.png", "--out", tmp_path / "out", "-d", "b2a")
    assert result.exit_code == 2 and "CUT translates a2b only" in result.stderr and "Traceback" not in result.output


def test_patchnce_gradients_stay_finite_under_fp16_autocast() -> None:
    """The heads start with tiny outputs (xavier, gain 0.02) that the normalisation divides by:
    in fp16 their gradients overflowed, so the heads run in float32."""
    torch.manual_seed(0)
    g = ResnetGenerator({"ngf": 4, "n_blocks": 6, "init_type": "xavier", "antialias": True})
    nce = PatchNCELoss(PatchNCEConfig(channels=g.feature_layers()), "nce_loss")
    x, y = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.float16):
        loss = nce(g.features(x, nce.layers), g.features(g(y), nce.layers))
    loss.backward()
    assert torch.isfinite(loss)
    bad = [n for n, p in [*g.named_parameters(), *nce.named_parameters()] if not torch.isfinite(p.grad).all()]
    assert bad == []
