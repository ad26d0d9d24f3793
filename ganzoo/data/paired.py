"""Paired (aligned) data: every A image has its B counterpart showing the same content.

Two layouts are read: pix2pix's side-by-side AB files (``aligned``: one file holds A on the
left half and B on the right, in ``root/train``, ``root/val``, ``root/test``), and two folders
whose files are matched by name (``paired_folders``: ``trainA/0001.png`` goes with
``trainB/0001.jpg``). Pairs must stay pixel-aligned through preprocessing, so one random crop
and one flip are drawn per item and applied to both images (:class:`PairedTransform`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from pydantic import Field
from torch import Tensor

from ganzoo.components import Batch, Dataset
from ganzoo.config import ComponentConfig
from ganzoo.data.catalog import download_hint
from ganzoo.data.images import READ_ERRORS, DataWarning, ImageList, folder_problem, list_images, open_image
from ganzoo.data.options import MODES, ImageOptions, full_view_stage
from ganzoo.data.skips import SkipRecord
from ganzoo.data.transforms import (
    PREPROCESS_CHOICES,
    EnsureMinSize,
    ImageTooSmallError,
    MakeMultiple,
    eval_load_size,
    scale_step,
    to_tensor,
)
from ganzoo.errors import DataError

_BICUBIC = Image.Resampling.BICUBIC


class PairedTransform:
    """Preprocess an (A, B) pair of PIL images identically: same resize, crop window and flip.

    Semantics match :func:`ganzoo.data.transforms.build_transform` (and the reference's
    ``get_params``/``get_transform`` used by its aligned dataset). If the two images differ in
    size after the resize step (two folders of unequal resolution), B is resized to A's size
    first, since pixel-aligned pairs must share one grid. Random draws use torch's generator,
    which DataLoader seeds per worker.
    """

    def __init__(
        self,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        *,
        train: bool = True,
        flip: bool = True,
        small_images: str = "resize",
    ):
        if preprocess not in PREPROCESS_CHOICES:
            raise ValueError(f"unknown preprocess '{preprocess}' (choose from {', '.join(PREPROCESS_CHOICES)})")
        load_size = eval_load_size(load_size, crop_size, train)
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.train, self.flip = train, flip
        self.crop = preprocess.endswith("crop")
        self.ensure = EnsureMinSize(crop_size, small_images)
        self.scale = scale_step(preprocess, load_size, crop_size)

    def _resize(self, img: Image.Image) -> Image.Image:
        if self.preprocess == "resize_and_crop":
            size = (self.load_size, self.load_size)
            return img if img.size == size else img.resize(size, _BICUBIC)
        return img if self.scale is None else self.scale(img)

    def crop_box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the crop in an image of ``size`` (w, h): random when
        training, centred otherwise (as torchvision's CenterCrop rounds)."""
        w, h = size
        c = self.crop_size
        if self.train:
            left = int(torch.randint(w - c + 1, ()))
            top = int(torch.randint(h - c + 1, ()))
        else:
            left, top = int(round((w - c) / 2.0)), int(round((h - c) / 2.0))
        return left, top, left + c, top + c

    def __call__(self, a: Image.Image, b: Image.Image) -> tuple[Tensor, Tensor]:
        a, b = self._resize(a), self._resize(b)
        if b.size != a.size:
            b = b.resize(a.size, _BICUBIC)
        if self.crop:
            a, b = self.ensure(a), self.ensure(b)
            box = self.crop_box(a.size)
            a, b = a.crop(box), b.crop(box)
        if self.preprocess == "none":
            a, b = MakeMultiple(4)(a), MakeMultiple(4)(b)
        if self.train and self.flip and bool(torch.rand(()) < 0.5):
            a, b = a.transpose(Image.Transpose.FLIP_LEFT_RIGHT), b.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(a), to_tensor(b)


def _check_split(cls: type[Dataset], split: str) -> None:
    if split not in cls.splits:
        raise DataError(f"unknown split '{split}' (splits: {', '.join(cls.splits)})")


# ---------------------------------------------------------------- aligned AB files


def paired_transform(cfg: ImageOptions, split: str, load_size: int) -> PairedTransform:
    return PairedTransform(cfg.preprocess, load_size, cfg.crop_size, train=split == "train", flip=not cfg.no_flip,
                           small_images=cfg.small_images)


class AlignedConfig(ImageOptions):
    root: Path = Field(
        description="Folder holding train/, test/ (and val/) of AB images: A on the left half, B on the right.",
    )
    direction: Literal["AtoB", "BtoA"] = Field(
        "AtoB",
        description="AtoB: the left half is A (the input); BtoA: the right half is (facades, as the reference).",
    )


class AlignedDataset(Dataset):
    """pix2pix's aligned data: each file is an A|B pair side by side, split at half the width.

    Split folders are ``root/train``, ``root/val`` and ``root/test``; the test split falls back
    to ``val`` when there is no ``test`` folder (maps, edges2shoes ship only train and val).
    An odd width drops the last column, so both halves have the same size. Unreadable files
    are skipped with one warning each; ``skipped`` lists them (also those met by workers).
    """

    Config = AlignedConfig
    splits = ("train", "val", "test")

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        self.check_source(config, split)
        cfg: AlignedConfig = config  # type: ignore[assignment]
        self.folder = self.split_folder(cfg, split)
        self._skips = SkipRecord()
        self.images = ImageList(list_images(self.folder, cfg.max_items), "RGB", str(self.folder), self._skips.add)
        self.transform = paired_transform(cfg, split, cfg.load_size)

    @property
    def paired(self) -> bool:
        return True

    def stages(self, total: int) -> dict[int, Callable[[], None]]:
        return full_view_stage(self.config, self.split, total, self._full_view)  # type: ignore[arg-type]

    def _full_view(self) -> None:
        self.transform = paired_transform(self.config, self.split, self.config.crop_size)  # type: ignore[arg-type]

    @property
    def skipped(self) -> list[Path]:
        """Unreadable files skipped so far, by this process and its DataLoader workers."""
        return self._skips.paths()

    @staticmethod
    def split_folder(config: ComponentConfig, split: str) -> Path:
        """``root/<split>``; for ``test`` without such a folder, ``root/val``."""
        root = Path(config.root)  # type: ignore[attr-defined]
        folder = root / split
        if split == "test" and not folder.exists() and (root / "val").is_dir():
            return root / "val"
        return folder

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """The split's folder must exist and hold images; the error names the download command."""
        _check_split(cls, split)
        root = Path(config.root)  # type: ignore[attr-defined]
        hint = download_hint(root, "paired")
        if not root.is_dir():
            raise DataError(f"data set root {root} does not exist (expected {split}/ of AB images in it) {hint}")
        problem = folder_problem(cls.split_folder(config, split), f"split {split}")
        if problem:
            raise DataError(f"{problem} {hint}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Batch:
        cfg: AlignedConfig = self.config  # type: ignore[assignment]
        img, path = self.images.load(index)
        w, h = img.size
        if w < 2:
            raise DataError(f"{path}: {w}x{h} is too narrow to hold an A|B pair side by side")
        half = w // 2
        a, b = img.crop((0, 0, half, h)), img.crop((half, 0, 2 * half, h))
        if cfg.direction == "BtoA":
            a, b = b, a
        mode_a, mode_b = MODES[cfg.input_nc], MODES[cfg.output_nc]
        a = a if a.mode == mode_a else a.convert(mode_a)
        b = b if b.mode == mode_b else b.convert(mode_b)
        try:
            ta, tb = self.transform(a, b)
        except ImageTooSmallError as exc:
            raise ImageTooSmallError(f"{path}: each half {exc}") from None
        return {"A": ta, "B": tb, "A_path": str(path), "B_path": str(path)}


# ---------------------------------------------------------------- two folders matched by name


def _key(path: Path, folder: Path) -> str:
    """The name a file is matched by: its path below ``folder`` without the extension, so that
    ``labels/0001.png`` pairs with ``photos/0001.jpg``."""
    return path.relative_to(folder).with_suffix("").as_posix()


def match_pairs(
    folder_a: Path, folder_b: Path, max_items: int | None = None
) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """(pairs sorted by name, A files without a partner, B files without a partner).

    When two files of one folder share a name (``x.png`` and ``x.jpg``) the first in sorted
    order is used and the other counts as unmatched.
    """
    def index(folder: Path) -> tuple[dict[str, Path], list[Path]]:
        found: dict[str, Path] = {}
        dupes = []
        for p in list_images(folder):
            key = _key(p, folder)
            if key in found:
                dupes.append(p)
            else:
                found[key] = p
        return found, dupes

    a, dupes_a = index(Path(folder_a))
    b, dupes_b = index(Path(folder_b))
    common = sorted(a.keys() & b.keys())
    pairs = [(a[k], b[k]) for k in common]
    only_a = sorted([a[k] for k in a.keys() - b.keys()] + dupes_a)
    only_b = sorted([b[k] for k in b.keys() - a.keys()] + dupes_b)
    return (pairs if max_items is None else pairs[:max_items]), only_a, only_b


class PairList:
    """Pairs of files read together: a pair with an unreadable file is skipped as a whole (and
    warned about once), so A and B never get out of step the way two independent lists would."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], modes: tuple[str, str], name: str, on_skip=None):
        self.pairs = list(pairs)
        self.modes = modes
        self.name = name
        self.bad: set[int] = set()
        self.on_skip = on_skip

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[Image.Image, Image.Image, Path, Path]:
        n = len(self.pairs)
        if n == 0:
            raise DataError(f"{self.name}: no pairs")
        for step in range(n):
            i = (index + step) % n
            if i in self.bad:
                continue
            path_a, path_b = self.pairs[i]
            images = []
            for path, mode in ((path_a, self.modes[0]), (path_b, self.modes[1])):
                try:
                    images.append(open_image(path, mode))
                except READ_ERRORS as err:
                    self.bad.add(i)
                    reason = f"{type(err).__name__}: {err}"
                    if self.on_skip is not None:
                        self.on_skip(path, reason)
                    other = path_b if path == path_a else path_a
                    warnings.warn(f"skipping unreadable image {path} (and its partner {other.name}): {reason}",
                                  DataWarning, stacklevel=2)
                    break
            else:
                return images[0], images[1], path_a, path_b
        raise DataError(f"{self.name}: none of the {n} pairs can be read (first: {self.pairs[0][0]})")


class PairedFoldersConfig(ImageOptions):
    root: Path = Field(description="Folder holding the two folders of each split (see dir_a, dir_b).")
    dir_a: str = Field(
        "{split}A",
        description="Folder of domain A below root; {split} becomes train or test (e.g. \"A/{split}\" for the "
        "input of the reference's combine_A_and_B.py). An absolute path ignores root. Without {split} the "
        "folder is the train split and there is no test split.",
    )
    dir_b: str = Field("{split}B", description="Folder of domain B below root, like dir_a.")
    strict_pairs: bool = Field(
        False, description="Stop when a file has no partner of the same name (default: warn and leave it out).",
    )


def split_folders(config: ComponentConfig, split: str) -> tuple[Path, Path] | None:
    """The (A, B) folders of ``split``, or None when the config has none for it.

    Configs with ``test_dir_a``/``test_dir_b`` (two_folders) name the folders outright;
    others (paired_folders) give ``root`` and ``dir_a``/``dir_b`` patterns with ``{split}``.
    """
    if "test_dir_a" in type(config).model_fields:
        if split == "train":
            return Path(config.dir_a), Path(config.dir_b)  # type: ignore[attr-defined]
        a, b = config.test_dir_a, config.test_dir_b  # type: ignore[attr-defined]
        return (Path(a), Path(b)) if a is not None and b is not None else None
    root = Path(config.root)  # type: ignore[attr-defined]
    patterns = (config.dir_a, config.dir_b)  # type: ignore[attr-defined]
    if split != "train" and not all("{split}" in p for p in patterns):
        return None
    return root / patterns[0].format(split=split), root / patterns[1].format(split=split)


def check_domain_folders(cls: type[Dataset], config: ComponentConfig, split: str,
                         kind: Literal["unpaired", "paired"]) -> tuple[Path, Path]:
    """Both folders of ``split`` must exist and hold images; all problems in one DataError."""
    _check_split(cls, split)
    folders = split_folders(config, split)
    if folders is None:
        how = ("set test_dir_a and test_dir_b" if "test_dir_a" in type(config).model_fields
               else "dir_a and dir_b need {split} in them")
        raise DataError(f"no {split} split configured ({how})")
    root = getattr(config, "root", None)
    hint = download_hint(root, kind) if root is not None else "(see docs/data.md for the folder layouts)"
    if root is not None and not Path(root).is_dir():
        names = " and ".join(str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in folders)
        raise DataError(f"data set root {root} does not exist (expected {names} in it) {hint}")
    problems = [folder_problem(f, f"domain {d} of split {split}") for f, d in zip(folders, "AB", strict=True)]
    problems = [p for p in problems if p]
    if problems:
        raise DataError("\n".join(problems) + f"\n{hint}")
    return folders


class PairedFoldersDataset(Dataset):
    """Two folders whose files are paired by name: A/0001.png goes with B/0001.jpg.

    By default ``root`` has the CycleGAN layout (``trainA``, ``trainB``, ``testA``, ``testB``);
    ``dir_a``/``dir_b`` patterns read others, such as the input of the reference's
    ``combine_A_and_B.py`` (``A/train``, ``B/train``: ``dir_a = "A/{split}"``). Files
    without a partner are left out with one warning (an error with ``strict_pairs``).
    """

    Config = PairedFoldersConfig

    def __init__(self, config: ComponentConfig, split: str = "train"):
        super().__init__(config, split)
        cfg: PairedFoldersConfig = config  # type: ignore[assignment]
        folder_a, folder_b = self._validated_folders(config, split)
        pairs, only_a, only_b = match_pairs(folder_a, folder_b, cfg.max_items)
        if only_a or only_b:
            examples = ", ".join(str(p) for p in [*only_a[:2], *only_b[:2]])
            message = (f"{len(only_a)} file(s) of {folder_a} and {len(only_b)} of {folder_b} have no partner "
                       f"of the same name (e.g. {examples})")
            if cfg.strict_pairs:
                raise DataError(message + " (strict_pairs = true)")
            warnings.warn(message + "; they are left out", DataWarning, stacklevel=2)
        self.folders = (folder_a, folder_b)
        self._skips = SkipRecord()
        self.pairs = PairList(pairs, (MODES[cfg.input_nc], MODES[cfg.output_nc]), f"{split} pairs", self._skips.add)
        self.transform = paired_transform(cfg, split, cfg.load_size)

    @property
    def paired(self) -> bool:
        return True

    def stages(self, total: int) -> dict[int, Callable[[], None]]:
        return full_view_stage(self.config, self.split, total, self._full_view)  # type: ignore[arg-type]

    def _full_view(self) -> None:
        self.transform = paired_transform(self.config, self.split, self.config.crop_size)  # type: ignore[arg-type]

    @property
    def skipped(self) -> list[Path]:
        """Unreadable files skipped so far, by this process and its DataLoader workers."""
        return self._skips.paths()

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """Both folders must hold images and share at least one file name."""
        cls._validated_folders(config, split)

    @classmethod
    def _validated_folders(cls, config: ComponentConfig, split: str) -> tuple[Path, Path]:
        folder_a, folder_b = check_domain_folders(cls, config, split, "paired")
        pairs, only_a, only_b = match_pairs(folder_a, folder_b, max_items=1)
        if not pairs:
            ex_a = only_a[0].name if only_a else "-"
            ex_b = only_b[0].name if only_b else "-"
            raise DataError(f"no file of {folder_a} has a partner of the same name in {folder_b} (e.g. {ex_a} vs "
                            f"{ex_b}); paired folders are matched by file name without extension")
        return folder_a, folder_b

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Batch:
        a, b, path_a, path_b = self.pairs.load(index)
        try:
            ta, tb = self.transform(a, b)
        except ImageTooSmallError as exc:
            raise ImageTooSmallError(f"{path_a} / {path_b}: {exc}") from None
        return {"A": ta, "B": tb, "A_path": str(path_a), "B_path": str(path_b)}
