"""Super-resolution: degradations, networks, losses, the protocol's metric, tiling, [init] from."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganzoo.data.degradations import bicubic, get_degradation, realesrgan, upscale_bicubic
from ganzoo.errors import GanzooError

torch.set_num_threads(1)


def _hr(size: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------- degradations and data


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_degradation_shapes(scale):
    lr = bicubic(_hr(48), scale)
    assert lr.shape == (3, 48 // scale, 48 // scale)
    assert upscale_bicubic(lr, scale).shape == (3, 48, 48)
    with pytest.raises(GanzooError, match="not a multiple"):
        bicubic(_hr(50), 4)


def test_realesrgan_degradation_is_deterministic_under_a_seed():
    hr = _hr(64)
    a = realesrgan(hr, 4, np.random.default_rng(7))
    b = realesrgan(hr, 4, np.random.default_rng(7))
    c = realesrgan(hr, 4, np.random.default_rng(8))
    assert a.shape == (3, 16, 16)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    with pytest.raises(GanzooError, match="unknown degradation"):
        get_degradation("nope")


def test_sr_procedural_items_and_test_split_determinism():
    from ganzoo.data.sr_procedural import SRProceduralConfig, SRProceduralDataset

    cfg = SRProceduralConfig(image_size=32, gt_size=16, scale=4, train_size=4, test_size=3,
                             degradation="realesrgan")
    train = SRProceduralDataset(cfg, "train")[0]
    assert train["A"].shape == (3, 4, 4) and train["B"].shape == (3, 16, 16)
    test_a, test_b = SRProceduralDataset(cfg, "test"), SRProceduralDataset(cfg, "test")
    assert test_a[1]["B"].shape == (3, 32, 32)
    assert torch.equal(test_a[1]["A"], test_b[1]["A"])  # the test LR images never change


def test_sr_folders_matches_div2k_names_and_crops_alike(tmp_path):
    from PIL import Image

    from ganzoo.data.sr import SRFoldersConfig, SRFoldersDataset

    (tmp_path / "HR").mkdir()
    (tmp_path / "LR").mkdir()
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(hr).save(tmp_path / "HR" / "0001.png")
    Image.fromarray(hr[::4, ::4]).save(tmp_path / "LR" / "0001x4.png")  # nearest: LR pixel = HR pixel
    cfg = SRFoldersConfig(hr=tmp_path / "HR", lr=tmp_path / "LR", gt_size=16, use_flip=False, use_rot=False)
    item = SRFoldersDataset(cfg, "train")[0]
    assert item["A"].shape == (3, 4, 4) and item["B"].shape == (3, 16, 16)
    assert torch.equal(item["A"], item["B"][:, ::4, ::4])  # the LR crop is the HR crop's region
    from ganzoo.errors import DataError

    with pytest.raises(DataError, match="DIV2K"):
        SRFoldersDataset.check_source(SRFoldersConfig(hr=tmp_path / "DIV2K" / "DIV2K_train_HR"))


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pixel_shuffle_and_rrdb_output_sizes(scale):
    from ganzoo_sr.networks import RRDBNet, RRDBNetConfig, SRResNet, SRResNetConfig

    x = torch.randn(2, 3, 6, 5)
    srresnet = SRResNet(SRResNetConfig(scale=scale, nf=8, n_blocks=1))
    rrdb = RRDBNet(RRDBNetConfig(scale=scale, nf=8, gc=4, n_blocks=1))
    assert srresnet(x).shape == (2, 3, 6 * scale, 5 * scale)
    assert rrdb(x).shape == (2, 3, 6 * scale, 5 * scale)
    assert sum(isinstance(m, nn.PixelShuffle) for m in srresnet.modules()) == (1 if scale == 3 else scale // 2)


def test_rrdbnet_default_parameter_count():
    from ganzoo_sr.networks import RRDBNet, RRDBNetConfig

    nf, gc, blocks = 64, 32, 23

    def conv(cin, cout):
        return cin * cout * 9 + cout

    dense = sum(conv(nf + i * gc, gc) for i in range(4)) + conv(nf + 4 * gc, nf)
    expected = conv(3, nf) + blocks * 3 * dense + conv(nf, nf) + 2 * conv(nf, nf) + conv(nf, nf) + conv(nf, 3)
    model = RRDBNet(RRDBNetConfig())
    count = sum(p.numel() for p in model.parameters())
    assert count == expected == 16_697_987  # ESRGAN's RRDB_ESRGAN_x4: 16.7 M


def test_discriminators_score_hr_crops():
    from ganzoo_sr.networks import UNetDiscriminator, UNetDiscriminatorConfig, VGGDiscriminator, VGGDiscriminatorConfig

    x = torch.randn(2, 3, 32, 32)
    assert VGGDiscriminator(VGGDiscriminatorConfig(ndf=4, input_size=32))(x).shape == (2, 1)
    unet = UNetDiscriminator(UNetDiscriminatorConfig(ndf=4))
    assert unet(x).shape == (2, 1, 32, 32)
    assert sum(hasattr(m, "weight_orig") for m in unet.modules()) == 8  # spectral norm: all but first and last


# ---------------------------------------------------------------- losses and metric


def test_relativistic_loss_against_hand_computed_values():
    from ganzoo_sr.losses import RelativisticGANLoss

    loss = RelativisticGANLoss(RelativisticGANLoss.Config(weight=1.0))
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0], [-1.0]])

    def sp(v):  # softplus: BCE with logits is softplus(-x) for label 1, softplus(x) for label 0
        return math.log1p(math.exp(v))

    # means: real 1, fake 0; real - mean(fake) = [2, 0]; fake - mean(real) = [0, -2]
    d = 0.5 * ((sp(-2) + sp(0)) / 2 + (sp(0) + sp(-2)) / 2)
    g = 0.5 * ((sp(2) + sp(0)) / 2 + (sp(0) + sp(2)) / 2)
    assert float(loss.discriminator_term(real, fake)) == pytest.approx(d, rel=1e-6)

    class Fixed(nn.Module):
        def forward(self, x):
            return x.mean((1, 2, 3))[:, None]

    assert float(loss.generator_loss(Fixed(), fake.view(2, 1, 1, 1), real.view(2, 1, 1, 1))) == pytest.approx(g)


def test_y_psnr_with_border_crop_against_hand_computed_value():
    from ganzoo.metrics.sr import SRMetrics

    target = torch.zeros(1, 3, 24, 24)
    output = target.clone()
    output[:, 0] += 0.2  # R up by 0.1 on [0, 1]: Y up by 6.5481 inside
    output[:, :, :4, :] = 1.0  # garbage in the border the protocol crops away (scale 4)
    metric = SRMetrics(SRMetrics.Config(baseline=False))
    metric.update(output, target, source=torch.zeros(1, 3, 6, 6))
    scores = metric.compute()
    assert scores["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 6.5481**2), abs=1e-5)
    assert scores["psnr_rgb"] == pytest.approx(10 * math.log10(255**2 / (25.5**2 / 3)), abs=1e-5)
    assert set(SRMetrics().higher_is_better) >= {"psnr_y", "ssim_y", "bicubic_psnr_y"}


def test_perceptual_loss_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    from ganzoo_sr.losses import PerceptualLoss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("GANZOO_VGG19_WEIGHTS", raising=False)
    with pytest.raises(GanzooError, match="ganzoo weights fetch vgg19"):
        PerceptualLoss(PerceptualLoss.Config())
    loss = PerceptualLoss(PerceptualLoss.Config(random_weights=True, layers={"conv1_2": 0.1, "conv2_2": 1.0}))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert float(loss(x, x)) == 0.0 and float(loss(x, -x)) > 0
    assert not list(loss.parameters())  # the frozen VGG is no part of a checkpoint


# ---------------------------------------------------------------- tiling


def test_tiled_translation_equals_untiled_and_bounds_the_seams():
    from ganzoo_sr.networks import SRResNet, SRResNetConfig

    from ganzoo.tiling import translate_tiled

    torch.manual_seed(0)
    shallow = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 3, 3, 1, 1), nn.Upsample(scale_factor=2))
    x = torch.randn(1, 3, 37, 29)
    with torch.no_grad():
        # receptive field 2 px <= overlap: exactly the untiled output
        assert torch.allclose(translate_tiled(shallow, x, tile=10, overlap=2), shallow(x), atol=1e-6)
        deep = SRResNet(SRResNetConfig(scale=2, nf=8, n_blocks=2, norm="none")).eval()  # reach: ~11 LR px
        x = torch.randn(1, 3, 64, 56)
        whole = deep(x)
        assert torch.allclose(translate_tiled(deep, x, tile=24, overlap=12), whole, atol=1e-5)
        tiled = translate_tiled(deep, x, tile=24, overlap=6)  # less context than the network's reach
    diff = (whole - tiled).abs()[0].amax(0)
    seams = torch.zeros(128, 112, dtype=torch.bool)
    for cut in (24, 40):  # row tiles start at 0, 24, 40 (the last ends at 64)
        seams[(cut - 12) * 2:(cut + 12) * 2, :] = True
    for cut in (24, 32):
        seams[:, (cut - 12) * 2:(cut + 12) * 2] = True
    assert diff[~seams].max() < 1e-5  # away from the seams: the untiled output
    assert diff[seams].max() > 0  # the seams did lack context...
    assert diff.max() < 0.1 * (whole.max() - whole.min())  # ...by a bounded difference


def test_translator_tiles_large_images_of_an_sr_method():
    from ganzoo.inference import Translator

    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = type("C", (), {"tile": 8, "tile_overlap": 2})()
            self.calls = []

        def generators(self):
            return {}

        def translate(self, x, direction="a2b"):
            self.calls.append(tuple(x.shape[-2:]))
            return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")

    method = Up()
    x = torch.rand(1, 3, 20, 12) * 2 - 1
    y = Translator.from_method(method, "a2b")(x)
    assert y.shape == (1, 3, 80, 48)
    assert torch.allclose(y, torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest"))
    assert max(max(c) for c in method.calls) <= 8 + 2 * 2


# ---------------------------------------------------------------- [init] from


def _recipe(method: str, **tables):
    base = {
        "run": {"seed": 0},
        "train": {"iterations": 2, "batch_size": 2, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
                  "eval_items": 2, "eval_metrics": ["sr"]},
        "method": {"type": method},
        "data": {"type": "sr_procedural", "image_size": 24, "gt_size": 8, "scale": 4, "train_size": 4,
                 "test_size": 2},
        "generator": {"type": "rrdbnet", "nf": 4, "gc": 4, "n_blocks": 1},
    }
    return {**base, **tables}


def test_init_from_run_loads_the_generator_and_starts_a_new_optimizer(tmp_path, ganzoo_cli):
    import ganzoo
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import recipe_from_dict

    first = ganzoo.train(_recipe("sr_psnr", train={**_recipe("x")["train"], "ema": 0.5}),
                         run_dir=tmp_path / "psnr", progress=False)
    assert first.evaluations[-1]["a2b/bicubic_psnr_y"] > 0
    psnr_method = ganzoo.load(tmp_path / "psnr").method
    # the commands on an SR run: evaluate by the SR protocol by default, translate x4 (tiled)
    result = ganzoo_cli("evaluate", tmp_path / "psnr", "--no-progress")
    assert result.exit_code == 0 and "bicubic_psnr_y" in result.stdout, result.output
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.new("RGB", (13, 9), "orange").save(tmp_path / "in" / "x.png")
    result = ganzoo_cli("translate", tmp_path / "psnr", tmp_path / "in", "--out", tmp_path / "out", "--tile", "4",
                        "--tile-overlap", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "x.png").size == (52, 36)
    gan = _recipe("esrgan", init={"from": str(tmp_path / "psnr")},
                  discriminator={"type": "unet_sn", "ndf": 4}, perceptual_loss={"weight": 0.0},
                  gan_loss={"type": "vanilla", "weight": 0.1})
    resolved = recipe_from_dict(gan)
    assert resolved.to_dict()["init"]["from"] == str(tmp_path / "psnr")
    trainer = Trainer(resolved, run_dir=tmp_path / "gan", show_progress=False)
    trainer.setup()
    for (name, p), q in zip(trainer.method.G.named_parameters(), psnr_method.G.parameters(), strict=True):
        assert torch.equal(p.cpu(), q.cpu()), name  # the PSNR run's (averaged) generator
    assert all(not opt.state for opt in trainer.runner.optimizers.values())  # fresh optimizers
    assert set(trainer.runner.optimizers) == {"G", "D"}
    bad = recipe_from_dict({**gan, "generator": {"type": "rrdbnet", "nf": 8, "gc": 4, "n_blocks": 1}})
    with pytest.raises(GanzooError, match="does not fit"):
        bad.build_method(init=True)
    missing = recipe_from_dict({**gan, "init": {"from": str(tmp_path / "nothing")}})
    with pytest.raises(GanzooError, match="train that run first"):
        missing.build_method(init=True)
