"""CUT and FastCUT: PatchNCE against its formula, generator features by name, anti-aliased
resampling, flip equivariance and exact resume with the projection heads."""

from __future__ import annotations

import math

import pytest
import torch
from ganzoo_losses import PatchNCEConfig, PatchNCELoss
from ganzoo_networks import NLayerDiscriminator, ResnetGenerator, load_reference_state_dict, receptive_field
from ganzoo_networks.antialias import BlurDownsample, BlurUpsample
from torch import nn

import ganzoo

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
