"""``ganzoo data check DIR``: what a data folder really holds, before hours of training on it.

Per folder it counts images, other files and unreadable images (each named with the reason),
and summarises sizes (smallest, largest, most common) and PIL modes (RGB, L, RGBA, P, ...), so
a grayscale scan in a colour set, a truncated download or a crop larger than some images is
found in seconds. Images are decoded fully by default, because a truncated JPEG opens fine and
fails only when its pixels are read; ``quick`` reads headers only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ganzoo.data.images import READ_ERRORS, is_image_file, unreadable_folder
from ganzoo.errors import DataError

_IGNORED = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class FolderReport:
    """What one folder (not counting its subfolders) holds."""

    path: Path
    images: int = 0
    other_files: int = 0
    sizes: Counter = field(default_factory=Counter)  # (w, h) -> count
    modes: Counter = field(default_factory=Counter)  # PIL mode -> count
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def readable(self) -> int:
        return self.images - len(self.unreadable)

    @property
    def empty(self) -> bool:
        return self.images == 0 and self.other_files == 0

    @property
    def min_size(self) -> tuple[int, int] | None:
        """The smallest width and the smallest height (possibly of different images)."""
        if not self.sizes:
            return None
        return min(w for w, _ in self.sizes), min(h for _, h in self.sizes)

    @property
    def max_size(self) -> tuple[int, int] | None:
        if not self.sizes:
            return None
        return max(w for w, _ in self.sizes), max(h for _, h in self.sizes)

    def common_sizes(self, n: int = 3) -> list[tuple[tuple[int, int], int]]:
        return self.sizes.most_common(n)

    @property
    def looks_aligned(self) -> bool:
        """Every image twice as wide as high: probably pix2pix AB pairs (dataset "aligned")."""
        return bool(self.sizes) and all(w == 2 * h for w, h in self.sizes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "images": self.images,
            "readable": self.readable,
            "other_files": self.other_files,
            "min_size": self.min_size,
            "max_size": self.max_size,
            "common_sizes": [{"size": list(s), "count": c} for s, c in self.common_sizes(5)],
            "modes": dict(self.modes),
            "unreadable": [{"path": str(p), "error": e} for p, e in self.unreadable],
            "looks_aligned": self.looks_aligned,
        }


@dataclass
class CheckReport:
    root: Path
    folders: list[FolderReport]
    locked: list[tuple[Path, str]] = field(default_factory=list)
    """Folders that cannot be listed (no permission), with the message."""

    @property
    def images(self) -> int:
        return sum(f.images for f in self.folders)

    @property
    def unreadable(self) -> list[tuple[Path, str]]:
        """Unreadable image files, then folders that cannot be listed."""
        return [u for f in self.folders for u in f.unreadable] + self.locked

    @property
    def empty_folders(self) -> list[Path]:
        return [f.path for f in self.folders if f.empty]

    @property
    def ok(self) -> bool:
        return not self.unreadable

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "images": self.images, "unreadable": len(self.unreadable),
                "empty_folders": [str(p) for p in self.empty_folders],
                "unreadable_folders": [{"path": str(p), "error": e} for p, e in self.locked],
                "folders": [f.to_dict() for f in self.folders]}


def inspect_image(path: Path, quick: bool = False) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """(size, mode, error) of one file; the size is as stored (before any EXIF rotation)."""
    try:
        with Image.open(path) as img:
            size, mode = img.size, img.mode
            if not quick:
                img.load()
        return size, mode, None
    except READ_ERRORS as err:
        return None, None, f"{type(err).__name__}: {err}"


def _walk(root: Path, unreadable: list[tuple[Path, OSError]]) -> Iterable[tuple[Path, list[Path], bool]]:
    """(folder, its files, has subfolders) for every folder below ``root``, sorted, hidden ones
    skipped; folders that cannot be listed are appended to ``unreadable``."""
    def failed(exc: OSError) -> None:
        unreadable.append((Path(exc.filename) if exc.filename is not None else root, exc))

    for dirpath, dirnames, filenames in os.walk(root, onerror=failed):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files = [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".") and f not in _IGNORED]
        yield Path(dirpath), files, bool(dirnames)


def check_images(root: str | Path, *, quick: bool = False, workers: int | None = None) -> CheckReport:
    """Inspect every image under ``root``; folders with files, and empty leaf folders, are reported."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    workers = workers or min(8, os.cpu_count() or 1)
    reports: list[FolderReport] = []
    locked: list[tuple[Path, OSError]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes with the GIL released
        for folder, files, has_subfolders in _walk(root, locked):
            report = FolderReport(folder)
            images = [f for f in files if is_image_file(f)]
            report.images = len(images)
            report.other_files = len(files) - len(images)
            for path, (size, mode, error) in zip(images, pool.map(lambda p: inspect_image(p, quick), images),
                                                 strict=True):
                if error is not None:
                    report.unreadable.append((path, error))
                else:
                    report.sizes[size] += 1
                    report.modes[mode] += 1
            if files or not has_subfolders:
                reports.append(report)
    for folder, exc in locked:  # reported as unreadable, never as an empty folder
        if folder == root:
            raise DataError(unreadable_folder(root, exc))
    return CheckReport(root, reports, [(folder, unreadable_folder(folder, exc)) for folder, exc in locked])
