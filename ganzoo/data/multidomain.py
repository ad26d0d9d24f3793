"""A built-in multi-domain data set: the procedural scenes of :mod:`ganzoo.data.procedural`,
each drawable in K >= 3 styles, so every test image has its ground truth in every domain.

A style is a rotation of the shapes' hues plus a background colour: ``warm`` is the two-domain
set's A, ``cool`` its B (hues +120 degrees, dark), ``violet`` rotates by 240 degrees on a mid
grey, ``pastel`` by 60 degrees at low saturation on pale blue. The scenes' hues span 100 degrees
(``hue_range``), so the 120-degree rotations never overlap and unpaired training cannot take one
domain for another; ``pastel`` overlaps ``warm``'s hues but not its saturation or background.

Train items are one scene in one domain (item ``i`` shows scene ``i`` in domain ``i mod K``),
labelled; with ``references`` they also carry two other scenes in a random domain (StarGAN v2's
reference images). Test items add ``targets``: the same scene in every domain, so a translation
into domain ``t`` is scored against its ground truth (per-domain-pair PSNR).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import Tensor

from ganzoo.components import Batch, Dataset
from ganzoo.config import ComponentConfig
from ganzoo.data.procedural import ProceduralConfig, Scene, hsv_to_rgb, scene_seed
from ganzoo.errors import DataError

STYLES: dict[str, tuple[float, float, tuple[float, float, float]]] = {
    "warm": (0.0, 1.0, (0.92, 0.91, 0.86)),
    "cool": (120.0, 1.0, (0.08, 0.09, 0.14)),
    "violet": (240.0, 1.0, (0.45, 0.45, 0.42)),
    "pastel": (60.0, 0.35, (0.80, 0.88, 0.96)),
}
"""Style name -> (hue rotation in degrees, saturation factor, background RGB in [0, 1])."""


class MultiDomainProceduralConfig(ProceduralConfig):
    domains: list[str] = Field(
        default_factory=lambda: ["warm", "cool", "violet"], min_length=2,
        description=f"The styles, in label order (choose from {', '.join(STYLES)}).")
    references: bool = Field(
        False, description="Train items also carry 'ref' and 'ref2': two other scenes in a random domain "
        "'ref_domain' (StarGAN v2's reference-guided training).")

    @field_validator("domains")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in STYLES]
        if unknown:
            raise ValueError(f"unknown style(s) {', '.join(unknown)}; choose from {', '.join(STYLES)}")
        if len(set(value)) != len(value):
            raise ValueError(f"a style is listed twice: {value}")
        return value


def render_style(scene: Scene, labels: np.ndarray, style: str) -> Tensor:
    """A label map of ``scene`` coloured in ``style`` (a key of :data:`STYLES`): (3, H, W) in [-1, 1]."""
    shift, saturation, background = STYLES[style]
    palette = hsv_to_rgb(scene.hue + shift / 360.0, scene.saturation * saturation, scene.value)
    table = np.concatenate([np.array([background]), palette]).astype(np.float32) * 2.0 - 1.0
    return torch.from_numpy(np.ascontiguousarray(table.T[:, labels + 1], dtype=np.float32))


class MultiDomainProceduralDataset(Dataset):
    """Random shapes in K styles; labelled items ``{"image", "domain"}``, test items with
    ``targets`` (K, 3, H, W), the same scene in every domain. Download-free and deterministic."""

    task = "multi-domain"

    Config = MultiDomainProceduralConfig
    label_kind = "domain"

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: MultiDomainProceduralConfig = config  # type: ignore[assignment]
        self.domains = list(cfg.domains)
        self.size = cfg.train_size if split == "train" else cfg.test_size

    @property
    def paired(self) -> bool:
        """Test items carry the ground truth in every domain."""
        return self.split != "train"

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' of the multi-domain procedural data set "
                            f"(splits: {', '.join(cls.splits)})")

    @classmethod
    def domain_names(cls, config: ComponentConfig) -> list[str]:
        return list(config.domains)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self.size

    def domain_of(self, index: int) -> int:
        """The domain item ``index`` shows: every K-th item is in the same domain."""
        return int(index) % len(self.domains)

    def scene(self, index: int, split: str | None = None) -> Scene:
        cfg: MultiDomainProceduralConfig = self.config  # type: ignore[assignment]
        return Scene.sample(cfg, scene_seed(cfg.seed, f"multidomain/{split or self.split}", int(index)))

    def render(self, index: int, domain: int) -> Tensor:
        """Scene ``index`` of this split drawn in domain number ``domain``."""
        scene = self.scene(index)
        return render_style(scene, scene.labels(self.config.image_size), self.domains[domain])  # type: ignore[attr-defined]

    def ground_truth(self, index: int) -> Tensor:
        """Scene ``index`` in every domain: (K, 3, H, W)."""
        scene = self.scene(index)
        labels = scene.labels(self.config.image_size)  # type: ignore[attr-defined]
        return torch.stack([render_style(scene, labels, d) for d in self.domains])

    def __getitem__(self, index: int) -> Batch:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        index = int(index) % self.size
        domain = self.domain_of(index)
        item: Batch = {"domain": torch.tensor(domain, dtype=torch.long)}
        if self.split != "train":
            item["targets"] = self.ground_truth(index)
            item["image"] = item["targets"][domain].clone()
            return item
        item["image"] = self.render(index, domain)
        if self.config.references:  # type: ignore[attr-defined]
            # torch's generator: DataLoader seeds it per worker, and a resumed run restores it.
            ref_domain = int(torch.randint(len(self.domains), ()))
            first = int(torch.randint(self.size, ()))
            second = (first + 1 + int(torch.randint(self.size - 1, ()))) % self.size if self.size > 1 else first
            item.update(ref=self.render(first, ref_domain), ref2=self.render(second, ref_domain),
                        ref_domain=torch.tensor(ref_domain, dtype=torch.long))
        return item
