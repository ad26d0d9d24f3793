"""The UNSB training algorithm (Kim et al. 2023, cyclomon/UNSB ``sb_model.py``), one-sided A->B.

Per iteration, as the reference: draw one step index k for the batch, run the chain without
gradients from the source images to x_k, let G predict the target from x_k, then step D (LSGAN
at step k), E (the energy network on the (x_k, prediction) pairs) and G with the PatchNCE
heads (adversarial + SB + PatchNCE). The energy needs pairs from an independent chain; the
reference loads a second batch for them, here they come from the previous iteration's source
images (kept in the checkpoint), which are equally independent of this batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

import ganzoo
from ganzoo_unsb.bridge import chain_step, energy_loss, harmonic_times, sb_loss


class UNSBConfig(ganzoo.MethodConfig):
    """The optimizer and schedule are the engine's defaults, which are the reference's: Adam(2e-4,
    betas 0.5/0.999) for G, D, E and the PatchNCE heads, constant for half the run, then linear decay."""

    num_timesteps: int = Field(5, ge=1, description="T: steps of the bridge on its harmonic time grid (reference: 5).")
    tau: float = Field(0.01, gt=0, description="Entropy of the bridge: its noise and the SB loss terms' weight.")
    lambda_sb: float = Field(1.0, ge=0, description="Weight of the SB loss (energy term + transport cost).")
    nce_idt: bool = Field(True, description="Also PatchNCE between B and G's output on B's chain (the reference: on).")
    inference_steps: int = Field(5, ge=1, description="Generator calls (NFE) of a translation by default, 1..T.")

    @model_validator(mode="after")
    def _steps_fit(self) -> UNSBConfig:
        if self.inference_steps > self.num_timesteps:
            raise ValueError(f"inference_steps ({self.inference_steps}) exceeds num_timesteps ({self.num_timesteps})")
        return self


class UNSB(ganzoo.Method):
    """Unpaired neural Schrodinger bridge (Kim et al. 2023): translation as T stochastic
    refinement steps, each a time-conditioned generator call, trained one random step at a time."""

    Config = UNSBConfig
    directions = ("a2b",)
    stochastic_inference = True
    slots = {
        "generator": ganzoo.Slot("generator", "unsb_resnet_9blocks", help="G: x_t, step, noise -> target."),
        "discriminator": ganzoo.Slot("discriminator", "unsb_patchgan", help="D: judges B at step t."),
        "energy": ganzoo.Slot("discriminator", "unsb_energy", help="E: scores pairs of (x_t, x_1) pairs."),
        "gan_loss": ganzoo.Slot("loss", "lsgan", help="Adversarial objective (lambda_GAN = its weight)."),
        "nce_loss": ganzoo.Slot("loss", "patchnce", help="PatchNCE between source and output (lambda_NCE = weight)."),
    }

    def __init__(self, config: UNSBConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.G = parts["generator"]()
        nc = self.G.config.output_nc
        self.D = parts["discriminator"](input_nc=nc)
        self.E = parts["energy"](input_nc=4 * nc)
        self.gan_loss = parts["gan_loss"]()
        self.nce_loss = parts["nce_loss"](channels=self.G.feature_layers())
        self.times = harmonic_times(config.num_timesteps)
        self.inference_steps, self.max_inference_steps = config.inference_steps, config.num_timesteps
        self._previous_A: Tensor | None = None
        self._state: dict[str, Any] = {}

    def param_groups(self) -> dict[str, list]:
        return {"G": [*self.G.parameters()], "D": [*self.D.parameters()], "E": [*self.E.parameters()],
                "F": [*self.nce_loss.parameters()]}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [
            ganzoo.TrainStep("D", "D", self.discriminator_step),
            ganzoo.TrainStep("E", "E", self.energy_step),
            ganzoo.TrainStep("G", "G", self.generator_step, frozen=(self.D, self.E), also=("F",)),
        ]

    # ------------------------------------------------------------------ the bridge

    def _noise(self, n: int, like: Tensor) -> Tensor:
        return torch.randn(n, self.G.z_dim).to(like.device)  # drawn on the CPU: the same on every device

    def _predict(self, x_t: Tensor, k: int) -> Tensor:
        return self.G(x_t, k, self._noise(len(x_t), x_t))

    @torch.no_grad()
    def _chain(self, x0: Tensor, k: int) -> Tensor:
        """The chain's state at step ``k`` from ``x0``: k generator calls and bridge steps."""
        x = x0
        for j in range(k):
            x = chain_step(x, self._predict(x, j), self.times[j], self.times[j + 1], self.config.tau,
                           torch.randn_like(x))
        return x

    def _forward(self, batch: ganzoo.Batch) -> dict[str, Any]:
        """The iteration's chain states and predictions, shared by the three steps."""
        real_A, real_B = batch["A"], batch["B"]
        other_A = self._previous_A if self._previous_A is not None and self._previous_A.shape == real_A.shape \
            else real_A.flip(-1)  # the first iteration has no previous batch: its mirror image
        self._previous_A = real_A.detach()
        n, k = len(real_A), int(torch.randint(self.config.num_timesteps, (1,)))
        with _eval_mode(self.G):
            x_t, x_t2 = self._chain(real_A, k), self._chain(other_A, k)
            x_tB = self._chain(real_B, k) if self.config.nce_idt else real_B[:0]
        fake = self._predict(torch.cat([x_t, x_tB]), k)
        return {"k": k, "real_A": real_A, "real_B": real_B, "x_t": x_t, "x_t2": x_t2,
                "fake_B": fake[:n], "idt_B": fake[n:], "fake_B2": self._predict(x_t2, k)}

    # ------------------------------------------------------------------ the steps

    def discriminator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        s = self._state = self._forward(batch)
        return {"D": self.gan_loss.discriminator_loss(self._at(self.D, s["k"]), s["real_B"], s["fake_B"])}

    def energy_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        s = self._state
        e_pos, e_neg = self._energies(s["x_t"], s["fake_B"].detach(), s["x_t2"], s["fake_B2"].detach(), s["k"])
        return {"E": energy_loss(e_pos, e_neg)}

    def generator_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        s, c = self._state, self.config
        losses = {"G_GAN": self.gan_loss.generator_loss(self._at(self.D, s["k"]), s["fake_B"])}
        if c.lambda_sb:
            e_pos, e_neg = self._energies(s["x_t"], s["fake_B"], s["x_t2"], s["fake_B2"], s["k"])
            losses["SB"] = c.lambda_sb * sb_loss(e_pos, e_neg, s["x_t"], s["fake_B"], s["k"], c.num_timesteps, c.tau)
        if self.nce_loss.enabled:
            half = 0.5 if c.nce_idt else 1.0  # the reference averages the two NCE terms
            losses["NCE"] = half * self._nce(s["real_A"], s["fake_B"])
            if c.nce_idt:
                losses["NCE_Y"] = half * self._nce(s["real_B"], s["idt_B"])
        return losses

    def _energies(self, x_t: Tensor, x1: Tensor, x_t2: Tensor, x1_2: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """E on (pair, pair) and on (pair, pair of the independent chain)."""
        pair, other = torch.cat([x_t, x1], 1), torch.cat([x_t2, x1_2], 1)
        return self.E(torch.cat([pair, pair], 1), k), self.E(torch.cat([pair, other], 1), k)

    def _nce(self, source: Tensor, output: Tensor) -> Tensor:
        """PatchNCE between G's features of ``source`` and ``output`` at step 0, with one noise
        draw for both, as the reference. The source side is PatchNCE's keys, which get no
        gradient: computed without a graph."""
        z = self._noise(len(source), source)
        layers = self.nce_loss.layers
        out_feats = self.G.features(output, layers, t=0, z=z)
        with torch.no_grad():
            src_feats = self.G.features(source, layers, t=0, z=z)
        return self.nce_loss(src_feats, out_feats)

    @staticmethod
    def _at(net: nn.Module, k: int) -> Callable[[Tensor], Tensor]:
        return functools.partial(net, t=k)

    # ------------------------------------------------------------------ inference

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b", steps: int | None = None) -> Tensor:
        """Run the chain for ``steps`` generator calls (NFE, default ``inference_steps``) and
        return the last prediction; its noise comes from torch's random generator."""
        steps = steps or self.inference_steps
        x_t, out = x, x
        for k in range(steps):
            if k:
                x_t = chain_step(x_t, out, self.times[k - 1], self.times[k], self.config.tau, torch.randn_like(x_t))
            out = self._predict(x_t, k)
        return out

    def export_module(self, direction: ganzoo.Direction = "a2b") -> tuple[nn.Module, str]:
        z = torch.randn(1, self.G.z_dim, generator=torch.Generator().manual_seed(0))
        return SingleStep(self.G, z), (f"exports the single-step translation (NFE 1 of {self.max_inference_steps}) "
                                       "with the noise of seed 0, as ganzoo translate --steps 1 --seed 0 computes it")

    def visuals(self) -> dict[str, Tensor]:
        keys = ("real_A", "x_t", "fake_B", "real_B", "idt_B")
        return {k: self._state[k].detach() for k in keys if k in self._state and len(self._state[k])}

    def extra_state(self) -> dict[str, Any]:
        return {} if self._previous_A is None else {"previous_A": self._previous_A}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        previous = state.get("previous_A")
        self._previous_A = None if previous is None else previous.to(next(self.parameters()).device)


class SingleStep(nn.Module):
    """G's first step with a fixed noise vector: a deterministic translation to export."""

    def __init__(self, generator: nn.Module, z: Tensor):
        super().__init__()
        self.generator = generator
        self.register_buffer("z", z)

    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x, 0, self.z.expand(x.shape[0], -1))


class _eval_mode:  # noqa: N801 - reads as a statement
    """The chain runs G in eval mode, as the reference (matters for batch norm or dropout)."""

    def __init__(self, module: nn.Module):
        self.module, self.was = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was)
