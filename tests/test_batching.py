"""Batched network calls (ganzoo.batching) give the separate calls' outputs and gradients.

CycleGAN's generator step runs G_A on real A and on real B (identity) as one call, likewise G_B,
and every adversarial loss runs D on its real and fake batch as one call, wherever the networks
treat samples independently; everywhere else the calls stay separate, in the reference's order."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.recipe import resolve

TINY = {"generator": {"type": "resnet_6blocks", "ngf": 4}, "discriminator": {"type": "patchgan", "ndf": 4,
                                                                             "n_layers": 2}}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cyclegan(registry, **tables):
    data = {"method": {"type": "cyclegan"}, "data": {"type": "procedural", "image_size": 16}, **TINY}
    for key, value in tables.items():
        data[key] = {**data.get(key, {}), **value}
    torch.manual_seed(0)
    return resolve(data, registry, check_data=False).build_method()


def unbatched_generator_step(method, batch):
    """CycleGAN's generator step as the reference writes it: six separate generator calls."""
    real_A, real_B = batch["A"], batch["B"]
    fake_B = method.G_A(real_A)
    rec_A = method.G_B(fake_B)
    fake_A = method.G_B(real_B)
    rec_B = method.G_A(fake_A)
    return {
        "G_A": method.gan_loss.generator_loss(method.D_A, fake_B),
        "G_B": method.gan_loss.generator_loss(method.D_B, fake_A),
        "cycle_A": method.cycle_loss(rec_A, real_A),
        "cycle_B": method.cycle_loss(rec_B, real_B),
        "idt_A": method.identity_weight * method.identity_loss(method.G_A(real_B), real_B),
        "idt_B": method.identity_weight * method.identity_loss(method.G_B(real_A), real_A),
    }


def unbatched_discriminator_loss(loss, discriminator, real, fake):
    return loss.weight * loss.discriminator_term(discriminator(real), discriminator(fake))


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def assert_close_dicts(a, b, **tol):
    assert a.keys() == b.keys() and a
    for k in a:
        torch.testing.assert_close(a[k], b[k], **tol, msg=lambda m, k=k: f"{k}: {m}")


def batched_generator_step(method, batch):
    """CycleGAN's generator step in three calls (ganzoo.call_batched), as docs/performance.md
    describes it; CycleGAN itself makes the six separate calls for now (see tests/test_ddp.py)."""
    real_A, real_B = batch["A"], batch["B"]
    fake_B, idt_A = ganzoo.call_batched(method.G_A, [real_A, real_B])
    fake_A, idt_B, rec_A = ganzoo.call_batched(method.G_B, [real_B, real_A, fake_B])
    rec_B = method.G_A(fake_A)
    return {
        "G_A": method.gan_loss.generator_loss(method.D_A, fake_B),
        "G_B": method.gan_loss.generator_loss(method.D_B, fake_A),
        "cycle_A": method.cycle_loss(rec_A, real_A),
        "cycle_B": method.cycle_loss(rec_B, real_B),
        "idt_A": method.identity_weight * method.identity_loss(idt_A, real_B),
        "idt_B": method.identity_weight * method.identity_loss(idt_B, real_A),
    }


def test_cyclegan_generator_terms_in_three_batched_calls_equal_six_separate_calls(ganzoo_registry):
    method = cyclegan(ganzoo_registry)
    twin = copy.deepcopy(method)
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    calls = []
    for name in ("G_A", "G_B"):
        getattr(method, name).register_forward_hook(lambda m, i, o, n=name: calls.append((n, i[0].shape[0])))
    batched = batched_generator_step(method, batch)
    # G_A on real A and real B; G_B on real B, real A and fake B; G_A on fake A (the cycle)
    assert calls == [("G_A", 4), ("G_B", 6), ("G_A", 2)]
    assert_close_dicts(method.generator_step(batch), unbatched_generator_step(twin, batch), rtol=0, atol=0)
    separate = unbatched_generator_step(twin, batch)
    assert_close_dicts(batched, separate, rtol=1e-5, atol=1e-6)
    sum(batched.values()).backward()
    sum(separate.values()).backward()
    for net in ("G_A", "G_B", "D_A", "D_B"):
        assert_close_dicts(grads(getattr(method, net)), grads(getattr(twin, net)), rtol=1e-4, atol=1e-6)


def test_batch_norm_generators_keep_the_reference_calls_and_order(ganzoo_registry):
    method = cyclegan(ganzoo_registry, generator={"norm": "batch"})
    assert not ganzoo.per_sample(method.G_A)
    twin = copy.deepcopy(method)
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    losses, reference = method.generator_step(batch), unbatched_generator_step(twin, batch)
    assert_close_dicts(losses, reference, rtol=0, atol=0)  # same calls in the same order: bit-identical
    assert_close_dicts(dict(method.G_A.named_buffers()), dict(twin.G_A.named_buffers()), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["lsgan", "vanilla", "hinge"])
def test_discriminator_loss_on_real_and_fake_in_one_call_equals_two_calls(ganzoo_registry, kind):
    method = cyclegan(ganzoo_registry, gan_loss={"type": kind})
    twin = copy.deepcopy(method)
    real, fake = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    calls = []
    method.D_A.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    batched = method.gan_loss.discriminator_loss(method.D_A, real, fake)
    assert calls == [4]
    separate = unbatched_discriminator_loss(twin.gan_loss, twin.D_A, real, fake)
    torch.testing.assert_close(batched, separate, rtol=1e-5, atol=1e-6)
    batched.backward()
    separate.backward()
    assert_close_dicts(grads(method.D_A), grads(twin.D_A), rtol=1e-4, atol=1e-6)


def test_a_batch_norm_discriminator_is_called_on_real_and_fake_separately(ganzoo_registry):
    method = cyclegan(ganzoo_registry, discriminator={"norm": "batch"})
    calls = []
    method.D_A.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    method.gan_loss.discriminator_loss(method.D_A, torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    assert calls == [2, 2]


def test_per_sample_knows_batch_statistics_dropout_and_declarations():
    conv = nn.Conv2d(3, 3, 3)
    assert ganzoo.per_sample(nn.Sequential(conv, nn.InstanceNorm2d(3), nn.ReLU()))
    assert not ganzoo.per_sample(nn.Sequential(conv, nn.BatchNorm2d(3)))
    assert ganzoo.per_sample(nn.Sequential(conv, nn.BatchNorm2d(3)).eval())  # running statistics: per sample
    assert not ganzoo.per_sample(nn.Sequential(conv, nn.InstanceNorm2d(3, track_running_stats=True)))
    assert not ganzoo.per_sample(nn.Sequential(conv, nn.Dropout(0.5)))
    assert ganzoo.per_sample(nn.Sequential(conv, nn.Dropout(0.5)).eval())
    assert ganzoo.per_sample(nn.Sequential(conv, nn.Dropout(0.0)))
    noisy = nn.Sequential(conv)
    noisy.per_sample = False  # e.g. noise injection the walk cannot see
    assert not ganzoo.per_sample(nn.Sequential(noisy, nn.ReLU()))


def test_call_batched_falls_back_to_separate_calls():
    net = nn.Conv2d(3, 2, 3, padding=1)
    a, b = torch.rand(1, 3, 8, 8), torch.rand(2, 3, 4, 4)  # different image sizes: no concatenation
    outs = ganzoo.call_batched(net, [a, b])
    torch.testing.assert_close(outs[0], net(a))
    torch.testing.assert_close(outs[1], net(b))
    c = torch.rand(3, 3, 8, 8)
    joined = ganzoo.call_batched(net, [a, c])
    assert [o.shape[0] for o in joined] == [1, 3]
    torch.testing.assert_close(joined[1], net(c), rtol=1e-5, atol=1e-6)


def test_a_wrapper_around_a_discriminator_is_called_as_the_method_expects(ganzoo_registry):
    """A method may hand the loss a plain module around D that records each call (StarGAN keeps the
    class logits of the real call): only a registered Discriminator is batched."""
    method = cyclegan(ganzoo_registry)
    calls = []
    wrapper = nn.Sequential(method.D_A)
    wrapper.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    method.gan_loss.discriminator_loss(wrapper, torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    assert calls == [2, 2]
