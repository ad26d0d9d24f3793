"""Diversity of a stochastic translation: mean LPIPS between several outputs of the same input.

The protocol of MUNIT (Huang et al. 2018, section 5) and StarGAN v2 (Choi et al. 2020, "LPIPS"
column): translate each test input K times with different styles, average the LPIPS distance
over the K(K-1)/2 pairs of outputs, then over inputs. Higher is more diverse; 0 is a
deterministic (unimodal) translation. StarGAN v2 uses K = 10, hence the default.

The evaluator draws the K outputs with the seeds ``seed, seed + 1, ...`` (the translations
``ganzoo translate --samples K`` writes) and hands them to :meth:`Diversity.update_samples`.
LPIPS' backbone weights come from a local file exactly as for the ``lpips`` metric.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from ganzoo.errors import GanzooError
from ganzoo.metrics.paired import LPIPS, LPIPSConfig


class DiversityConfig(LPIPSConfig):
    samples: int = Field(10, ge=2, description="Outputs per input (StarGAN v2: 10); every pair of them is scored.")


class Diversity(LPIPS):
    """Mean pairwise LPIPS between ``samples`` translations of each input (higher is more diverse)."""

    Config = DiversityConfig
    key = "diversity"
    needs_pairs = False
    needs_target = False
    needs_samples: ClassVar[bool] = True
    higher_is_better: ClassVar[dict[str, bool]] = {"diversity": True}

    @property
    def num_samples(self) -> int:
        return self.config.samples

    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        """Single translations carry no diversity; the evaluator feeds :meth:`update_samples`."""

    @torch.no_grad()
    def update_samples(self, samples: Tensor) -> None:
        """``samples``: (K, N, C, H, W), K translations of each of N inputs, in [-1, 1]."""
        if samples.dim() != 5 or len(samples) < 2:
            raise GanzooError(f"diversity needs (K >= 2, N, C, H, W) samples, got {tuple(samples.shape)}")
        pairs = list(itertools.combinations(range(len(samples)), 2))
        a = torch.cat([samples[i] for i, _ in pairs]).float()
        b = torch.cat([samples[j] for _, j in pairs]).float()
        scores = super().per_image(a, b).view(len(pairs), -1).mean(0)  # per input, over its pairs
        self._sum += float(scores.double().sum())
        self._count += scores.numel()

    def protocol(self) -> dict[str, Any]:
        lpips = super().protocol()
        return {"diversity": f"mean LPIPS (lpips v0.1 {self.config.net}) over the pairs of {self.config.samples} "
                             "translations of each input (seeds seed..seed+K-1), then over inputs"
                             + (" RANDOM BACKBONE" if self.config.random_backbone else ""),
                **{k: v for k, v in lpips.items() if k != "lpips"}}


def draw_samples(translator: Any, x: Tensor, metric: Any, quantize: bool = True) -> Tensor:
    """(K, N, C, H, W): ``x`` translated with the seeds ``translator.seed + k``, k < ``metric.num_samples``,
    rounded to 8 bits as written files would be."""
    from ganzoo.data.images import quantize as to_8bit
    from ganzoo.multimodal import seeded_translators

    outs = [t(x).cpu() for t in seeded_translators(translator, metric.num_samples)]
    return torch.stack([to_8bit(o) if quantize else o for o in outs])
