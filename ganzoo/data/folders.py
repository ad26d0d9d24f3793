"""Unpaired image folders in the CycleGAN layout: ``root/trainA``, ``trainB``, ``testA``, ``testB``.

This is how horse2zebra, monet2photo, summer2winter and friends are distributed, so any of
them (or a user's own two folders of photos) trains without conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from pydantic import Field
from torch import Tensor

from ganzoo.components import Batch, Dataset
from ganzoo.config import ComponentConfig
from ganzoo.data.catalog import download_hint
from ganzoo.data.images import ImageList, folder_problem, list_images
from ganzoo.data.options import MODES, ImageOptions, full_view_stage
from ganzoo.data.skips import SkipRecord
from ganzoo.data.transforms import ImageTooSmallError, build_transform
from ganzoo.errors import DataError


class UnpairedFolderConfig(ImageOptions):
    root: Path = Field(
        description="Folder holding trainA, trainB, testA and testB (the CycleGAN layout).",
    )
    serial_batches: bool = Field(
        False,
        description="Pair A[i] with B[i] in order; by default B is drawn at random, so pairs change every epoch.",
    )


def _download_hint(root: Path) -> str:
    return download_hint(root, "unpaired")


class UnpairedFolderDataset(Dataset):
    """Two folders of unrelated images, one per domain, in the CycleGAN layout.

    Item ``i`` is ``A[i % len(A)]`` with a random ``B`` (or ``B[i % len(B)]`` with
    ``serial_batches`` and always on the test split, so evaluation is deterministic). The
    length is that of the larger domain. Items also carry ``A_path`` and ``B_path``.
    """

    Config = UnpairedFolderConfig

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: UnpairedFolderConfig = config  # type: ignore[assignment]
        self._skips = SkipRecord()
        folder_a, folder_b = self.folder(cfg, split, "A"), self.folder(cfg, split, "B")
        self.A = ImageList(list_images(folder_a, cfg.max_items), MODES[cfg.input_nc], f"{split}A", self._skips.add)
        self.B = ImageList(list_images(folder_b, cfg.max_items), MODES[cfg.output_nc], f"{split}B", self._skips.add)
        self._build_transforms(cfg.load_size)
        self.random_B = split == "train" and not cfg.serial_batches

    def _build_transforms(self, load_size: int) -> None:
        cfg: UnpairedFolderConfig = self.config  # type: ignore[assignment]
        common: dict[str, Any] = dict(
            preprocess=cfg.preprocess, load_size=load_size, crop_size=cfg.crop_size, train=self.split == "train",
            small_images=cfg.small_images,
        )
        self.transform_A = build_transform(**common, flip=not cfg.no_flip, channels=cfg.input_nc)
        self.transform_B = build_transform(**common, flip=not cfg.no_flip, channels=cfg.output_nc)

    def stages(self, total: int) -> dict[int, Callable[[], None]]:
        crop = self.config.crop_size  # type: ignore[attr-defined]
        return full_view_stage(self.config, self.split, total, lambda: self._build_transforms(crop))  # type: ignore[arg-type]

    @property
    def skipped(self) -> list[Path]:
        """Unreadable files skipped so far, by this process and its DataLoader workers."""
        return self._skips.paths()

    @staticmethod
    def folder(config: ComponentConfig, split: str, domain: str) -> Path:
        """Where the images of ``domain`` ("A" or "B") of ``split`` are: ``root/<split><domain>``."""
        return Path(config.root) / f"{split}{domain}"  # type: ignore[attr-defined]

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """Both folders of ``split`` must exist and hold images; every problem in one message."""
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' (splits: {', '.join(cls.splits)})")
        root = Path(config.root)  # type: ignore[attr-defined]
        hint = _download_hint(root)
        if not root.is_dir():
            raise DataError(f"data set root {root} does not exist (expected {split}A and {split}B in it) {hint}")
        problems = [folder_problem(cls.folder(config, split, d), f"domain {d} of split {split}") for d in ("A", "B")]
        problems = [p for p in problems if p]
        if problems:
            raise DataError("\n".join(problems) + f"\n{hint}")

    def __len__(self) -> int:
        return max(len(self.A), len(self.B))

    def __getitem__(self, index: int) -> Batch:
        img_a, path_a = self.A.load(index % len(self.A))
        # torch's RNG, not Python's: DataLoader seeds it differently in every worker.
        index_b = int(torch.randint(len(self.B), ())) if self.random_B else index % len(self.B)
        img_b, path_b = self.B.load(index_b)
        return {
            "A": _transformed(self.transform_A, img_a, path_a),
            "B": _transformed(self.transform_B, img_b, path_b),
            "A_path": str(path_a),
            "B_path": str(path_b),
        }


def _transformed(transform: Callable[[Image.Image], Tensor], img: Image.Image, path: Path) -> Tensor:
    """``transform(img)``, with the file named when the image is too small for the crop."""
    try:
        return transform(img)
    except ImageTooSmallError as exc:
        raise ImageTooSmallError(f"{path}: {exc}") from None
