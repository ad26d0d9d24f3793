import pytest
import torch

# The tests use tiny tensors, for which one thread is fastest; it also keeps a busy 2-core
# machine from stalling in OpenMP barriers (25x slower under contention, measured).
torch.set_num_threads(1)


@pytest.fixture
def on_step_call(monkeypatch):
    """Make the n-th call of a CycleGAN step misbehave, to test the engine's reaction:
    ``before()`` runs just before that call, ``after(losses)`` may change what it returns."""
    from ganzoo_cyclegan.method import CycleGAN

    def install(method: str, n: int, before=None, after=None) -> None:
        original = getattr(CycleGAN, method)
        calls = {"n": 0}

        def wrapped(self, batch):
            calls["n"] += 1
            if calls["n"] == n and before:
                before()
            losses = original(self, batch)
            if calls["n"] == n and after:
                after(losses)
            return losses

        monkeypatch.setattr(CycleGAN, method, wrapped)

    return install
