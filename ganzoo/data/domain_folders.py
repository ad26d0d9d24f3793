"""Multi-domain image data: one folder per domain (AFHQ, StarGAN v2's layout), or a CelebA-style
attribute list with an image folder (StarGAN's layout).

- ``domain_folders``: ``ROOT/train/<domain>/*`` and ``ROOT/test/<domain>/*`` (or ``ROOT/val/``,
  as AFHQ ships it); items ``{"image", "domain", "path"}``, one label per image.
- ``celeba_attributes``: ``ROOT/list_attr_celeba.txt`` (a count line, the attribute names, then
  ``file v1 v2 ...`` with values 1/-1) and ``ROOT/images/``; items ``{"image", "attributes",
  "path"}`` with the selected attributes as 0/1 floats (several labels per image). The split is
  the reference's: lines shuffled with Python's ``random`` seeded 1234, the first 1999 for test.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor
from torchvision.transforms import v2

from ganzoo.components import Batch, Dataset
from ganzoo.config import ComponentConfig
from ganzoo.data.images import ImageList, folder_problem, list_images, open_image
from ganzoo.data.options import MODES, ImageOptions
from ganzoo.data.skips import SkipRecord
from ganzoo.data.transforms import build_transform
from ganzoo.errors import DataError, did_you_mean

# ------------------------------------------------------------------ one folder per domain


class DomainFoldersConfig(ImageOptions):
    root: Path = Field(description="Folder holding train/<domain>/ and test/<domain>/ (or val/<domain>/).")
    domains: list[str] = Field(
        default_factory=list, description="Domains (sub-folders of train/) in label order; empty: every "
        "sub-folder of train/, sorted by name.")
    test_folder: Literal["auto", "test", "val"] = Field(
        "auto", description="Folder of the test split: test/, val/ (AFHQ), or auto: test/ if it exists, else val/.")
    references: bool = Field(
        False, description="Train items also carry 'ref' and 'ref2': two other images of a random domain "
        "'ref_domain' (StarGAN v2's reference-guided training).")


class DomainFoldersDataset(Dataset):
    """Images in one folder per domain; item ``i`` of the split is the ``i``-th image of all
    domains' images listed domain by domain, labelled with its domain's index."""

    task = "multi-domain"

    Config = DomainFoldersConfig
    label_kind = "domain"

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: DomainFoldersConfig = config  # type: ignore[assignment]
        self.domains = self.domain_names(cfg)
        self._skips = SkipRecord()
        folder = self.split_folder(cfg, split)
        self.lists = [ImageList(list_images(folder / d, cfg.max_items), MODES[cfg.input_nc], f"{split}/{d}",
                                self._skips.add) for d in self.domains]
        self.index = [(d, i) for d, images in enumerate(self.lists) for i in range(len(images))]
        self.transform = build_transform(cfg.preprocess, cfg.load_size, cfg.crop_size, train=split == "train",
                                         flip=not cfg.no_flip, channels=cfg.input_nc, small_images=cfg.small_images)

    @staticmethod
    def split_folder(config: ComponentConfig, split: str) -> Path:
        root, choice = Path(config.root), config.test_folder  # type: ignore[attr-defined]
        if split == "train":
            return root / "train"
        if choice == "auto":
            return root / "test" if (root / "test").is_dir() or not (root / "val").is_dir() else root / "val"
        return root / choice

    @classmethod
    def domain_names(cls, config: ComponentConfig) -> list[str]:
        train = Path(config.root) / "train"  # type: ignore[attr-defined]
        if not train.is_dir():
            raise DataError(f"{train} does not exist (expected one folder per domain in it: train/<domain>/)")
        found = sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))
        asked = list(config.domains)  # type: ignore[attr-defined]
        missing = [d for d in asked if d not in found]
        if missing:
            raise DataError(f"data.domains: no folder {', '.join(str(train / d) for d in missing)} "
                            f"(found: {', '.join(found) or 'none'})")
        names = asked or found
        if len(names) < 2:
            raise DataError(f"{train} has {len(names)} domain folder(s) ({', '.join(names) or 'none'}); a "
                            "multi-domain data set needs at least 2 (train/<domain>/ per domain)")
        return names

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' (splits: {', '.join(cls.splits)})")
        root = Path(config.root)  # type: ignore[attr-defined]
        if not root.is_dir():
            raise DataError(f"data set root {root} does not exist (expected train/<domain>/ and test/<domain>/ or "
                            "val/<domain>/ in it, the AFHQ layout; StarGAN v2's download.sh afhq-dataset gets AFHQ)")
        names = cls.domain_names(config)
        folder = cls.split_folder(config, split)
        problems = [p for d in names if (p := folder_problem(folder / d, f"domain {d} of split {split}"))]
        if problems:
            raise DataError("\n".join(problems))

    @property
    def skipped(self) -> list[Path]:
        return self._skips.paths()

    def __len__(self) -> int:
        return len(self.index)

    def _load(self, domain: int, i: int) -> tuple[Tensor, Path]:
        img, path = self.lists[domain].load(i)
        return self.transform(img), path

    def __getitem__(self, index: int) -> Batch:
        domain, i = self.index[index]
        image, path = self._load(domain, i)
        item: Batch = {"image": image, "domain": torch.tensor(domain, dtype=torch.long), "path": str(path)}
        if self.split == "train" and self.config.references:  # type: ignore[attr-defined]
            ref_domain = int(torch.randint(len(self.domains), ()))  # torch's RNG: seeded per worker
            n = len(self.lists[ref_domain])
            first = int(torch.randint(n, ()))
            second = (first + 1 + int(torch.randint(n - 1, ()))) % n if n > 1 else first
            item.update(ref=self._load(ref_domain, first)[0], ref2=self._load(ref_domain, second)[0],
                        ref_domain=torch.tensor(ref_domain, dtype=torch.long))
        return item


# ------------------------------------------------------------------ CelebA attribute list

CELEBA_ATTRIBUTES = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
"""StarGAN's default selection (yunjey/stargan ``--selected_attrs``)."""
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
"""Attributes of which an image has one: StarGAN's sample targets set one and clear the others."""

CELEBA_PREPARE = (
    "CelebA is not downloaded by ganzoo. Get img_align_celeba.zip and list_attr_celeba.txt from "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (or run StarGAN's `bash download.sh celeba`, which "
    "writes data/celeba/images/ and data/celeba/list_attr_celeba.txt), then set data.root to the folder holding "
    "list_attr_celeba.txt and images/ (the aligned JPEGs)")


class CelebAAttributesConfig(ComponentConfig):
    root: Path = Field(description="Folder holding the attribute list and the image folder.")
    attr_file: str = Field("list_attr_celeba.txt", description="The attribute list, relative to root.")
    image_dir: str = Field("images", description="The image folder, relative to root.")
    attributes: list[str] = Field(
        default_factory=lambda: list(CELEBA_ATTRIBUTES), min_length=1,
        description="Selected attributes, in label order (StarGAN: Black_Hair Blond_Hair Brown_Hair Male Young).")
    crop_size: int = Field(178, gt=0, description="Centre crop of the 178x218 aligned faces (reference 178).")
    image_size: int = Field(128, gt=0, description="Side after resizing the crop (reference 128).")
    test_items: int = Field(1999, ge=0, description="Lines (after the seeded shuffle) kept for test (reference: 1999).")
    shuffle_seed: int = Field(1234, description="Seed of Python's random.shuffle of the lines (reference 1234).")
    max_items: int | None = Field(None, ge=1, description="Use at most this many items of a split.")
    no_flip: bool = Field(False, description="Do not flip training images horizontally at random.")


def read_attributes(path: Path, selected: list[str]) -> tuple[list[str], list[list[float]]]:
    """File names and 0/1 labels of ``selected`` from a CelebA attribute list (in file order)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a line of attribute names, then one line per image")
    names = lines[1].split()
    missing = [a for a in selected if a not in names]
    if missing:
        raise DataError(f"{path} has no attribute {', '.join(missing)}{did_you_mean(missing[0], names)} "
                        f"(it has: {' '.join(names)})")
    columns = [names.index(a) for a in selected]
    files, labels = [], []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1 or any(v not in ("1", "-1", "0") for v in fields[1:]):
            raise DataError(f"{path}, line {number}: expected a file name and {len(names)} values of 1 or -1")
        files.append(fields[0])
        labels.append([1.0 if fields[1 + c] == "1" else 0.0 for c in columns])
    return files, labels


class CelebAAttributesDataset(Dataset):
    """Faces with several binary attributes each (CelebA, as StarGAN trains on it)."""

    task = "multi-domain"

    Config = CelebAAttributesConfig
    label_kind = "attributes"

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: CelebAAttributesConfig = config  # type: ignore[assignment]
        self.domains = list(cfg.attributes)
        files, labels = read_attributes(Path(cfg.root) / cfg.attr_file, self.domains)
        order = list(range(len(files)))
        random.Random(cfg.shuffle_seed).shuffle(order)  # the reference: random.seed(1234); random.shuffle(lines)
        order = order[:cfg.test_items] if split == "test" else order[cfg.test_items:]
        order = order[:cfg.max_items] if cfg.max_items else order
        self.files = [Path(cfg.root) / cfg.image_dir / files[i] for i in order]
        self.labels = torch.tensor([labels[i] for i in order], dtype=torch.float32).reshape(len(order), -1)
        steps: list = [v2.CenterCrop(cfg.crop_size), v2.Resize(cfg.image_size)]
        if split == "train" and not cfg.no_flip:
            steps.append(v2.RandomHorizontalFlip())
        self.transform = v2.Compose([*steps, v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                                     v2.Normalize([0.5] * 3, [0.5] * 3)])

    @classmethod
    def domain_names(cls, config: ComponentConfig) -> list[str]:
        return list(config.attributes)  # type: ignore[attr-defined]

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        if split not in cls.splits:
            raise DataError(f"unknown split '{split}' (splits: {', '.join(cls.splits)})")
        cfg: CelebAAttributesConfig = config  # type: ignore[assignment]
        root = Path(cfg.root)
        problems = [f"{p} does not exist" for p in (root / cfg.attr_file, root / cfg.image_dir) if not p.exists()]
        if problems:
            raise DataError(f"{'; '.join(problems)}. {CELEBA_PREPARE}")
        if split == "test" and cfg.test_items == 0:
            raise DataError("data.test_items is 0: no test split")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Batch:
        path = self.files[index]
        try:
            image = open_image(path, "RGB")
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc}); listed in {self.config.attr_file}") from None  # type: ignore[attr-defined]
        return {"image": self.transform(image), "attributes": self.labels[index].clone(), "path": str(path)}
