"""The Schrodinger-bridge arithmetic of UNSB (Kim et al. 2023), as pure functions so that tests
can hold each against its formula.

The bridge runs from a source image x_0 (t = 0) to a target image (t = 1) through T steps at
times t_0 = 0 < t_1 < ... < t_T = 1. At step k the generator predicts the target x1_hat from the
current state x_k; the next state interpolates between the two and adds Brownian-bridge noise:

    x_{k+1} = (1 - a) x_k + a x1_hat + sqrt(tau s) eps,   a = dt / (1 - t_k),  s = dt (1 - a),

with dt = t_{k+1} - t_k and eps ~ N(0, I): the Gaussian bridge between x_k and x1_hat with
entropy tau. The generator is trained at each step with an adversarial loss, PatchNCE and the
SB loss below, whose energy network E estimates the entropy of the joint (x_t, x1_hat).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def harmonic_times(num_steps: int) -> list[float]:
    """The reference's T + 1 time points: increments 1, 1/2, ..., 1/(T-1) (harmonic), summed and
    normalised to [0, 1], squeezed into [0.5, 1], with t = 0 in front. T = 5 gives
    0, 0.5, 0.74, 0.86, 0.94, 1. The first step jumps half-way: most of the change happens at
    once, later steps refine."""
    if num_steps == 1:  # one jump from source to target (the formula would divide by zero)
        return [0.0, 1.0]
    increments = [0.0] + [1.0 / (i + 1) for i in range(num_steps - 1)]
    sums = [sum(increments[: i + 1]) for i in range(num_steps)]
    return [0.0] + [0.5 + 0.5 * s / sums[-1] for s in sums]


def step_coefficients(t_prev: float, t_next: float) -> tuple[float, float]:
    """``(a, s)`` of one step from ``t_prev`` to ``t_next``: the weight of the prediction and
    the noise variance (per unit of tau)."""
    dt = t_next - t_prev
    a = dt / (1.0 - t_prev)
    return a, dt * (1.0 - a)


def chain_step(x_prev: Tensor, x1_hat: Tensor, t_prev: float, t_next: float, tau: float, noise: Tensor) -> Tensor:
    """One step of the forward chain: the bridge's state at ``t_next`` from the state at
    ``t_prev`` and the generator's prediction ``x1_hat`` there."""
    a, s = step_coefficients(t_prev, t_next)
    return (1 - a) * x_prev + a * x1_hat + math.sqrt(tau * s) * noise


def energy_terms(e_pos: Tensor, e_neg: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean of E on the true pairs, log-sum-exp of E on the mismatched pairs)``, over every
    patch score of the batch, as the reference reduces the score maps."""
    return e_pos.mean(), torch.logsumexp(e_neg.reshape(-1), dim=0)


def energy_loss(e_pos: Tensor, e_neg: Tensor) -> Tensor:
    """E's loss: -E(pos) + lse + lse^2. The squared term keeps the log-partition near 0, so the
    energies cannot drift off together (the estimate is invariant to a shift)."""
    pos, lse = energy_terms(e_pos, e_neg)
    return -pos + lse + lse**2


def sb_loss(e_pos: Tensor, e_neg: Tensor, x_t: Tensor, x1_hat: Tensor, step: int, num_steps: int,
            tau: float) -> Tensor:
    """The generator's SB loss at step index ``step`` (0..T-1):
    -((T - step) / T) tau [E(pos) - lse E(neg)] + tau mean((x_t - x1_hat)^2): the entropy of the
    joint (estimated by E, weighted by the remaining time) plus the transport cost."""
    pos, lse = energy_terms(e_pos, e_neg)
    weight = (num_steps - step) / num_steps
    return -weight * tau * (pos - lse) + tau * torch.mean((x_t - x1_hat) ** 2)
