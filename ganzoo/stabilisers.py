"""GAN stabilisers that every adversarial loss offers through its recipe table.

They live with :class:`ganzoo.AdversarialLoss` because every method calls D through it: one
implementation serves CycleGAN, pix2pix, UNIT and any plugin's method, and a recipe switches
them on with ``--set gan_loss.r1_gamma=1`` instead of a method rewriting its D step.

- R1 / R2 gradient penalties (Mescheder et al. 2018): ``gamma / 2 * E ||grad_x D(x)||^2`` on real
  (R1) or generated (R2) images, computed every ``reg_every`` D steps and scaled by it (StyleGAN2's
  lazy regularisation, which keeps the expected penalty and costs 1/k of the double backward).
- Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise on both of D's
  inputs, so real and fake distributions overlap early on; annealed linearly to 0.
- One-sided label smoothing (Salimans et al. 2016): D's target for reals is 1 - s.
- Adaptive discriminator augmentation (Karras et al. 2020, StyleGAN2-ADA): a differentiable
  augmentation of D's real and fake inputs whose probability p follows D's overfitting signal
  r_t = E[sign(D(real))], raised when r_t is above the target and lowered below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganzoo.data.augment import AugmentConfig, BatchAugment


def gradient_penalty(discriminator: nn.Module, images: Tensor) -> Tensor:
    """``E_x ||grad_x sum D(x)||^2`` over the batch (every output of a patch or multi-scale D
    counts, each image's gradient coming from its own scores), differentiable for D's step."""
    images = images.detach().requires_grad_(True)
    preds = discriminator(images)
    preds = [preds] if isinstance(preds, Tensor) else list(preds)
    grad = torch.autograd.grad([p.float().sum() for p in preds], images, create_graph=True)[0]
    return grad.float().pow(2).flatten(1).sum(1).mean()


def noise_std(start: float, steps: int, iteration: int) -> float:
    """Instance noise at ``iteration`` (1-based): ``start`` falling linearly to 0 over ``steps``
    iterations (``steps`` 0: constant)."""
    if start <= 0 or steps <= 0:
        return max(start, 0.0)
    return start * max(0.0, 1.0 - (iteration - 1) / steps)


def real_sign(real_preds: Sequence[Tensor], threshold: float) -> Tensor:
    """ADA's overfitting heuristic for one batch: mean of sign(D(real) - threshold) over every
    score (1: D calls every real image real, as an overfitting D does)."""
    return torch.cat([torch.sign(p.detach().float() - threshold).flatten() for p in real_preds]).mean()


class AdaptiveAugment(nn.Module):
    """A differentiable augmentation of D's inputs, its probability ``p`` (a buffer, so it is
    checkpointed and follows rank 0 in distributed runs) adjusted every ``interval`` D steps
    by ``sign(r_t - target) * images / (kimg * 1000)``: p can go from 0 to 1 in ``kimg``
    thousand real images, StyleGAN2-ADA's speed (its ``ada_kimg`` 500). ``target`` None
    keeps p fixed (plain DiffAugment)."""

    def __init__(self, policy: Sequence[str], p: float, target: float | None, kimg: float, interval: int):
        super().__init__()
        self.augment = BatchAugment(AugmentConfig(policy=list(policy), p=p))  # type: ignore[arg-type]
        self.target, self.kimg, self.interval = target, kimg, interval
        self.register_buffer("p", torch.tensor(float(p)))
        self._signs: list[Tensor] = []
        self._images = 0
        self._p_cpu: float | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self._p_cpu is None:  # after construction or a load: one read of the buffer
            self._p_cpu = float(self.p)
        self.augment.p = self._p_cpu
        return self.augment(x)

    def observe(self, real_preds: Sequence[Tensor], threshold: float, images: int) -> None:
        """Account one D step's real scores; every ``interval`` steps, move p (stays on the
        device until the new p is read, once per interval)."""
        if self.target is None:
            return
        self._signs.append(real_sign(real_preds, threshold))
        self._images += images
        if len(self._signs) < self.interval:
            return
        r_t = torch.stack(self._signs).mean()
        step = self._images / (self.kimg * 1000.0)
        self.p.copy_((self.p + torch.sign(r_t - self.target) * step).clamp(0.0, 1.0))
        self._signs, self._images, self._p_cpu = [], 0, None

    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(*args, **kwargs)
        self._p_cpu = None


_SN_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


def spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every conv and linear layer of ``module``,
    in place: each weight divided by its largest singular value (one power iteration per
    training forward), so D is 1-Lipschitz per layer. Applied by the registry to every
    discriminator whose config has ``spectral_norm = true``.

    State-dict keys change (``weight`` becomes ``parametrizations.weight.original`` plus the power
    iteration's ``_u`` and ``_v``); a checkpoint of the same network without spectral norm still
    loads: its ``weight`` becomes the unnormalised original and the power iteration starts afresh.
    """
    from torch.nn.utils import parametrizations, parametrize

    for layer in [m for m in module.modules() if isinstance(m, _SN_LAYERS)]:
        # already normalised: by parametrization, or by the older hook API (weight_orig), as
        # Real-ESRGAN's U-Net D normalises all its convs but the first and last
        if parametrize.is_parametrized(layer, "weight") or hasattr(layer, "weight_orig"):
            continue
        parametrizations.spectral_norm(layer)
        layer._register_load_state_dict_pre_hook(_plain_weight_into_sn, with_module=True)
    return module


def _plain_weight_into_sn(layer: nn.Module, state_dict: dict, prefix: str, *_: object) -> None:  # type: ignore[type-arg]
    """Map a plain layer's ``weight`` onto a spectrally normalised layer's original weight."""
    plain, original = f"{prefix}weight", f"{prefix}parametrizations.weight.original"
    if plain not in state_dict or original in state_dict:
        return
    state_dict[original] = state_dict.pop(plain)
    sn = layer.parametrizations.weight[0]  # type: ignore[union-attr, index]
    for name in ("_u", "_v"):
        state_dict.setdefault(f"{prefix}parametrizations.weight.0.{name}", getattr(sn, name).clone())
