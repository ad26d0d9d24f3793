"""Built-in super-resolution data: procedural scenes drawn at high resolution, no download.

The scenes are :mod:`ganzoo.data.procedural`'s random shapes (same sampling and label maps),
drawn for SR rather than for style transfer: every shape carries a stripe texture of its own
period (a few HR pixels) and direction, shapes have thin dark outlines, the background has a
faint grid, and edges are anti-aliased (drawn at 2x and averaged). Bicubic down-sampling by 4
blurs the outlines and thins the textures out to a flat tint, so there is detail to recover,
and its statistics (straight edges, periodic textures) can be learnt in CPU minutes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ganzoo.components import Batch, Dataset
from ganzoo.config import ComponentConfig
from ganzoo.data.procedural import ProceduralConfig, Scene, outline_mask, scene_seed
from ganzoo.data.sr import SRDataConfig, SRPairMaker
from ganzoo.errors import DataError


class SRProceduralConfig(SRDataConfig):
    image_size: int = Field(64, ge=8, le=2048, description="Side of the HR images, in pixels.")
    gt_size: int = Field(32, gt=0, description="Side of the training HR crops.")
    train_size: int = Field(1000, ge=1, description="Items of the train split.")
    test_size: int = Field(32, ge=1, description="Items of the test split.")
    min_shapes: int = Field(3, ge=1, description="Fewest shapes in a scene.")
    max_shapes: int = Field(7, ge=1, description="Most shapes in a scene.")
    period: tuple[float, float] = Field((3.0, 8.0), description="Range of the stripe periods, in HR pixels.")
    texture: float = Field(0.35, ge=0, le=1, description="Contrast of the stripes (0: flat shapes).")
    outline: int = Field(1, ge=0, description="Width of the dark outlines in HR pixels (0: none).")


def render_sr_scene(cfg: SRProceduralConfig, seed: int) -> Tensor:
    """One HR image (3, S, S) in [-1, 1], fixed by ``seed``."""
    shapes = ProceduralConfig(min_shapes=cfg.min_shapes, max_shapes=cfg.max_shapes, hue_range=(0.0, 360.0),
                              min_radius=0.1, max_radius=0.3)
    scene = Scene.sample(shapes, seed)
    rng = np.random.default_rng(seed ^ 0x5EED)
    n, size = len(scene), cfg.image_size * 2  # drawn at 2x, averaged down: anti-aliased edges
    labels = scene.labels(size)
    period = rng.uniform(*cfg.period, size=n + 1) * 2
    angle = rng.uniform(0, np.pi, size=n + 1)
    coords = np.arange(size, dtype=np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    palette = np.concatenate([rng.uniform(0.55, 0.8, size=(1, 3)), scene.colors()]).astype(np.float32)
    index = labels + 1  # 0: background
    phase = (xx * np.cos(angle)[index] + yy * np.sin(angle)[index]) / period[index]
    stripes = np.tanh(4 * np.sin(2 * np.pi * phase))  # soft square wave
    contrast = np.where(index == 0, cfg.texture * 0.3, cfg.texture)
    image = palette[index] * (1 + contrast[..., None] * 0.5 * stripes[..., None])
    if cfg.outline:
        edges = outline_mask(labels, cfg.outline * 2) | outline_mask(np.where(labels < 0, n, labels), cfg.outline * 2)
        image = np.where(edges[..., None], 0.08, image)
    hr = torch.from_numpy(np.ascontiguousarray(image.clip(0, 1), dtype=np.float32)).permute(2, 0, 1)
    return F.avg_pool2d(hr[None], 2)[0] * 2 - 1


class SRProceduralDataset(Dataset):
    """Textured procedural scenes as (LR, HR) pairs, made by the configured degradation."""

    task = "super-resolution"

    Config = SRProceduralConfig

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: SRProceduralConfig = config  # type: ignore[assignment]
        self.size = cfg.train_size if split == "train" else cfg.test_size
        self.make = SRPairMaker(cfg, split)

    @property
    def paired(self) -> bool:
        return True

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' of sr_procedural (splits: {', '.join(cls.splits)})")
        c: SRProceduralConfig = config  # type: ignore[assignment]
        if c.image_size % c.scale or c.image_size < c.gt_size:
            raise DataError(f"sr_procedural: image_size {c.image_size} must be a multiple of scale {c.scale} and at "
                            f"least gt_size {c.gt_size}")

    def __len__(self) -> int:
        return self.size

    def hr(self, index: int) -> Tensor:
        cfg: SRProceduralConfig = self.config  # type: ignore[assignment]
        return render_sr_scene(cfg, scene_seed(cfg.seed, f"sr/{self.split}", index))

    def __getitem__(self, index: int) -> Batch:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        return self.make(self.hr(index), index)
