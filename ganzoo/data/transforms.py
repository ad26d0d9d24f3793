"""Image preprocessing of folder datasets, with the semantics of the pix2pix/CycleGAN reference
(``--preprocess``, ``--load_size``, ``--crop_size``, ``--no_flip``) so its recipes carry over.

Training crops and flips at random (augmentation); evaluation is deterministic and sees the
whole image at ``crop_size`` (no larger resize, no flip), as the references test, so that scores
and test grids are comparable between runs and with published numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

from ganzoo.errors import DataError

Preprocess = Literal[
    "resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "scale_shortside", "scale_shortside_and_crop",
    "none",
]
PREPROCESS_CHOICES: tuple[str, ...] = (
    "resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "scale_shortside", "scale_shortside_and_crop",
    "none",
)

_BICUBIC = v2.InterpolationMode.BICUBIC


class ScaleWidth:
    """Resize so the width is ``width``, keeping the aspect ratio, but at least ``min_height``
    high (as the reference does, so a following ``crop_size`` crop always fits)."""

    def __init__(self, width: int, min_height: int = 0):
        self.width = width
        self.min_height = min_height

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        height = max(self.min_height, round(h * self.width / w))
        if (w, h) == (self.width, height):
            return img
        return img.resize((self.width, height), Image.Resampling.BICUBIC)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(width={self.width}, min_height={self.min_height})"


class ScaleShortSide:
    """Resize so the shorter side is ``size``, keeping the aspect ratio: what UNIT and MUNIT's
    ``transforms.Resize(new_size)`` does. As there, the longer side is truncated
    (``int(size * long / short)``) and the filter is bilinear."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if min(w, h) == self.size:
            return img
        new = (self.size, int(self.size * h / w)) if w <= h else (int(self.size * w / h), self.size)
        return img.resize(new, Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


def scale_step(preprocess: str, load_size: int, crop_size: int) -> Callable[[Image.Image], Image.Image] | None:
    """The resize a preprocess mode applies before any crop (``None``: no resize)."""
    if preprocess.startswith("scale_width"):
        return ScaleWidth(load_size, crop_size if preprocess.endswith("crop") else 0)
    if preprocess.startswith("scale_shortside"):
        return ScaleShortSide(load_size)
    return None


class ImageTooSmallError(DataError):
    """An image is smaller than the crop and the recipe says not to scale it up
    (``small_images = "error"``); datasets re-raise it with the file's path."""


class EnsureMinSize:
    """Upscale (keeping aspect) an image smaller than ``size`` on a side so a ``size`` crop fits;
    the reference would crash on such an image, a zoo of scraped data sets has a few.
    With ``on_small="error"`` such an image raises :class:`ImageTooSmallError` instead, for data
    sets where upscaling would silently blur a few images."""

    def __init__(self, size: int, on_small: str = "resize"):
        if on_small not in ("resize", "error"):
            raise ValueError(f"on_small must be 'resize' or 'error', got {on_small!r}")
        self.size = size
        self.on_small = on_small

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if w >= self.size and h >= self.size:
            return img
        if self.on_small == "error":
            raise ImageTooSmallError(
                f"image is {w}x{h}, smaller than crop_size {self.size} (set data.small_images = \"resize\" "
                "to scale such images up, or use a smaller crop_size)"
            )
        scale = self.size / min(w, h)
        new = (max(self.size, round(w * scale)), max(self.size, round(h * scale)))
        return img.resize(new, Image.Resampling.BICUBIC)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, on_small={self.on_small!r})"


class MakeMultiple:
    """Resize each side to the nearest multiple of ``base`` (at least ``base``), so strided
    encoders and decoders give back the input size (the reference's ``make_power_2``)."""

    def __init__(self, base: int = 4):
        self.base = base

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        new = (max(self.base, round(w / self.base) * self.base), max(self.base, round(h / self.base) * self.base))
        return img if new == (w, h) else img.resize(new, Image.Resampling.BICUBIC)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={self.base})"


def eval_load_size(load_size: int, crop_size: int, train: bool) -> int:
    """The load size of a split: evaluation sees the whole image scaled to ``crop_size``, as the
    reference implementations test (their test options set ``load_size = crop_size``), not a
    centre crop of a larger resize that would score only the middle of every image."""
    return load_size if train else crop_size


def build_transform(
    preprocess: str = "resize_and_crop",
    load_size: int = 286,
    crop_size: int = 256,
    *,
    train: bool = True,
    flip: bool = True,
    channels: int = 3,
    small_images: str = "resize",
) -> Callable[[Image.Image], Tensor]:
    """PIL image (already in mode RGB or L) -> float CHW tensor in [-1, 1].

    ``preprocess`` is one of :data:`PREPROCESS_CHOICES`: ``resize_and_crop`` resizes to
    ``load_size`` squared then crops ``crop_size``; ``scale_width`` scales the width to
    ``load_size``; ``scale_shortside`` scales the shorter side to ``load_size``, keeping the
    aspect ratio (UNIT/MUNIT's ``new_size``); ``crop`` only crops; ``none`` only rounds sides to
    multiples of 4; ``..._and_crop`` crops ``crop_size`` after the resize. Crops are
    random and images flipped horizontally (if ``flip``) when ``train``; otherwise ``load_size`` is
    ``crop_size`` (:func:`eval_load_size`), crops are centred and nothing is flipped.
    ``small_images`` ("resize" or "error") says what happens to an image smaller than the crop.
    """
    if preprocess not in PREPROCESS_CHOICES:
        raise ValueError(f"unknown preprocess '{preprocess}' (choose from {', '.join(PREPROCESS_CHOICES)})")
    load_size = eval_load_size(load_size, crop_size, train)
    steps: list[Callable] = []
    if preprocess == "resize_and_crop":
        steps.append(v2.Resize((load_size, load_size), interpolation=_BICUBIC))
    elif (scale := scale_step(preprocess, load_size, crop_size)) is not None:
        steps.append(scale)
    if preprocess.endswith("crop"):
        steps.append(EnsureMinSize(crop_size, small_images))
        steps.append(v2.RandomCrop(crop_size) if train else v2.CenterCrop(crop_size))
    if preprocess == "none":
        steps.append(MakeMultiple(4))
    if train and flip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5] * channels, [0.5] * channels),
    ]
    return v2.Compose(steps)


def to_tensor(img: Image.Image) -> Tensor:
    """A PIL image as a float CHW tensor in [-1, 1], no resizing (for inference on a file)."""
    return v2.functional.to_dtype(v2.functional.to_image(img), torch.float32, scale=True) * 2.0 - 1.0
