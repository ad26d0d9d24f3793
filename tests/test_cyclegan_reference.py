"""CycleGAN where users compare it with the reference (junyanz/pytorch-CycleGAN-and-pix2pix):
the identity term as a multiple of the cycle weight, different channels per domain, and the
PatchGAN layout with norm "none"."""

from __future__ import annotations

import pytest
import torch

from ganzoo.errors import GanzooError
from ganzoo.recipe import resolve

TINY = {"generator": {"type": "resnet_6blocks", "ngf": 4}, "discriminator": {"type": "patchgan", "ndf": 4,
                                                                             "n_layers": 2}}


def build(registry, method=None, **tables):
    data = {"method": {"type": "cyclegan", **(method or {})}, "data": {"type": "procedural", "image_size": 16},
            **TINY}
    for key, value in tables.items():
        data[key] = {**data.get(key, {}), **value}
    return resolve(data, registry, check_data=False).build_method()


def test_identity_is_lambda_identity_times_the_cycle_weight(ganzoo_registry):
    torch.manual_seed(0)
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    default = build(ganzoo_registry)
    assert default.identity_weight == 5.0  # the reference's 0.5 x 10
    doubled = build(ganzoo_registry, cycle_loss={"weight": 20.0})
    assert doubled.identity_weight == 10.0  # follows the cycle weight, as the reference's lambda_B x lambda_idt
    doubled.load_state_dict(default.state_dict())
    torch.manual_seed(1)
    a = default.generator_step(batch)
    torch.manual_seed(1)
    b = doubled.generator_step(batch)
    raw = torch.nn.functional.l1_loss(default.G_A(batch["B"]), batch["B"])
    assert a["idt_A"].item() == pytest.approx(5.0 * raw.item(), rel=1e-5)
    assert b["idt_A"].item() == pytest.approx(2 * a["idt_A"].item(), rel=1e-5)
    assert "idt_A" not in build(ganzoo_registry, {"lambda_identity": 0.0}).generator_step(batch)


def test_grayscale_to_rgb_cyclegan_builds_each_network_with_its_domains_channels(ganzoo_registry):
    method = build(ganzoo_registry, {"lambda_identity": 0.0}, generator={"input_nc": 1, "output_nc": 3})
    assert (method.G_A.config.input_nc, method.G_A.config.output_nc) == (1, 3)
    assert (method.G_B.config.input_nc, method.G_B.config.output_nc) == (3, 1)
    assert (method.D_A.config.input_nc, method.D_B.config.input_nc) == (3, 1)  # D_A judges B, D_B judges A
    batch = {"A": torch.rand(2, 1, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    for step in method.train_steps():
        total = sum(step.compute(batch).values())
        total.backward()
        assert torch.isfinite(total)
    assert method.translate(batch["A"], "a2b").shape == (2, 3, 16, 16)
    assert method.translate(batch["B"], "b2a").shape == (2, 1, 16, 16)
    with pytest.raises(GanzooError, match=r"identity terms need the same channels in both domains \(generator "
                                          r"input_nc 1, output_nc 3\); set method.lambda_identity = 0"):
        build(ganzoo_registry, generator={"input_nc": 1, "output_nc": 3})


def test_a_reference_patchgan_with_norm_none_loads_strictly(ganzoo_registry):
    """The reference's get_norm_layer('none') is a plain function, so NLayerDiscriminator's
    ``use_bias = norm_layer == nn.InstanceNorm2d`` is False: only the first and last convs have
    biases. A checkpoint in that layout must load with strict key matching."""
    net = ganzoo_registry.get("discriminator", "patchgan").build({"ndf": 4, "n_layers": 3, "norm": "none"})
    reference_keys = {"model.0.weight", "model.0.bias", "model.2.weight", "model.5.weight", "model.8.weight",
                      "model.11.weight", "model.11.bias"}
    assert set(net.state_dict()) == reference_keys
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    net.load_state_dict({k: torch.randn(s) for k, s in shapes.items()}, strict=True)
