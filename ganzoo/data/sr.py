"""Super-resolution data: (LR, HR) pairs, with LR made on the fly or read from a folder.

Items are ``{"A": LR, "B": HR}`` (CHW in [-1, 1]; HR is ``scale`` times larger), so every
paired method, the evaluator and ``ganzoo translate`` see SR as one more A -> B translation.

- ``sr_folders``: any folder of HR images. LR comes from a registered degradation
  (:mod:`ganzoo.data.degradations`: ``bicubic``, the benchmarks' choice, or Real-ESRGAN's
  ``realesrgan``), or from an LR folder whose files match the HR files by name (DIV2K's
  ``DIV2K_train_HR/0001.png`` and ``DIV2K_train_LR_bicubic/X4/0001x4.png``).
- ``sr_procedural`` (:mod:`ganzoo.data.sr_procedural`): built-in scenes with fine texture.

Training items are random HR crops of ``gt_size`` px (on the scale grid, so the LR crop is the
exact matching region) with random flips and 90-degree rotations (BasicSR's ``use_hflip`` and
``use_rot``); test items are whole images, HR cropped to a multiple of the scale (BasicSR's
``mod_crop``). A training LR image is degraded with a seed drawn from torch's generator (which
the DataLoader seeds per worker from the run's seed); a test image's seed is its index, so
evaluation always sees the same LR images.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import Tensor

from ganzoo.components import Batch, Dataset, DatasetConfig
from ganzoo.config import ComponentConfig
from ganzoo.data.degradations import DEGRADATIONS, get_degradation
from ganzoo.data.images import list_images, open_image, require_images
from ganzoo.data.transforms import to_tensor
from ganzoo.errors import DataError


class SRDataConfig(DatasetConfig):
    scale: int = Field(4, description="Up-scaling factor: HR sides are this many times the LR sides.")
    gt_size: int = Field(128, gt=0, description="Side of the training HR crops (ESRGAN's GT size 128); the LR crop "
                         "is gt_size / scale.")
    degradation: str = Field("bicubic", description="How LR is made from HR when no LR folder is given: bicubic "
                             "(benchmarks) or realesrgan (second-order blur, resize, noise, JPEG).")
    use_flip: bool = Field(True, description="Random horizontal flips of training pairs.")
    use_rot: bool = Field(True, description="Random vertical flips and 90-degree rotations of training pairs.")
    seed: int = Field(0, description="Seed of the test split's degradations.")

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: int) -> int:
        if value not in (2, 3, 4, 8):
            raise ValueError(f"scale must be 2, 3, 4 or 8, got {value}")
        return value

    @field_validator("degradation")
    @classmethod
    def _degradation(cls, value: str) -> str:
        if value not in DEGRADATIONS:
            raise ValueError(f"unknown degradation '{value}' (known: {', '.join(sorted(DEGRADATIONS))})")
        return value


def item_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """A generator fixed by (seed, split, index), the same in every process."""
    digest = hashlib.blake2b(f"ganzoo.sr/{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def mod_crop(hr: Tensor, scale: int) -> Tensor:
    """HR cropped (bottom, right) to sides that are multiples of ``scale``."""
    h, w = hr.shape[-2:]
    return hr[..., : h - h % scale, : w - w % scale]


def augment_pair(lr: Tensor, hr: Tensor, flip: bool, rot: bool) -> tuple[Tensor, Tensor]:
    """The same random flips and transpose for LR and HR (torch's generator)."""
    if flip and bool(torch.rand(()) < 0.5):
        lr, hr = lr.flip(-1), hr.flip(-1)
    if rot:
        if bool(torch.rand(()) < 0.5):
            lr, hr = lr.flip(-2), hr.flip(-2)
        if bool(torch.rand(()) < 0.5):
            lr, hr = lr.transpose(-1, -2), hr.transpose(-1, -2)
    return lr.contiguous(), hr.contiguous()


class SRPairMaker:
    """Turns an HR image (and optionally its LR file) into a training or test item."""

    def __init__(self, config: SRDataConfig, split: str):
        self.config, self.split, self.train = config, split, split == "train"
        self.degrade = get_degradation(config.degradation)
        if self.train and config.gt_size % config.scale:
            raise DataError(f"data.gt_size {config.gt_size} is not a multiple of data.scale {config.scale}")

    def __call__(self, hr: Tensor, index: int, lr: Tensor | None = None) -> Batch:
        c, s = self.config, self.config.scale
        hr = mod_crop(hr, s)
        if lr is not None and tuple(lr.shape[-2:]) != (hr.shape[-2] // s, hr.shape[-1] // s):
            raise DataError(f"item {index}: LR {tuple(lr.shape[-2:])} is not HR {tuple(hr.shape[-2:])} / {s}")
        if self.train:
            h, w = hr.shape[-2:]
            if min(h, w) < c.gt_size:
                raise DataError(f"item {index}: HR image of {w}x{h} px is smaller than data.gt_size {c.gt_size}")
            top = int(torch.randint((h - c.gt_size) // s + 1, ())) * s
            left = int(torch.randint((w - c.gt_size) // s + 1, ())) * s
            hr = hr[:, top: top + c.gt_size, left: left + c.gt_size]
            if lr is not None:
                lr = lr[:, top // s: (top + c.gt_size) // s, left // s: (left + c.gt_size) // s]
            rng = np.random.default_rng(int(torch.randint(1 << 62, ())))
        else:
            rng = item_rng(c.seed, self.split, index)
        if lr is None:
            lr = self.degrade(hr, s, rng)
        if self.train:
            lr, hr = augment_pair(lr, hr, c.use_flip, c.use_rot)
        return {"A": lr.float(), "B": hr.float()}


class SRFoldersConfig(SRDataConfig):
    hr: Path = Field(description="Folder of training HR images (e.g. DIV2K/DIV2K_train_HR).")
    lr: Path | None = Field(None, description="Folder of training LR images matched by name (e.g. "
                            "DIV2K/DIV2K_train_LR_bicubic/X4, files 0001x4.png); unset: made by `degradation`.")
    test_hr: Path | None = Field(None, description="Folder of test HR images (e.g. DIV2K_valid_HR, Set5/HR).")
    test_lr: Path | None = Field(None, description="Folder of test LR images matched by name; unset: degradation.")


_SCALE_SUFFIX = re.compile(r"x\d+$", re.IGNORECASE)


def match_lr(hr_files: list[Path], lr_folder: Path) -> list[Path]:
    """The LR file of each HR file: same stem, or the stem with DIV2K's ``x4`` suffix."""
    by_stem = {_SCALE_SUFFIX.sub("", f.stem): f for f in list_images(lr_folder)}
    missing = [f.name for f in hr_files if f.stem not in by_stem]
    if missing:
        raise DataError(f"{lr_folder}: no LR image for {len(missing)} HR image(s), e.g. {missing[0]} (LR files are "
                        "matched by name, with or without an x<scale> suffix: 0001.png <-> 0001x4.png)")
    return [by_stem[f.stem] for f in hr_files]


class SRFoldersDataset(Dataset):
    """HR images from a folder; LR from a degradation or a matching LR folder."""

    task = "super-resolution"

    Config = SRFoldersConfig

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: SRFoldersConfig = config  # type: ignore[assignment]
        hr, lr = self.folders(cfg, split)
        self.hr_files = list_images(hr)  # type: ignore[arg-type]
        self.lr_files = match_lr(self.hr_files, lr) if lr is not None else None
        self.make = SRPairMaker(cfg, split)

    @staticmethod
    def folders(cfg: SRFoldersConfig, split: str) -> tuple[Path | None, Path | None]:
        return (cfg.hr, cfg.lr) if split == "train" else (cfg.test_hr, cfg.test_lr)

    @property
    def paired(self) -> bool:
        return True

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' (splits: {', '.join(cls.splits)})")
        hr, lr = cls.folders(config, split)  # type: ignore[arg-type]
        if hr is None:
            raise DataError("no test HR folder (data.test_hr)")
        from ganzoo.data.catalog import sr_hint

        require_images(hr, f"{split} HR images", hint=sr_hint(hr))
        if lr is not None:
            require_images(lr, f"{split} LR images", hint=sr_hint(lr))

    def __len__(self) -> int:
        return len(self.hr_files)

    def __getitem__(self, index: int) -> Batch:
        hr_path = self.hr_files[index]
        hr = to_tensor(open_image(hr_path))
        lr = to_tensor(open_image(self.lr_files[index])) if self.lr_files is not None else None
        item = self.make(hr, index, lr)
        return {**item, "B_path": str(hr_path), "A_path": str(self.lr_files[index]) if self.lr_files else
                f"{hr_path}#{self.config.degradation}x{self.config.scale}"}  # type: ignore[attr-defined]
