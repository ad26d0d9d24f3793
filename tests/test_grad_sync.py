"""Overlapped gradient averaging (ganzoo.engine.grad_sync) in one gloo process: buckets go out
while the backward still runs, leftovers at the end, and only the step's own groups.
(Two processes: tests/test_ddp.py.)"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from ganzoo.engine.distributed import DistContext
from ganzoo.engine.grad_sync import OverlappedGradSync

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture
def group(tmp_path):
    if dist.is_initialized():
        pytest.skip("a process group is already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield DistContext(rank=0, world_size=1)
    dist.destroy_process_group()


def test_buckets_are_reduced_during_the_backward_and_leftovers_after(group):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    unused = nn.Linear(2, 2)
    other = nn.Linear(3, 1)
    sync = OverlappedGradSync({"G": [*net.parameters(), *unused.parameters()], "D": list(other.parameters())}, group,
                              bucket_bytes=8 * 8 * 4)  # about one layer per bucket
    assert len(sync.buckets) > 3
    launched_during = []
    net[0].weight.register_post_accumulate_grad_hook(lambda p: launched_during.append(len(sync._launched)))
    sync.start(["G"])
    loss = net(torch.randn(5, 4)).sum() + other(torch.randn(2, 3)).sum()  # D gets gradients, unarmed
    loss.backward()
    expected = {n: p.grad.clone() for n, p in net.named_parameters()}
    # by the time the first layer's gradient is ready, the later layers' buckets are on their way
    assert launched_during and launched_during[0] >= 2
    sync.finish()
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, expected[n])  # averaged over one rank: unchanged
    assert all(p.grad is None for p in unused.parameters())
    assert sync._launched == {} and sync._armed == set()
    assert OverlappedGradSync.applicable({"G": list(net.parameters())})
    assert not OverlappedGradSync.applicable({"G": list(net.parameters()), "H": [net[0].weight]})
    sync.close()
