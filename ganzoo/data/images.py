"""Image files: listing and safe reading for data sets, and reading and writing single images
for inference (the one home for both, so every path decodes and rounds the same way).

A data set of thousands of scraped images usually holds a few broken files. One of them must
not kill a DataLoader worker hours into a run, so :class:`ImageList` skips an unreadable file
with a single warning and returns the next readable image instead.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from ganzoo.errors import DataError

IMG_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
"""File name endings (compared case-insensitively) that are taken for images."""


READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
"""What reading an unreadable image file raises (PIL raises SyntaxError for some broken headers)."""


class DataWarning(UserWarning):
    """A data problem that is worked around (a skipped file), not fatal."""


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has an image extension (``.JPG`` counts: cameras write upper case)."""
    return Path(path).suffix.lower() in IMG_EXTENSIONS


def list_images(folder: str | Path, max_items: int | None = None) -> list[Path]:
    """Image files under ``folder``, recursively, sorted by relative path.

    Sorting makes item ``i`` the same file on every machine and run (``os.walk`` order is
    not); ``max_items`` keeps the first ones of that order. A missing folder gives ``[]``;
    callers that need images use :func:`require_images` for a readable error. A folder that
    cannot be listed (no permission) raises :class:`DataError`; a subfolder that cannot be is
    left out with a :class:`DataWarning` naming it (neither passes for "no images").
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    # strings and os.scandir, not Path objects: 100k files list in a fraction of a second instead of
    # ~8 s (benchmarks/listing_benchmark.py); the order is the relative paths' as before
    found = sorted(_scan(root))
    return [Path(full) for _, full in (found if max_items is None else found[:max_items])]


def _scan(root: Path, first_only: bool = False) -> list[tuple[str, str]]:
    """(relative posix path, path) of the image files under ``root``, as ``os.walk`` would find them
    (symlinked folders are not entered; links to files count unless broken), unordered."""
    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename is not None else root
        if where == root:
            raise DataError(unreadable_folder(root, exc)) from None
        warnings.warn(f"skipping {unreadable_folder(where, exc)}", DataWarning, stacklevel=4)

    found: list[tuple[str, str]] = []
    stack = [("", str(root))]
    while stack:
        rel, path = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError as exc:
            unreadable(exc)
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    stack.append((f"{rel}{entry.name}/", entry.path))
            elif os.path.splitext(entry.name)[1].lower() in IMG_EXTENSIONS and entry.is_file():
                found.append((rel + entry.name, entry.path))
                if first_only:
                    return found
    return found


def unreadable_folder(folder: Path, exc: OSError) -> str:
    """The message for a folder that cannot be listed."""
    return f"folder {folder} cannot be read ({exc.strerror or type(exc).__name__})"


def folder_problem(folder: str | Path, what: str) -> str | None:
    """Why ``folder`` cannot serve as an image folder (missing, not a folder, cannot be read,
    no images), or None. ``what`` names the folder's role in the message, e.g. ``"domain A of
    split train"``.
    """
    path = Path(folder)
    if not path.exists():
        return f"{what}: folder {path} does not exist"
    if not path.is_dir():
        return f"{what}: {path} is not a folder"
    try:
        found = _scan(path, first_only=True)  # any image will do: no need to list them all
    except DataError as exc:
        return f"{what}: {exc}"
    if not found:
        exts = ", ".join(IMG_EXTENSIONS)
        return f"{what}: folder {path} has no images ({exts})"
    return None


def require_images(folder: str | Path, what: str, *, hint: str = "", max_items: int | None = None) -> list[Path]:
    """:func:`list_images`, raising :class:`DataError` (with ``hint`` appended) when there is none."""
    problem = folder_problem(folder, what)
    if problem:
        raise DataError(problem + (f" {hint}" if hint else ""))
    return list_images(folder, max_items=max_items)


def open_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Read an image fully into memory, upright (EXIF orientation applied), in PIL ``mode``.

    ``load()`` is forced here so that a truncated file fails now, inside the caller's
    ``try``, not later in a transform. Raises ``OSError`` (or ``ValueError``) when unreadable.
    16-bit, 32-bit integer and float images are scaled to 8 bits by their range (:func:`_to_8bit`).
    """
    with Image.open(path) as img:
        img.load()
        img = ImageOps.exif_transpose(img)  # a copy, so closing the file is safe
    if img.mode == mode:
        return img
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):  # convert() would clip at 255: rescale
        img = _to_8bit(img, path)
    if img.mode == "PA" or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA") and mode in ("RGB", "L"):
        img = _flatten_alpha(img)
    return img.convert(mode)


def _to_8bit(img: Image.Image, path: str | Path) -> Image.Image:
    """A 16-bit, 32-bit integer or float grey image as 8-bit grey ("L"), scaled by its range:

    * 16-bit: the type's range, 0..65535 (what such files use);
    * 32-bit integer: 0..its actual maximum (min..max if it has negative values), since such
      files rarely use the type's range (a 12-bit sensor value would come out black);
    * float: 0..1 when all values are in [0, 1], else its actual min..max; NaN or infinite
      values are refused (``ValueError`` naming the file).

    A constant image outside these ranges comes out black."""
    array = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        if not np.isfinite(array).all():
            raise ValueError(f"{path}: float image with NaN or infinite values")
        lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
        if img.mode == "F" and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        elif img.mode == "I" and lo >= 0:
            lo = 0.0
    scaled = (array - lo) * 255.0 / (hi - lo) if hi > lo else np.zeros_like(array)
    return Image.fromarray(scaled.clip(0, 255).round().astype(np.uint8))


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image on white, as viewers show it (``convert`` would show
    whatever colour the transparent pixels happen to hold)."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


class ImageList:
    """A sorted list of image files that reads item ``i`` or, if it is broken, the next good one.

    Each broken file is warned about once (per process) and remembered, so it is not retried;
    ``skipped`` lists them in the order met, so a run log can report how many were dropped.
    Only when no file at all can be read does it raise :class:`DataError`.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        mode: str = "RGB",
        name: str = "images",
        on_skip: Callable[[Path, str], None] | None = None,
    ):
        self.paths = [Path(p) for p in paths]
        self.mode = mode
        self.name = name
        self.bad: set[int] = set()
        self.skipped: list[Path] = []
        self.on_skip = on_skip  # e.g. SkipRecord.add, so DataLoader workers' skips reach the run log

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> tuple[Image.Image, Path]:
        """The image at ``index`` (modulo the length) or the next readable one, and its path."""
        n = len(self.paths)
        if n == 0:
            raise DataError(f"{self.name}: no image files")
        for step in range(n):
            i = (index + step) % n
            if i in self.bad:
                continue
            path = self.paths[i]
            try:
                return open_image(path, self.mode), path
            except READ_ERRORS as err:
                self.bad.add(i)
                self.skipped.append(path)
                if self.on_skip is not None:
                    self.on_skip(path, f"{type(err).__name__}: {err}")
                warnings.warn(
                    f"skipping unreadable image {path}: {type(err).__name__}: {err}",
                    DataWarning,
                    stacklevel=2,
                )
        raise DataError(f"{self.name}: none of the {n} image files can be read (first: {self.paths[0]})")


# --------------------------------------------------------------------------- single files
# (inference reads and writes one image at a time, at its own size)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image as it will be read (EXIF rotation applied), from its header."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        if img.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated by 90 degrees
            w, h = h, w
    return h, w


def load_image(path: Path, channels: int = 3) -> Tensor:
    """CHW float tensor in [-1, 1] (EXIF rotation applied, alpha composited on white)."""
    img = open_image(path, "L" if channels == 1 else "RGB")
    array = np.asarray(img, dtype=np.uint8)
    t = torch.from_numpy(array.copy()).float().div_(127.5).sub_(1)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def to_uint8(image: Tensor) -> Tensor:
    """[-1, 1] -> uint8 [0, 255], rounded: what saving as PNG stores."""
    return ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def quantize(image: Tensor) -> Tensor:
    """Round images in [-1, 1] to the 256 levels an 8-bit file can hold (still in [-1, 1])."""
    return to_uint8(image).float().div_(127.5).sub_(1)


def save_image(image: Tensor, path: Path, *, quality: int = 95) -> None:
    from PIL import Image

    array = to_uint8(image.cpu()).permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array[..., :3])
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed into place: a failure (disk full) leaves
    # neither a half-written file nor a damaged earlier one.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    options = {"quality": quality, "subsampling": 0} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    try:
        pil.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"), **options)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
