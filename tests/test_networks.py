"""The built-in networks reproduce the reference CycleGAN/pix2pix architectures.

Numerical equivalence is checked against fixtures made with the reference code when
``../shared/fixtures`` is beside the checkout (a failure under ``make test`` when it is not);
everything else (key layout, parameter counts, shapes, init) is checked without them, at tiny
widths so the whole file runs in seconds.
"""

from __future__ import annotations

import ganzoo_networks as nets
import pytest
import torch
from pydantic import ValidationError

import ganzoo
from ganzoo.plugins import load_plugins

GENERATORS = ["resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"]
DISCRIMINATORS = ["patchgan", "pixel"]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def fixture(reference_fixture):
    """A reference fixture's tensors (see ``locate_reference_fixture`` in conftest.py)."""
    return lambda name: torch.load(reference_fixture(name), weights_only=True)


@pytest.fixture(scope="module")
def registry():
    return load_plugins().registry


# --------------------------------------------------------------------------- reference fixtures


def test_resnet9_matches_reference_fixture(fixture):
    data = fixture("cyclegan_resnet9_ngf8.pt")
    net = nets.ResnetGenerator({"ngf": 8}).eval()
    net.load_state_dict(data["state_dict"], strict=True)
    with torch.no_grad():
        out = net(data["input"])
    torch.testing.assert_close(out, data["output"], atol=1e-5, rtol=0)


def test_resnet9_loads_old_instance_norm_buffers_and_dataparallel_prefix(fixture):
    data = fixture("cyclegan_resnet9_ngf8_old_buffers.pt")
    assert any(k.endswith("running_mean") for k in data["state_dict"])
    net = nets.ResnetGenerator({"ngf": 8}).eval()
    with pytest.raises(RuntimeError):
        net.load_state_dict(data["state_dict"], strict=True)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in data["state_dict"].items()}}
    nets.load_reference_state_dict(net, wrapped)
    with torch.no_grad():
        out = net(data["input"])
    torch.testing.assert_close(out, data["output"], atol=1e-5, rtol=0)


def test_patchgan_matches_reference_fixture(fixture):
    data = fixture("patchgan_n3_ndf8.pt")
    net = nets.NLayerDiscriminator({"ndf": 8, "n_layers": 3}).eval()
    nets.load_reference_state_dict(net, data["state_dict"])
    with torch.no_grad():
        out = net(data["input"])
    assert out.shape == (2, 1, 6, 6)
    torch.testing.assert_close(out, data["output"], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- layout and sizes


def test_published_parameter_counts():
    # The counts the reference prints for its defaults: G 11.378 M, D 2.765 M, U-Net 54.414 M.
    assert n_params(nets.ResnetGenerator()) == 11_378_179
    assert n_params(nets.NLayerDiscriminator()) == 2_764_737
    assert round(n_params(nets.UnetGenerator({"norm": "batch"})) / 1e6, 3) == 54.414


def test_resnet_key_layout():
    keys = set(nets.ResnetGenerator({"ngf": 4}).state_dict())
    # stem conv, two downsamplings, 9 blocks at 10..18, two upsamplings, final conv.
    for i in (1, 4, 7, 19, 22, 26):
        assert f"model.{i}.weight" in keys
    for block in range(10, 19):
        for j in (1, 5):
            assert f"model.{block}.conv_block.{j}.weight" in keys
            assert f"model.{block}.conv_block.{j}.bias" in keys
    assert "model.19.conv_block.1.weight" not in keys
    assert len(keys) == 48  # instance norm adds no state


def test_resnet_block_layout_follows_padding_and_dropout():
    zero = nets.ResnetGenerator({"ngf": 4, "n_blocks": 1, "padding_type": "zero"}).state_dict()
    assert {"model.10.conv_block.0.weight", "model.10.conv_block.3.weight"} <= set(zero)
    drop = nets.ResnetGenerator({"ngf": 4, "n_blocks": 1, "use_dropout": True}).state_dict()
    assert {"model.10.conv_block.1.weight", "model.10.conv_block.6.weight"} <= set(drop)


def test_batch_norm_drops_conv_bias_and_keeps_running_stats():
    keys = set(nets.ResnetGenerator({"ngf": 4, "norm": "batch", "n_blocks": 1}).state_dict())
    assert "model.1.weight" in keys and "model.1.bias" not in keys
    assert {"model.2.weight", "model.2.running_mean", "model.2.num_batches_tracked"} <= keys
    assert "model.18.bias" in keys  # the output conv always has a bias
    d_keys = set(nets.NLayerDiscriminator({"ndf": 4, "norm": "batch"}).state_dict())
    assert "model.0.bias" in d_keys and "model.2.bias" not in d_keys and "model.3.running_var" in d_keys


def test_unet_key_layout_is_nested():
    net = nets.UnetGenerator({"ngf": 4, "num_downs": 7})
    keys = list(net.state_dict())
    assert all(k.startswith("model.model.") for k in keys)
    assert keys[0] == "model.model.0.weight"  # outermost down conv
    assert "model.model.1.model.1.weight" in keys  # second level's down conv
    depth = max(k.count("model.") for k in keys)
    assert depth == 1 + 7  # generator + one Sequential per level


def test_patchgan_keys_and_receptive_field_sizes():
    net = nets.NLayerDiscriminator({"ndf": 8})
    assert [k for k in net.state_dict() if k.endswith("weight")] == [f"model.{i}.weight" for i in (0, 2, 5, 8, 11)]
    assert nets.receptive_field(3) == net.receptive_field == 70
    assert [nets.receptive_field(n) for n in (1, 2, 4)] == [16, 34, 142]
    small = nets.NLayerDiscriminator({"ndf": 2})
    with torch.no_grad():
        assert small(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
        assert small(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 6, 6)


def test_patchgan_receptive_field_is_70px():
    net = nets.NLayerDiscriminator({"ndf": 2, "norm": "none"})  # instance norm couples all pixels
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    out = net(x)
    out[0, 0, 7, 7].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_pixel_discriminator_reference_keys_and_shape():
    net = nets.PixelDiscriminator({"ndf": 4})
    assert [k for k in net.state_dict() if k.endswith("weight")] == ["net.0.weight", "net.2.weight", "net.5.weight"]
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 1, 16, 16)


# --------------------------------------------------------------------------- through the registry


def test_plugin_registers_everything(registry):
    for name in GENERATORS:
        assert ("generator", name) in registry
    for name in DISCRIMINATORS:
        assert ("discriminator", name) in registry
    spec = registry.get("generator", "resnet_9blocks")
    assert spec.plugin.name == "networks"
    assert spec.summary


@pytest.mark.parametrize(
    "kind,name", [("generator", n) for n in GENERATORS] + [("discriminator", n) for n in DISCRIMINATORS]
)
def test_every_config_field_is_documented(registry, kind, name):
    fields = registry.get(kind, name).config.model_fields
    assert "input_nc" in fields
    for field_name, info in fields.items():
        assert info.description, f"{kind} {name}: field {field_name} has no description"


@pytest.mark.parametrize(
    "name,size,config",
    [
        ("resnet_9blocks", 32, {"ngf": 4}),
        ("resnet_6blocks", 32, {"ngf": 4, "norm": "batch", "padding_type": "replicate"}),
        ("unet_128", 128, {"ngf": 2}),
        ("unet_256", 256, {"ngf": 2, "norm": "batch", "use_dropout": True}),
    ],
)
def test_generator_forward_and_backward(registry, name, size, config):
    net = registry.get("generator", name).build({**config, "output_nc": 1})
    assert isinstance(net, ganzoo.Generator)
    assert size % net.stride == 0
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = net(x)
    assert y.shape == (2, 1, size, size)
    assert y.abs().max() <= 1
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_generator_strides_and_block_counts(registry):
    build = lambda name, **kw: registry.get("generator", name).build({"ngf": 2, **kw})  # noqa: E731
    assert build("resnet_9blocks").stride == build("resnet_6blocks").stride == 4
    assert build("unet_128").stride == 128 and build("unet_256").stride == 256
    assert build("resnet_9blocks").config.n_blocks == 9
    assert build("resnet_6blocks").config.n_blocks == 6
    assert build("resnet_6blocks", n_blocks=2).config.n_blocks == 2
    blocks = [m for m in build("resnet_6blocks").modules() if isinstance(m, nets.ResnetBlock)]
    assert len(blocks) == 6


@pytest.mark.parametrize("name,size", [("patchgan", 32), ("pixel", 16)])
def test_discriminator_forward(registry, name, size):
    net = registry.get("discriminator", name).build({"ndf": 4, "input_nc": 6})
    assert isinstance(net, ganzoo.Discriminator)
    out = net(torch.randn(2, 6, size, size))
    expected = 2 if name == "patchgan" else size  # 32 -> 16 -> 8 -> 4 -> 3 -> 2
    assert out.shape == (2, 1, expected, expected)


def test_config_rejects_unknown_and_invalid_values(registry):
    spec = registry.get("generator", "resnet_9blocks")
    with pytest.raises(ValidationError):
        spec.build({"ngf": 8, "n_blcks": 3})
    with pytest.raises(ValidationError):
        spec.build({"norm": "layer"})
    with pytest.raises(ValidationError):
        registry.get("generator", "unet_256").build({"num_downs": 4})


# --------------------------------------------------------------------------- init


def _conv_weights(net: torch.nn.Module) -> torch.Tensor:
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    return torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, convs)])


def test_normal_init_statistics():
    torch.manual_seed(0)
    net = nets.ResnetGenerator({"ngf": 8, "norm": "batch"})
    w = _conv_weights(net)
    assert abs(w.std().item() - 0.02) < 0.001
    assert abs(w.mean().item()) < 0.001
    biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    bn = torch.cat([m.weight for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 0.01 and abs(bn.std().item() - 0.02) < 0.005
    d = nets.NLayerDiscriminator({"ndf": 8, "init_gain": 0.05})
    assert abs(_conv_weights(d).std().item() - 0.05) < 0.003


@pytest.mark.parametrize("init_type", ["xavier", "kaiming", "orthogonal"])
def test_other_init_types(init_type):
    net = nets.NLayerDiscriminator({"ndf": 4, "init_type": init_type})
    w = _conv_weights(net)
    assert torch.isfinite(w).all() and w.std() > 0


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = nets.UnetGenerator({"ngf": 2, "num_downs": 5}).state_dict()
    torch.manual_seed(3)
    b = nets.UnetGenerator({"ngf": 2, "num_downs": 5}).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- checkpoint helper


def test_load_reference_state_dict_is_strict_about_real_mismatches():
    src = nets.ResnetGenerator({"ngf": 4, "n_blocks": 2})
    state = dict(src.state_dict())
    # What an old checkpoint carries on each instance norm, plus a DataParallel prefix.
    norms = [n for n, m in src.named_modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    for name in norms:
        width = src.get_submodule(name).num_features
        state[f"{name}.running_mean"] = torch.zeros(width)
        state[f"{name}.running_var"] = torch.ones(width)
        state[f"{name}.num_batches_tracked"] = torch.tensor(0)
    prefixed = {f"module.{k}": v for k, v in state.items()}

    dst = nets.ResnetGenerator({"ngf": 4, "n_blocks": 2})
    nets.load_reference_state_dict(dst, prefixed)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())

    with pytest.raises(RuntimeError):
        nets.load_reference_state_dict(dst, {**state, "model.99.weight": torch.zeros(1)})
    missing = dict(src.state_dict())
    missing.pop("model.1.bias")
    with pytest.raises(RuntimeError):
        nets.load_reference_state_dict(dst, missing)
    # Batch-norm statistics are real state and must not be dropped.
    bn = nets.ResnetGenerator({"ngf": 4, "n_blocks": 1, "norm": "batch"})
    patched = nets.patch_reference_state_dict(bn, bn.state_dict())
    assert "model.2.running_mean" in patched
