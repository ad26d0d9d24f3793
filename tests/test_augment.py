"""Batch augmentation on CPU tensors: shapes, value range, determinism, paired consistency,
differentiability and configuration."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ganzoo.data.augment import AUGMENT_OPS, AugmentConfig, BatchAugment, diff_augment

ALL = ",".join(AUGMENT_OPS)


def images(n: int = 4, c: int = 3, h: int = 16, w: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("op", AUGMENT_OPS)
def test_each_op_keeps_shape_and_range(op):
    x = images()
    y = BatchAugment({"policy": op, "seed": 0})(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= -1 and y.max() <= 1
    assert not torch.equal(y, x), f"{op} changed nothing"
    gray = BatchAugment({"policy": op, "seed": 0})(images(c=1))
    assert gray.shape == (4, 1, 16, 20)


def test_empty_policy_and_zero_probability_are_identity():
    x = images()
    assert BatchAugment()(x) is x
    assert not BatchAugment().enabled
    aug = BatchAugment({"policy": ALL, "p": 0.0})
    assert aug(x) is x
    nearly = BatchAugment({"policy": ALL, "p": 1e-9, "seed": 0})
    assert torch.allclose(nearly(x), x, atol=1e-4)


def test_deterministic_under_a_seed():
    x = images()
    a = BatchAugment({"policy": ALL, "seed": 3})(x)
    b = BatchAugment({"policy": ALL, "seed": 3})(x)
    c = BatchAugment({"policy": ALL, "seed": 4})(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    aug = BatchAugment({"policy": ALL})  # torch's global generator, seeded by the engine
    torch.manual_seed(0)
    d = aug(x)
    torch.manual_seed(0)
    assert torch.equal(d, aug(x))


def test_paired_inputs_get_the_same_transform():
    x = images(c=3)
    aug = BatchAugment({"policy": ALL, "seed": 1})
    a, b = aug(x, x.clone())
    assert torch.equal(a, b)
    # Geometric ops move A and B alike even when their channels differ (labels vs photo).
    geo = BatchAugment({"policy": "translation,cutout,flip,affine", "seed": 2})
    a, gray = geo(x, x[:, :1].clone())
    assert torch.allclose(a[:, :1], gray, atol=1e-6)


def test_apply_batch_paired_and_unpaired():
    x = images()
    batch = {"A": x, "B": x.clone(), "A_path": ["a"] * 4}
    aug = BatchAugment({"policy": "translation,cutout,flip", "seed": 5})
    paired = aug.apply_batch(batch, paired=True)
    assert torch.equal(paired["A"], paired["B"]) and paired["A_path"] == ["a"] * 4
    assert batch["A"] is x  # the input batch is not modified
    unpaired = aug.apply_batch(batch, paired=False)
    assert not torch.equal(unpaired["A"], unpaired["B"])
    assert BatchAugment().apply_batch(batch, paired=True)["A"] is x


def test_ops_are_differentiable():
    x = images().requires_grad_(True)
    BatchAugment({"policy": ALL, "seed": 0, "clamp": False})(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    y = images().requires_grad_(True)
    diff_augment(y).sum().backward()
    assert y.grad is not None


def test_diffaugment_translation_and_cutout_fill_with_zero():
    x = torch.ones(8, 3, 16, 16)
    t = BatchAugment({"policy": "translation", "seed": 0})(x)
    assert set(t.unique().tolist()) <= {0.0, 1.0} and (t == 0).any()
    assert (t == 0).float().mean() <= 2 * 0.125 + 1e-6  # at most 2 px of 16 shifted in on each axis
    c = BatchAugment({"policy": "cutout", "seed": 0})(x)
    zero = (c[:, 0] == 0).float().flatten(1).mean(1)
    assert (zero > 0).all() and (zero <= 0.25 + 1e-6).all()  # an 8x8 square at most, maybe clipped


def test_probability_selects_images():
    x = images(n=64)
    y = BatchAugment({"policy": "flip", "p": 0.5, "seed": 0})(x)
    changed = (y != x).flatten(1).any(1).float().mean()
    assert 0.1 < changed < 0.45  # p 0.5 times a fair flip coin


def test_config_parsing_and_errors():
    assert AugmentConfig(policy="color, translation,cutout").policy == ["color", "translation", "cutout"]
    with pytest.raises(ValidationError):
        AugmentConfig(policy="colour")
    with pytest.raises(ValidationError, match="scale"):
        AugmentConfig(scale=(1.2, 0.8))
    with pytest.raises(ValidationError):
        AugmentConfig(p=1.5)
    aug = BatchAugment({"policy": "flip"})
    with pytest.raises(ValueError, match="NCHW"):
        aug(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="share N, H and W"):
        aug(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4))
    assert "flip" in repr(aug)
