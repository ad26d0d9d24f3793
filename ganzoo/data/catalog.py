"""The standard translation data sets the reference CycleGAN and pix2pix code publish.

Names and URLs follow junyanz/pytorch-CycleGAN-and-pix2pix (``datasets/download_cyclegan_dataset.sh``
and ``download_pix2pix_dataset.sh``): CycleGAN's are zip files of ``trainA/trainB/testA/testB``
folders, pix2pix's are tar.gz files of ``train/val/test`` folders of side-by-side AB images. UNIT
and MUNIT train on the same files (their ``summer2winter_yosemite256`` is CycleGAN's zip).

Three names (facades, maps, cityscapes) are published by both, in different layouts, so every
entry is addressed as ``SOURCE/NAME`` and a bare name works when only one source has it. The
publishers give no checksums; the downloader records the first download's SHA-256 and checks
later downloads against it (see :mod:`ganzoo.data.download`).

Importing this module is cheap (no torch), so the CLI and error messages can use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ganzoo.errors import DataError, did_you_mean

DEFAULT_BASE_URL = "http://efrosgans.eecs.berkeley.edu/"
"""Where the reference scripts download from; ``GANZOO_DATA_MIRROR`` or ``--mirror`` replace it."""

MIRROR_ENV = "GANZOO_DATA_MIRROR"

Kind = Literal["unpaired", "paired", "images"]

CITYSCAPES_NOTE = (
    "Cityscapes may not be redistributed (license), so it cannot be downloaded from here. Register at "
    "https://cityscapes-dataset.com, download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip, "
    "and build the folders with the reference's datasets/prepare_cityscapes_dataset.py "
    "(junyanz/pytorch-CycleGAN-and-pix2pix): it writes pix2pix's aligned train/ and val/ AB images "
    "(read them with data.type = \"aligned\"); for CycleGAN, put the label maps in trainA/testA and "
    "the photos in trainB/testB (data.type = \"unpaired_folders\")."
)


@dataclass(frozen=True)
class CatalogEntry:
    """One downloadable archive: where it is, what layout it unpacks to, which dataset reads it."""

    source: Literal["cyclegan", "pix2pix", "sr"]
    name: str
    kind: Kind
    summary: str
    size: str | None = None
    """Approximate download size as published by third parties, for orientation only."""
    sha256: str | None = None
    """Known SHA-256 of the archive; None for all today (the publishers give none)."""
    downloadable: bool = True
    note: str = ""

    @property
    def key(self) -> str:
        """The unambiguous name, ``SOURCE/NAME``."""
        return f"{self.source}/{self.name}"

    @property
    def archive(self) -> str:
        return f"{self.name}.zip" if self.source == "cyclegan" else f"{self.name}.tar.gz"

    @property
    def url_path(self) -> str:
        """Path below the base URL (the same on a mirror)."""
        return f"{self.source}/datasets/{self.archive}"

    @property
    def folder(self) -> str:
        """The folder the archive unpacks to, under the download root."""
        return self.name

    @property
    def dataset(self) -> str | None:
        """The ganzoo dataset type that reads the unpacked folder."""
        if self.source == "sr":
            return "sr_folders"
        return {"unpaired": "unpaired_folders", "paired": "aligned"}.get(self.kind)

    @property
    def layout(self) -> str:
        if self.source == "sr":
            return "HR images (+ bicubic LR x2/x3/x4 folders)"
        return {
            "unpaired": "trainA/ trainB/ testA/ testB/",
            "paired": "train/ val/ test/ of AB images",
            "images": "folders of single images",
        }[self.kind]

    def url(self, mirror: str | None = None) -> str:
        """The archive's URL on ``mirror`` (else ``GANZOO_DATA_MIRROR``, else the publisher); for a
        super-resolution set, where its files are published ('' when nowhere stable)."""
        if self.source == "sr":
            return DIV2K_URL if self.name == "DIV2K" else ""
        return resolve_base_url(mirror) + self.url_path


def resolve_base_url(mirror: str | None = None) -> str:
    """``mirror``, else ``$GANZOO_DATA_MIRROR``, else the publisher's server; ends with ``/``."""
    base = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_BASE_URL
    if "://" not in base:
        raise DataError(f"mirror {base!r} is not a URL (expected e.g. http://host:port/)")
    return base if base.endswith("/") else base + "/"


DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
SR_BENCHMARK_NOTE = (
    "{name} ships no archive at a stable URL of its authors; take the copy BasicSR's docs/DatasetPreparation.md "
    "links (the benchmark sets as HR/ and LR_bicubic/X2..X4/ folders), unpack it to ROOT/{name}, and read it with "
    "[data] type = \"sr_folders\", test_hr = \"ROOT/{name}/HR\" (LR made by bicubic down-sampling, or "
    "test_lr = \"ROOT/{name}/LR_bicubic/X4\" for the published LR files)."
)
SR_ENTRIES = tuple(
    CatalogEntry("sr", name, "images", summary, size, downloadable=False, note=note)
    for name, summary, size, note in (
        ("DIV2K", "800 train + 100 validation 2K photos, HR and bicubic LR x2/x3/x4 (NTIRE 2017)", "3.5 GB (HR)",
         "DIV2K is served as several zip files: mkdir -p ROOT/DIV2K && cd ROOT/DIV2K && for f in DIV2K_train_HR "
         "DIV2K_valid_HR DIV2K_train_LR_bicubic_X4 DIV2K_valid_LR_bicubic_X4; do wget " + DIV2K_URL + "$f.zip && "
         "unzip $f.zip; done; then [data] type = \"sr_folders\", hr = \"ROOT/DIV2K/DIV2K_train_HR\", "
         "test_hr = \"ROOT/DIV2K/DIV2K_valid_HR\" (add lr/test_lr = \"ROOT/DIV2K/DIV2K_train_LR_bicubic/X4\" "
         "and \"ROOT/DIV2K/DIV2K_valid_LR_bicubic/X4\" for the published LR files); see recipes/srresnet_div2k.toml"),
        ("Set5", "5 images, the classic SR test set", None, SR_BENCHMARK_NOTE.format(name="Set5")),
        ("Set14", "14 images, SR test set", None, SR_BENCHMARK_NOTE.format(name="Set14")),
        ("BSD100", "100 natural images of BSD300's test split, SR test set", None,
         SR_BENCHMARK_NOTE.format(name="BSD100")),
        ("Urban100", "100 urban photos with regular structures, SR test set", None,
         SR_BENCHMARK_NOTE.format(name="Urban100")),
    )
)
"""Super-resolution sets: known to ``ganzoo data list`` and ``ganzoo data download`` (which prints
these preparation steps), read with ``sr_folders``."""


def sr_hint(folder: str | Path) -> str:
    """Advice for a missing SR folder: the preparation steps when a parent folder is named like
    a known SR set (``data/DIV2K/DIV2K_train_HR``), else where to look."""
    for part in reversed(Path(folder).parts):
        entry = find(part)
        if entry is not None and entry.source == "sr":
            return f"({entry.note})"
    return "(standard SR data sets: ganzoo data list; or train on the built-in data: data.type = \"sr_procedural\")"


def _cyclegan(name: str, kind: Kind, summary: str, size: str | None = None, **kw: object) -> CatalogEntry:
    return CatalogEntry("cyclegan", name, kind, summary, size, **kw)  # type: ignore[arg-type]


def _pix2pix(name: str, summary: str, size: str | None = None, **kw: object) -> CatalogEntry:
    return CatalogEntry("pix2pix", name, "paired", summary, size, **kw)  # type: ignore[arg-type]


CATALOG: tuple[CatalogEntry, ...] = (
    _cyclegan("apple2orange", "unpaired", "ImageNet apples <-> navel oranges", "75 MB"),
    _cyclegan("summer2winter_yosemite", "unpaired", "Yosemite in summer <-> winter (Flickr)", "126 MB"),
    _cyclegan("horse2zebra", "unpaired", "ImageNet wild horses <-> zebras", "111 MB"),
    _cyclegan("monet2photo", "unpaired", "Monet paintings <-> landscape photos"),
    _cyclegan("cezanne2photo", "unpaired", "Cezanne paintings <-> landscape photos"),
    _cyclegan("ukiyoe2photo", "unpaired", "Ukiyo-e prints <-> landscape photos"),
    _cyclegan("vangogh2photo", "unpaired", "Van Gogh paintings <-> landscape photos"),
    _cyclegan("maps", "unpaired", "Google Maps <-> aerial photos, unpaired layout", "1.4 GB"),
    _cyclegan("cityscapes", "unpaired", "Cityscapes label maps <-> photos, unpaired layout",
              downloadable=False, note=CITYSCAPES_NOTE),
    _cyclegan("facades", "unpaired", "CMP facade label maps <-> photos, unpaired layout", "34 MB"),
    _cyclegan("iphone2dslr_flower", "unpaired", "iPhone <-> DSLR flower photos (shallow depth of field)"),
    _cyclegan("ae_photos", "images", "Test photos of the reference's style-transfer demos"),
    _cyclegan("mini", "unpaired", "A few images in the CycleGAN layout, for smoke tests"),
    _cyclegan("mini_pix2pix", "paired", "A few aligned AB images, for smoke tests"),
    _cyclegan("mini_colorization", "images", "A few photos for the reference's colorization model"),
    _cyclegan("grumpifycat", "unpaired", "Cats <-> grumpy cat (used by CUT)"),
    _pix2pix("facades", "CMP facades: label maps | photos, 400 pairs", "29 MB"),
    _pix2pix("cityscapes", "Cityscapes: label maps | photos",
             downloadable=False, note=CITYSCAPES_NOTE),
    _pix2pix("maps", "Google Maps | aerial photos, 1096 pairs", "239 MB"),
    _pix2pix("edges2shoes", "HED edges | shoe photos, 50k pairs", "2 GB"),
    _pix2pix("edges2handbags", "HED edges | handbag photos, 137k pairs", "8 GB"),
    _pix2pix("night2day", "The same webcam scene at night | by day"),
    *SR_ENTRIES,
)


def entries() -> list[CatalogEntry]:
    return list(CATALOG)


def lookup(name: str) -> CatalogEntry:
    """The entry for ``SOURCE/NAME`` or a bare ``NAME`` that only one source publishes.

    A bare name published by both (facades, maps, cityscapes) is an error that names both
    choices: their layouts differ, and guessing would give a folder the recipe cannot read.
    """
    by_key = {e.key: e for e in CATALOG}
    if name in by_key:
        return by_key[name]
    matches = [e for e in CATALOG if e.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        choices = "; ".join(f"{e.key} ({e.kind}: {e.layout})" for e in matches)
        raise DataError(f"'{name}' is published by both CycleGAN and pix2pix in different layouts: "
                        f"say which: {choices}")
    known = sorted({e.name for e in CATALOG} | set(by_key))
    raise DataError(f"unknown data set '{name}'{did_you_mean(name, known)} (see: ganzoo data list)")


def find(name: str, kind: Kind | None = None) -> CatalogEntry | None:
    """The entry named ``name`` (a folder name) of ``kind``, or None; never raises."""
    for e in CATALOG:
        if e.name == name and (kind is None or e.kind == kind):
            return e
    return None


def download_hint(root: str | Path, kind: Kind) -> str:
    """The parenthesised advice appended to "data not found" errors: the exact download command
    when the folder is named like a standard data set of the right layout, else where to look."""
    path = Path(root)
    name = path.name or path.resolve().name
    parent = path.parent
    entry = find(name, kind)
    if entry is None:
        return ("(a standard data set? see: ganzoo data list; then ganzoo data download NAME "
                f"--root {parent})")
    if not entry.downloadable:
        return f"({entry.note})"
    return f"(get it with: ganzoo data download {entry.key} --root {parent})"
