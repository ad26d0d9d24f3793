"""A built-in two-domain data set drawn on the fly: nothing to download, nothing to store.

Every scene is a few random shapes. Domain A draws them flat, in warm colours, on a light
background; domain B draws the *same* shapes with hues rotated by 120 degrees (cool colours) on
a dark background, optionally with light outlines. The mapping is local (a per-pixel colour
change, no geometry), so a small CycleGAN picks up the colours and background within a few
hundred iterations on a CPU, yet it is far from the identity. A's hues span only part of the
colour wheel so the two domains' colours do not overlap: with hues drawn from the whole wheel,
a hue rotation would leave the colour distribution unchanged and unpaired training could not
tell the true mapping from the identity.

Training items pair the A view of one scene with the B view of another (the data carry no
pairing, as in real unpaired data); test items show both views of the same scene, so a
translation can be scored against its ground truth (PSNR, L1).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor

from ganzoo.components import Batch, Dataset, DatasetConfig
from ganzoo.config import ComponentConfig
from ganzoo.errors import DataError

ShapeKind = Literal["disc", "rect", "triangle"]
SHAPE_KINDS: tuple[str, ...] = ("disc", "rect", "triangle")

BACKGROUND_A = (0.92, 0.91, 0.86)
"""Light warm grey of domain A, in [0, 1]."""
BACKGROUND_B = (0.08, 0.09, 0.14)
"""Dark blue-grey of domain B, in [0, 1]."""
OUTLINE_B = (0.97, 0.97, 0.97)


class ProceduralConfig(DatasetConfig):
    image_size: int = Field(32, ge=8, le=1024, description="Side of the square images, in pixels.")
    train_size: int = Field(1000, ge=1, description="Number of items of the train split.")
    test_size: int = Field(64, ge=1, description="Number of items of the test split.")
    paired_train: bool = Field(
        False, description="Pair the train split too (B shows the same scene as A), for methods that train on "
        "aligned pairs (pix2pix); the test split is always paired.")
    seed: int = Field(0, description="Seed of the scenes; the same seed always gives the same images.")
    min_shapes: int = Field(2, ge=1, description="Fewest shapes in a scene.")
    max_shapes: int = Field(5, ge=1, le=32, description="Most shapes in a scene.")
    shapes: list[ShapeKind] = Field(
        default_factory=lambda: list(SHAPE_KINDS),
        min_length=1,
        description="Kinds of shape drawn: disc, rect (rotated rectangle), triangle.",
    )
    min_radius: float = Field(0.12, gt=0, le=1, description="Smallest shape radius, as a fraction of the side.")
    max_radius: float = Field(0.3, gt=0, le=1, description="Largest shape radius, as a fraction of the side.")
    hue_range: tuple[float, float] = Field(
        (-30.0, 70.0),
        description=(
            "Hues of domain A's shapes, in degrees (-30 crimson, 0 red, 60 yellow, 120 green). Keep it "
            "narrower than |hue_shift| so B's colours differ from A's; otherwise unpaired data cannot "
            "reveal the mapping."
        ),
    )
    hue_shift: float = Field(
        120.0,
        description="Degrees the hues of domain B are rotated by (120 = a cyclic RGB channel permutation).",
    )
    outline: int = Field(
        0,
        ge=0,
        description=(
            "Width in pixels of light outlines around domain B's shapes (0: none). Outlines make the "
            "styles more distinct but the translation slower to learn (edges must be invented)."
        ),
    )
    cache: bool = Field(
        False,
        description="Keep rendered items in memory (drawing one costs well under a millisecond at 32 px).",
    )
    task_labels: bool = Field(
        False,
        description="Add each view's task labels to the items, for domain adaptation (docs/adaptation.md): "
        "A_mask, B_mask (per-pixel class: 0 background, 1 + the shape kind's index in disc, rect, triangle) and "
        "A_label, B_label (multi-hot: which shape kinds the scene shows).",
    )

    @model_validator(mode="after")
    def _ranges(self) -> ProceduralConfig:
        if self.min_shapes > self.max_shapes:
            raise ValueError(f"min_shapes {self.min_shapes} is larger than max_shapes {self.max_shapes}")
        if not self.hue_range[0] <= self.hue_range[1] <= self.hue_range[0] + 360:
            raise ValueError(f"hue_range {self.hue_range} must be (low, high) with low <= high <= low + 360")
        if self.min_radius > self.max_radius:
            raise ValueError(f"min_radius {self.min_radius} is larger than max_radius {self.max_radius}")
        return self


_TRIANGLE_NORMALS = [(math.cos(2 * math.pi * j / 3), math.sin(2 * math.pi * j / 3)) for j in range(3)]


def scene_seed(seed: int, split: str, index: int) -> int:
    """A 63-bit seed for one scene: stable across processes and Python versions (``hash()``
    of a str is salted per process, so DataLoader workers would disagree)."""
    digest = hashlib.blake2b(f"ganzoo.procedural/{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] (hue wraps) -> RGB in [0, 1], stacked on a new last axis."""
    k = np.remainder(np.array([5.0, 3.0, 1.0]) + np.remainder(h, 1.0)[..., None] * 6.0, 6.0)
    return v[..., None] - (v * s)[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


@dataclass(frozen=True)
class Scene:
    """The shapes of one scene, back to front; coordinates are fractions of the image side.

    ``kind`` indexes :data:`SHAPE_KINDS`; ``radius`` is a disc's radius, a rectangle's half
    width (``aspect`` times it is its half height) and a triangle's circumradius. Arrays are
    numpy: at these sizes a numpy op costs a fraction of a torch op's dispatch.
    """

    kind: np.ndarray  # (n,) int
    center: np.ndarray  # (n, 2) x, y
    radius: np.ndarray  # (n,)
    aspect: np.ndarray  # (n,)
    angle: np.ndarray  # (n,) radians
    hue: np.ndarray  # (n,) in turns (1 = 360 degrees)
    saturation: np.ndarray  # (n,)
    value: np.ndarray  # (n,)

    @classmethod
    def sample(cls, config: ProceduralConfig, seed: int) -> Scene:
        """Draw a scene; ``seed`` alone fixes it (numpy's PCG64, identical on every platform)."""
        rng = np.random.default_rng(seed)
        n = int(rng.integers(config.min_shapes, config.max_shapes + 1))
        allowed = np.array([SHAPE_KINDS.index(k) for k in dict.fromkeys(config.shapes)])
        u = rng.random((n, 8), dtype=np.float32)
        return cls(
            kind=allowed[rng.integers(len(allowed), size=n)],
            center=0.15 + 0.7 * u[:, 0:2],
            radius=config.min_radius + (config.max_radius - config.min_radius) * u[:, 2],
            aspect=0.5 + 1.0 * u[:, 3],
            angle=math.pi * u[:, 4],
            hue=(config.hue_range[0] + (config.hue_range[1] - config.hue_range[0]) * u[:, 5]) / 360.0,
            saturation=0.6 + 0.4 * u[:, 6],
            value=0.6 + 0.4 * u[:, 7],
        )

    def __len__(self) -> int:
        return int(self.kind.size)

    def labels(self, size: int) -> np.ndarray:
        """(size, size) int map: the index of the front-most shape at each pixel, -1 for background."""
        if not len(self):
            return np.full((size, size), -1, dtype=np.int64)
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size
        dx = coords[None, None, :] - self.center[:, 0, None, None]
        dy = coords[None, :, None] - self.center[:, 1, None, None]
        r = self.radius[:, None, None]
        cos, sin = np.cos(self.angle)[:, None, None], np.sin(self.angle)[:, None, None]
        u, v = cos * dx + sin * dy, cos * dy - sin * dx  # coordinates in the shape's own frame

        disc = dx * dx + dy * dy <= r * r
        rect = np.maximum(np.abs(u), np.abs(v) / self.aspect[:, None, None]) <= r
        # An equilateral triangle is where all three edge half-planes agree: the projection on
        # each edge's outward normal is at most the inradius (r / 2).
        half = r / 2.0
        triangle = np.ones_like(disc)
        for nx, ny in _TRIANGLE_NORMALS:
            triangle &= u * nx + v * ny <= half
        kind = self.kind[:, None, None]
        inside = np.where(kind == 0, disc, np.where(kind == 1, rect, triangle))
        return np.where(inside, np.arange(len(self))[:, None, None], -1).max(axis=0)

    def colors(self, hue_shift: float = 0.0) -> np.ndarray:
        """(n, 3) RGB in [0, 1] of the shapes, hues rotated by ``hue_shift`` degrees."""
        return hsv_to_rgb(self.hue + hue_shift / 360.0, self.saturation, self.value)


def class_mask(scene: Scene, labels: np.ndarray) -> Tensor:
    """(size, size) int64 class map of a label map of ``scene`` (from :meth:`Scene.labels`): 0 for the
    background, 1 + the index in :data:`SHAPE_KINDS` of the front-most shape's kind elsewhere. The same
    in both domains: the styles change colours, never geometry (outlines colour shape pixels)."""
    table = np.concatenate([[0], scene.kind + 1]).astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(table[labels + 1]))


def kinds_present(mask: Tensor) -> Tensor:
    """Multi-hot float vector over :data:`SHAPE_KINDS`: which kinds are visible in a class mask."""
    return torch.stack([(mask == k + 1).any() for k in range(len(SHAPE_KINDS))]).float()


def outline_mask(labels: np.ndarray, width: int) -> np.ndarray:
    """Pixels of a shape with a different label within ``width`` px along its row or column;
    the image border is not an edge."""
    edge = np.zeros(labels.shape, dtype=bool)
    for i in range(1, width + 1):
        rows = labels[i:, :] != labels[:-i, :]
        cols = labels[:, i:] != labels[:, :-i]
        edge[i:, :] |= rows
        edge[:-i, :] |= rows
        edge[:, i:] |= cols
        edge[:, :-i] |= cols
    return edge & (labels >= 0)


def render_labels(
    scene: Scene, labels: np.ndarray, domain: str, *, hue_shift: float = 120.0, outline: int = 0
) -> Tensor:
    """Colour a label map of ``scene`` (from :meth:`Scene.labels`) in the style of ``domain``."""
    if domain == "A":
        palette, background = scene.colors(0.0), BACKGROUND_A
    elif domain == "B":
        palette, background = scene.colors(hue_shift), BACKGROUND_B
    else:
        raise ValueError(f"domain must be 'A' or 'B', got {domain!r}")
    # Row 0 of the lookup table is the background, so label -1 maps to it; [-1, 1] from here on.
    table = np.concatenate([np.array([background]), palette]).astype(np.float32) * 2.0 - 1.0
    if domain == "B" and outline > 0:
        table = np.concatenate([table, np.array([OUTLINE_B], dtype=np.float32) * 2.0 - 1.0])
        labels = np.where(outline_mask(labels, outline), len(table) - 2, labels)
    image = table.T[:, labels + 1]  # (3, size, size)
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


def render(scene: Scene, size: int, domain: str, *, hue_shift: float = 120.0, outline: int = 0) -> Tensor:
    """Draw ``scene`` in the style of ``domain`` ("A" or "B"): a (3, size, size) tensor in [-1, 1]."""
    return render_labels(scene, scene.labels(size), domain, hue_shift=hue_shift, outline=outline)


class ProceduralDataset(Dataset):
    """Random shapes in two styles: warm colours on light (A); hues rotated, on dark (B).

    Download-free and deterministic (seed, split and index fix an item). Train items are
    unpaired (B shows another scene, unless ``paired_train``); test items are paired, so translations can be scored
    against the ground truth. :meth:`ground_truth` gives the paired views of any item.
    """

    Config = ProceduralConfig

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: ProceduralConfig = config  # type: ignore[assignment]
        self.size = cfg.train_size if split == "train" else cfg.test_size
        self._partner: np.ndarray | None = None
        if not self.paired and self.size > 1:
            # One random cycle through all scenes: every scene shows up once in each domain,
            # and never opposite itself.
            order = np.random.default_rng(scene_seed(cfg.seed, f"{split}/pairing", 0)).permutation(self.size)
            self._partner = np.empty_like(order)
            self._partner[order] = np.roll(order, -1)
        self._cache: dict[int, Batch] = {}

    @property
    def paired(self) -> bool:
        return self.split != "train" or bool(self.config.paired_train)  # type: ignore[attr-defined]

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """Nothing to find on disk; only the split name can be wrong."""
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' of the procedural data set (splits: {', '.join(cls.splits)})")

    def __len__(self) -> int:
        return self.size

    def _index(self, index: int) -> int:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        return int(index) % self.size

    def scene(self, index: int) -> Scene:
        """Scene number ``index`` of this split (the one item ``index``'s A shows)."""
        cfg: ProceduralConfig = self.config  # type: ignore[assignment]
        return Scene.sample(cfg, scene_seed(cfg.seed, self.split, self._index(index)))

    def render(self, index: int, domain: str) -> Tensor:
        """Scene ``index`` drawn in the style of ``domain`` ("A" or "B")."""
        cfg: ProceduralConfig = self.config  # type: ignore[assignment]
        return render(self.scene(index), cfg.image_size, domain, hue_shift=cfg.hue_shift, outline=cfg.outline)

    def partner(self, index: int) -> int:
        """Index of the scene whose B view item ``index`` carries (``index`` itself when paired)."""
        index = self._index(index)
        return index if self._partner is None else int(self._partner[index])

    def ground_truth(self, index: int) -> Batch:
        """Both views of item ``index``'s A scene: the true translation, also of train items."""
        cfg: ProceduralConfig = self.config  # type: ignore[assignment]
        scene = self.scene(index)
        labels = scene.labels(cfg.image_size)
        style = dict(hue_shift=cfg.hue_shift, outline=cfg.outline)
        return {"A": render_labels(scene, labels, "A", **style), "B": render_labels(scene, labels, "B", **style)}

    def task_labels(self, index: int) -> Batch:
        """Item ``index``'s task labels: ``A_mask``/``B_mask`` (:func:`class_mask` of the scene each view
        shows) and ``A_label``/``B_label`` (:func:`kinds_present`)."""
        size = self.config.image_size  # type: ignore[attr-defined]
        out: Batch = {}
        for domain, scene_index in (("A", self._index(index)), ("B", self.partner(index))):
            scene = self.scene(scene_index)
            mask = class_mask(scene, scene.labels(size))
            out[f"{domain}_mask"], out[f"{domain}_label"] = mask, kinds_present(mask)
        return out

    def __getitem__(self, index: int) -> Batch:
        index = self._index(index)
        item = self._cache.get(index)
        if item is None:
            partner = self.partner(index)
            if partner == index:
                item = self.ground_truth(index)
            else:
                item = {"A": self.render(index, "A"), "B": self.render(partner, "B")}
            if self.config.task_labels:  # type: ignore[attr-defined]
                item.update(self.task_labels(index))
            if not self.config.cache:  # type: ignore[attr-defined]
                return item
            self._cache[index] = item
        # Copies, so a caller writing into a batch cannot change the cache.
        return {k: v.clone() for k, v in item.items()}
