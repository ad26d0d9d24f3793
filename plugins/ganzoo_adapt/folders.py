"""Folders of images with task labels, for domain adaptation on one's own data.

The layout is CycleGAN's with a labels folder beside each image folder (Cityscapes-style)::

    root/trainA/        root/trainA_labels/     source images and their PNG index masks (same stem)
    root/trainB/                                target images (labels, if any, only for the oracle)
    root/testB/         root/testB_labels/      target test images and masks: what is scored

Index masks hold one class index per pixel (mode L or P; 255 = unlabelled). Classification labels
come instead from ``<folder>_labels.csv`` (``filename,label`` rows, the label a class index) or
from class sub-folders (``trainA/<class>/*.png``, classes numbered in sorted order). A domain
without labels simply has none in its items; a method that needs them says so.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from torch import Tensor

import ganzoo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class LabelledFoldersConfig(ganzoo.DatasetConfig):
    root: Path = Field(description="Folder holding trainA, trainA_labels, trainB, testB, testB_labels, ...")
    image_size: int = Field(64, ge=8, description="Images are resized to this square side (masks by nearest pixel).")
    labels: Literal["mask", "label"] = Field(
        "mask", description="'mask': <folder>_labels/ index PNGs; 'label': <folder>_labels.csv or class sub-folders.")
    no_flip: bool = Field(False, description="No random horizontal flips (of image and mask together) in training.")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


class LabelledFolders(ganzoo.Dataset):
    """Unpaired source and target image folders with per-pixel or image labels (see the module doc).
    Item ``i`` is ``A[i]`` with ``B[i]`` (wrapping; a random B in training), carrying ``A_mask``/
    ``B_mask`` or ``A_label``/``B_label`` where the labels exist."""

    Config = LabelledFoldersConfig

    def __init__(self, config: LabelledFoldersConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        self.files = {d: _images(config.root / f"{split}{d}") for d in "AB"}
        self.targets = {d: self._targets(config.root / f"{split}{d}", self.files[d]) for d in "AB"}

    @classmethod
    def check_source(cls, config: LabelledFoldersConfig, split: str = "train") -> None:
        for d in "AB":
            folder = config.root / f"{split}{d}"
            if not folder.is_dir() or not _images(folder):
                raise ganzoo.DataError(f"labelled_folders: no images in {folder} (the layout: {split}A/, "
                                       f"{split}A_labels/, {split}B/, {split}B_labels/; docs/adaptation.md)")

    def _targets(self, folder: Path, files: list[Path]) -> list[Path | int] | None:
        labels = folder.parent / f"{folder.name}_labels"
        if self.config.labels == "mask":
            if not labels.is_dir():
                return None
            masks = {p.stem: p for p in labels.iterdir() if p.suffix.lower() == ".png"}
            missing = [f.name for f in files if f.stem not in masks]
            if missing:
                raise ganzoo.DataError(f"labelled_folders: {len(missing)} image(s) of {folder} have no mask in "
                                       f"{labels} (first: {missing[0]}; masks are PNGs of the same stem)")
            return [masks[f.stem] for f in files]
        table = labels.with_suffix(".csv")
        if table.is_file():
            with table.open(newline="") as fh:
                rows = {r[0]: int(r[1]) for r in csv.reader(fh) if len(r) >= 2 and r[1].strip().lstrip("-").isdigit()}
            missing = [f.name for f in files if f.name not in rows]
            if missing:
                raise ganzoo.DataError(f"labelled_folders: {table} gives no label for {len(missing)} image(s) "
                                       f"(first: {missing[0]})")
            return [rows[f.name] for f in files]
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        return [classes.index(f.relative_to(folder).parts[0]) for f in files] if classes else None

    def __len__(self) -> int:
        return max(len(self.files["A"]), len(self.files["B"]))

    def _load(self, domain: str, index: int, flip: bool) -> dict[str, Tensor]:
        size = self.config.image_size
        path = self.files[domain][index]
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32)
        image = torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1)
        out = {domain: image}
        target = self.targets[domain][index] if self.targets[domain] is not None else None
        if isinstance(target, Path):
            with Image.open(target) as img:
                mask = np.asarray(img.resize((size, size), Image.NEAREST), dtype=np.int64)
            out[f"{domain}_mask"] = torch.from_numpy(mask.copy())
        elif target is not None:
            out[f"{domain}_label"] = torch.tensor(target)
        if flip:
            out = {k: v.flip(-1) if v.dim() >= 2 else v for k, v in out.items()}  # image and mask together
        return {**out, f"{domain}_path": str(path)}

    def __getitem__(self, index: int) -> ganzoo.Batch:
        train = self.split == "train"
        n_b = len(self.files["B"])
        b = int(torch.randint(n_b, ())) if train else index % n_b
        flip = lambda: train and not self.config.no_flip and bool(torch.rand(()) < 0.5)  # noqa: E731
        return {**self._load("A", index % len(self.files["A"]), flip()), **self._load("B", b, flip())}
