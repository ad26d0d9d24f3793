"""The stabilisers every adversarial loss offers (R1/R2, lazy regularisation, label smoothing,
instance noise, D augmentation with ADA) and spectral norm on every discriminator."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.stabilisers import AdaptiveAugment, gradient_penalty, noise_std


class SquareD(nn.Module):
    """D(x) = sum(x^2) per image: grad_x D = 2x, so ||grad||^2 = 4 ||x||^2, known by hand."""

    def forward(self, x: Tensor) -> Tensor:
        return (x**2).sum(dim=(1, 2, 3)).view(-1, 1, 1, 1)


def _lsgan(**config):
    from ganzoo_losses import LSGANLoss

    return LSGANLoss(LSGANLoss.Config(**config))


def test_gradient_penalty_by_hand() -> None:
    x = torch.randn(3, 2, 4, 4)
    expected = (4 * x.pow(2).flatten(1).sum(1)).mean()
    torch.testing.assert_close(gradient_penalty(SquareD(), x), expected)


def test_gradient_penalty_of_a_patch_d_sums_its_scores() -> None:
    conv = nn.Conv2d(3, 1, 1, bias=False)  # each of the 5x5 scores has gradient w at its pixel
    x = torch.randn(2, 3, 5, 5)
    expected = 25 * conv.weight.detach().pow(2).sum()
    torch.testing.assert_close(gradient_penalty(conv, x), expected)


def test_r1_and_r2_in_the_d_loss_by_hand() -> None:
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    d = SquareD()
    plain = _lsgan()
    r1 = _lsgan(r1_gamma=10.0, reg_every=1)
    r2 = _lsgan(r2_gamma=2.0, reg_every=1)
    base = plain.discriminator_loss(d, real, fake)
    pr, pf = d(real), d(fake)
    torch.testing.assert_close(base, 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf))))
    torch.testing.assert_close(r1.discriminator_loss(d, real, fake) - base,
                               0.5 * 10.0 * (4 * real.pow(2).flatten(1).sum(1)).mean())
    torch.testing.assert_close(r2.discriminator_loss(d, real, fake) - base,
                               0.5 * 2.0 * (4 * fake.pow(2).flatten(1).sum(1)).mean())


def test_lazy_regularisation_runs_every_k_iterations_scaled_by_k() -> None:
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    d, plain, lazy = SquareD(), _lsgan(), _lsgan(r1_gamma=1.0, reg_every=4)
    base = plain.discriminator_loss(d, real, fake)
    penalty = 0.5 * (4 * real.pow(2).flatten(1).sum(1)).mean()
    lazy.iteration = 3
    torch.testing.assert_close(lazy.discriminator_loss(d, real, fake), base)
    lazy.iteration = 8
    torch.testing.assert_close(lazy.discriminator_loss(d, real, fake) - base, 4 * penalty)


def test_the_penalty_reaches_d_parameters() -> None:
    d = nn.Conv2d(3, 1, 3)
    loss = _lsgan(r1_gamma=1.0, reg_every=1)
    assert loss.double_backward and not _lsgan().double_backward
    loss.discriminator_loss(d, torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)).backward()
    assert d.weight.grad is not None and torch.isfinite(d.weight.grad).all()


def test_one_sided_label_smoothing() -> None:
    real_pred = torch.full((2, 1, 3, 3), 0.9)
    fake_pred = torch.zeros(2, 1, 3, 3)
    assert _lsgan(label_smoothing=0.1).discriminator_term(real_pred, fake_pred).item() == pytest.approx(0.0, abs=1e-7)
    assert _lsgan().discriminator_term(real_pred, fake_pred).item() == pytest.approx(0.5 * 0.01)
    from ganzoo_losses import HingeLoss, VanillaGANLoss

    logits = torch.zeros(1, 1, 1, 1)
    smoothed = VanillaGANLoss(VanillaGANLoss.Config(label_smoothing=0.2)).discriminator_term(logits, logits)
    assert smoothed.item() == pytest.approx(0.5 * 2 * torch.log(torch.tensor(2.0)).item())  # BCE at 0.5 is log 2
    with pytest.raises(GanzooError, match="label_smoothing"):
        HingeLoss(HingeLoss.Config(label_smoothing=0.1))


def test_instance_noise_anneals_to_zero() -> None:
    assert noise_std(0.1, 100, 1) == pytest.approx(0.1)
    assert noise_std(0.1, 100, 51) == pytest.approx(0.05)
    assert noise_std(0.1, 100, 500) == 0.0
    assert noise_std(0.1, 0, 500) == pytest.approx(0.1)  # no schedule: constant
    x = torch.zeros(64, 3, 8, 8)
    loss = _lsgan(instance_noise=0.5, instance_noise_steps=10)
    assert loss.d_input(x).std().item() == pytest.approx(0.5, rel=0.05)
    loss.iteration = 11
    assert torch.equal(loss.d_input(x), x)


class ConstantD(nn.Module):
    """Scores every image ``value``: an overfit D (value > threshold) or an underfit one."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return self.value + self.w * x[:, :1]


@pytest.mark.parametrize(("score", "moves"), [(1.0, 1), (0.0, -1)])
def test_ada_raises_p_when_d_overfits_and_lowers_it_otherwise(score: float, moves: int) -> None:
    loss = _lsgan(augment="translation,cutout", augment_p=0.5, ada_target=0.6, ada_kimg=0.1, ada_interval=2)
    d, x = ConstantD(score), torch.randn(4, 3, 8, 8)
    ps = [float(loss.ada.p)]
    for _ in range(6):
        loss.discriminator_loss(d, x, x)
        ps.append(float(loss.ada.p))
    # every 2 D steps of 4 images p moves by 8 / 100 towards the signal's side
    assert ps[-1] == pytest.approx(0.5 + moves * 3 * 0.08)
    assert all((b - a) * moves >= 0 for a, b in zip(ps, ps[1:], strict=False))
    state = loss.state_dict()
    fresh = _lsgan(augment="translation,cutout", augment_p=0.5, ada_target=0.6, ada_kimg=0.1, ada_interval=2)
    fresh.load_state_dict(state)
    assert float(fresh.ada.p) == pytest.approx(ps[-1])
    fresh.d_input(x)
    assert fresh.ada.augment.p == pytest.approx(ps[-1])  # the loaded p is the one applied


def test_ada_p_stays_in_0_1_and_augments_fakes_for_g_too() -> None:
    ada = AdaptiveAugment(["cutout"], 0.02, 0.6, kimg=0.001, interval=1)
    for _ in range(3):
        ada.observe([torch.full((4, 1), -1.0)], 0.0, 4)
    assert float(ada.p) == 0.0
    x = torch.ones(8, 3, 8, 8, requires_grad=True)
    loss = _lsgan(augment="cutout", augment_p=1.0)
    d = nn.Conv2d(3, 1, 1)
    loss.generator_loss(d, x).backward()
    assert (x.grad == 0).any()  # cut-out pixels reach D as zeros: the fakes are augmented too


def _check_spectral_norm(spec, small: dict, x: Tensor, path) -> None:
    """Saved and loaded with and without spectral norm; a plain checkpoint loads into the
    normalised network; the normalised weights' top singular value converges to 1."""
    name = spec.name
    for sn in (False, True):
        torch.manual_seed(0)
        d = spec.build({**small, "spectral_norm": sn})
        assert any("parametrizations" in k for k in d.state_dict()) == sn, name
        d.train()
        d(x)  # one power iteration moves u and v: they must travel with the weights
        torch.save(d.state_dict(), path)
        torch.manual_seed(1)
        again = spec.build({**small, "spectral_norm": sn})
        again.load_state_dict(torch.load(path), strict=True)
        d.eval(), again.eval()
        outs = [d(x), again(x)]
        outs = [[o] if isinstance(o, Tensor) else o for o in outs]
        for a, b in zip(*outs, strict=True):
            torch.testing.assert_close(a, b)
    torch.manual_seed(0)
    plain = spec.build(small)
    normed = spec.build({**small, "spectral_norm": True})
    normed.load_state_dict(plain.state_dict(), strict=True)  # fine-tuning a plain D with spectral norm
    layer = next(m for m in normed.modules() if isinstance(m, nn.Conv2d))
    plain_layer = next(m for m in plain.modules() if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(layer.parametrizations.weight.original, plain_layer.weight)
    normed.train()
    for _ in range(30):  # the power iteration converges: the top singular value becomes 1
        normed(x)
    sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05), name


def test_spectral_norm_on_every_discriminator_keeps_state_dict_loading(ganzoo_registry, tmp_path) -> None:
    names = [s.name for s in ganzoo_registry.list("discriminator")]
    assert {"patchgan", "pixel", "multiscale_patchgan"} <= set(names)
    for name in names:
        spec = ganzoo_registry.get("discriminator", name)
        small = {k: v for k, v in {"ndf": 8, "dim": 8, "n_layer": 2, "num_scales": 2}.items()
                 if k in spec.config.model_fields}
        config = spec.make_config(small)
        channels = config.input_nc  # UNSB's energy net takes two (x_t, x_1) pairs
        size = getattr(config, "input_size", 32)  # a fixed-size D (SR's vgg_sr) at its size
        x = torch.rand(2, channels, size, size) * 2 - 1
        _check_spectral_norm(spec, small, x, tmp_path / f"{name}.pt")


def test_spectral_norm_reaches_a_third_party_discriminator(monkeypatch, tmp_path) -> None:
    """The option lives in DiscriminatorConfig and the registry applies it: DiscoGAN's D (a
    separate package) gets it without a line of its own."""
    from pathlib import Path

    from ganzoo.registry import ComponentSpec, PluginInfo

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "plugins" / "ganzoo-discogan"))
    from ganzoo_discogan.networks import DiscoGANDiscriminator

    spec = ComponentSpec("discriminator", "discogan", DiscoGANDiscriminator, DiscoGANDiscriminator.Config,
                         PluginInfo("discogan"))
    try:
        _check_spectral_norm(spec, {"ndf": 8}, torch.rand(2, 3, 64, 64) * 2 - 1, tmp_path / "discogan.pt")
    finally:  # the package is not installed here: leave no trace of it for other tests
        for module in [m for m in sys.modules if m.startswith("ganzoo_discogan")]:
            del sys.modules[module]


# --------------------------------------------------------------------------- in a run


ALL_ON = ["gan_loss.r1_gamma=1", "gan_loss.reg_every=2", "gan_loss.label_smoothing=0.1",
          "gan_loss.instance_noise=0.1", "gan_loss.instance_noise_steps=3", 'gan_loss.augment="translation,cutout"',
          "gan_loss.augment_p=0.5", "gan_loss.ada_target=0.6", "gan_loss.ada_kimg=0.04", "gan_loss.ada_interval=1",
          "discriminator.spectral_norm=true", "method.lr_by_group.D=4e-4", "method.lr_by_group.G=1e-4"]


def test_every_stabiliser_at_once_trains_resumes_and_reloads(tiny_recipe) -> None:
    import json

    from ganzoo.engine.loading import load_trained
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(tiny_recipe, ["train.sample_every=0", "train.iterations=2", *ALL_ON])
    first = Trainer(resolved, show_progress=False).fit()
    p_after_2 = float(load_trained(first.run_dir)[1].gan_loss.ada.p)
    # a D 2 iterations old calls reals fake (r_t = -1 < 0.6): each of the 4 D calls lowers p by 2 / 40
    assert p_after_2 == pytest.approx(0.3)
    resumed = load_recipe(first.run_dir / "recipe.toml", ["train.iterations=4"])
    result = Trainer(resumed, run_dir=first.run_dir, resume=True, show_progress=False).fit()
    assert result.step == 4
    _, method, _ = load_trained(first.run_dir)
    assert "parametrizations" in "".join(method.D_A.state_dict())
    assert float(method.gan_loss.ada.p) == pytest.approx(0.1)  # resumed from the checkpointed 0.3
    lines = [json.loads(x) for x in (first.run_dir / "metrics.jsonl").read_text().splitlines()]
    lrs = next(r for r in lines if "lr/D" in r)
    assert (lrs["lr/D"], lrs["lr/G"]) == (4e-4, 1e-4)  # two time-scale learning rates per group


def test_a_learning_rate_for_a_group_the_method_lacks_is_an_error(tiny_recipe) -> None:
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(tiny_recipe, ["method.lr_by_group.d=4e-4"])
    with pytest.raises(GanzooError, match="lr_by_group names d, which is not an optimizer group of this method"):
        Trainer(resolved, show_progress=False).fit()
