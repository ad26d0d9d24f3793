"""Every registered component builds from its default config and runs forward."""

from __future__ import annotations

import inspect

import pytest
import torch

from ganzoo.components import AdversarialLoss, Discriminator, Generator, ReconstructionLoss
from ganzoo.plugins import load_plugins

REGISTRY = load_plugins().registry
torch.set_grad_enabled(True)


def _input_size(spec, default: int = 32) -> int:
    # U-Nets need 2**num_downs pixels, a fixed-size discriminator (SR's vgg_sr) its input_size;
    # everything else runs at `default` px.
    fields = spec.config.model_fields
    if "num_downs" in fields:
        return 2 ** fields["num_downs"].default
    return fields["input_size"].default if "input_size" in fields else default


@pytest.mark.parametrize("name", REGISTRY.names("generator"))
def test_generator_defaults_forward(name):
    spec = REGISTRY.get("generator", name)
    net = spec.build()
    assert isinstance(net, Generator)
    size = _input_size(spec)
    x = torch.rand(1, net.config.input_nc, size, size) * 2 - 1
    with torch.no_grad():
        y = net.eval()(x)
    scale = getattr(net, "scale", 1)  # super-resolution generators up-scale
    assert y.shape == (1, net.config.output_nc, size * scale, size * scale)
    if scale == 1:
        assert y.abs().max() <= 1.0 + 1e-6  # tanh output in the image range
    else:  # SR networks end in a conv, as their references (inference clamps to the image range)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", REGISTRY.names("discriminator"))
def test_discriminator_defaults_forward(name):
    spec = REGISTRY.get("discriminator", name)
    net = spec.build()
    assert isinstance(net, Discriminator)
    size = _input_size(spec, 64)
    out = net(torch.randn(2, net.config.input_nc, size, size))
    outs = [out] if isinstance(out, torch.Tensor) else out
    assert all(o.shape[0] == 2 and torch.isfinite(o).all() for o in outs)


class TinyD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("name", REGISTRY.names("loss"))
def test_loss_defaults_forward_and_backward(name):
    spec = REGISTRY.get("loss", name)
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8, requires_grad=True)
    if "channels" in spec.config.model_fields:  # a feature loss (PatchNCE): built for a generator's layers
        g = REGISTRY.get("generator", "resnet_9blocks").build({"ngf": 4})
        loss = spec.build({"channels": g.feature_layers()}, name=name)
        value = loss(g.features(real, loss.layers), g.features(fake, loss.layers))
        value.backward()
        assert value.ndim == 0 and value > 0 and fake.grad is not None
        return
    # a loss on a pretrained network (SR's perceptual loss) runs on random weights here
    loss = spec.build({"random_weights": True} if "random_weights" in spec.config.model_fields else {}, name=name)
    if isinstance(loss, AdversarialLoss):
        d = TinyD()
        # a relativistic loss compares with D's scores of reals in G's step too
        needs_real = "real" in inspect.signature(loss.generator_loss).parameters
        g_loss = loss.generator_loss(d, fake, **({"real": real} if needs_real else {}))
        d_loss = loss.discriminator_loss(d, real, fake)
        assert g_loss.ndim == 0 and d_loss.ndim == 0
        g_loss.backward()
        assert fake.grad is not None
        d_loss.backward()
        assert d.conv.weight.grad is not None
    else:
        assert isinstance(loss, ReconstructionLoss)
        value = loss(fake, real)
        value.backward()
        assert value.ndim == 0 and value > 0 and fake.grad is not None


@pytest.mark.parametrize("name", REGISTRY.names("dataset"))
def test_dataset_defaults(name, tmp_path):
    spec = REGISTRY.get("dataset", name)
    required = [f for f, info in spec.config.model_fields.items() if info.is_required()]
    if required:
        pytest.skip(f"{name} needs {required}; covered by tests/test_data.py")
    dataset = spec.build(split="train")
    item = dataset[0]
    key = "image" if spec.cls.label_kind else "A"  # multi-domain data: labelled images
    assert item[key].shape[0] in (1, 3) and item[key].min() >= -1 and item[key].max() <= 1
    if spec.cls.label_kind:
        assert spec.cls.label_kind in item and len(dataset.domains) >= 2


@pytest.mark.parametrize("name", REGISTRY.names("method"))
def test_recipe_defaults_build_and_step(name):
    from ganzoo.recipe import resolve

    # The recipe's own defaults and default components; the networks are narrowed (their
    # full-width defaults are covered above) so that a CPU steps them in seconds.
    labelled = bool(REGISTRY.get("method", name).cls.needs_labels)  # multi-domain methods train on labels
    data = {"method": {"type": name}, "data": {"type": "multidomain_procedural" if labelled else "procedural",
                                                "image_size": 64}}
    resolved = resolve(data, REGISTRY)
    # a super-resolution method (its generator has a scale) learns LR -> HR pairs
    scale = getattr(resolved.slots["generator"].config, "scale", 1) if "generator" in resolved.slots else 1
    for slot, comp in resolved.slots.items():
        fields = type(comp.config).model_fields
        narrow = {k: 8 for k in ("ngf", "ndf", "dim", "conv_dim", "nf") if k in fields}
        narrow.update({"image_size": 64} if "image_size" in fields else {})
        narrow |= {k: v for k, v in (("n_blocks", 1), ("random_weights", True)) if k in fields and scale > 1}
        data[slot] = {**{k: v for k, v in comp.table().items() if k in narrow or k in ("type", "input_size")},
                      **narrow}
    resolved = resolve(data, REGISTRY)
    recipe = resolved.build_method()
    size = max(64, 2 ** max(getattr(c.config, "num_downs", 0) for c in resolved.slots.values()),
               *(getattr(c.config, "input_size", 0) for c in resolved.slots.values()))
    low = size // scale
    batch = {"A": torch.rand(1, 3, low, low) * 2 - 1, "B": torch.rand(1, 3, size, size) * 2 - 1}
    if labelled:
        batch = {"image": batch["A"], "domain": torch.tensor([1])}
    if getattr(recipe, "needs_task_labels", False):  # domain adaptation: per-pixel class labels of both domains
        batch.update({f"{d}_mask": torch.randint(0, 4, (1, size, size)) for d in "AB"})
    for step in recipe.train_steps():
        losses = step.compute(batch)
        assert losses and all(torch.isfinite(v) for v in losses.values())
        sum(losses.values()).backward()
    target = {"target": torch.tensor([0])} if labelled else {}
    assert recipe.translate(batch["A" if not labelled else "image"], "a2b", **target).shape[-2:] == (size, size)
