"""Unpaired data from any two folders, wherever they are (``dir_a`` and ``dir_b``).

A user's own photos rarely sit in the CycleGAN ``trainA``/``trainB`` layout, and copying or
linking gigabytes just to satisfy it is a chore; this reads the folders where they are.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ganzoo.config import ComponentConfig
from ganzoo.data.folders import UnpairedFolderDataset
from ganzoo.data.options import ImageOptions
from ganzoo.data.paired import check_domain_folders, split_folders
from ganzoo.errors import DataError


class TwoFoldersConfig(ImageOptions):
    dir_a: Path = Field(description="Folder of domain A training images (searched recursively).")
    dir_b: Path = Field(description="Folder of domain B training images (searched recursively).")
    test_dir_a: Path | None = Field(None, description="Folder of domain A test images (optional).")
    test_dir_b: Path | None = Field(None, description="Folder of domain B test images (optional).")
    serial_batches: bool = Field(
        False,
        description="Pair A[i] with B[i] in order; by default B is drawn at random, so pairs change every epoch.",
    )


class TwoFoldersDataset(UnpairedFolderDataset):
    """Two arbitrary folders of unrelated images, one per domain (CycleGAN-style unpaired data).

    Behaves exactly like ``unpaired_folders`` (random B partner, skipping of unreadable files),
    only the folders are given one by one; the test split exists when ``test_dir_a`` and
    ``test_dir_b`` are set.
    """

    Config = TwoFoldersConfig

    @staticmethod
    def folder(config: ComponentConfig, split: str, domain: str) -> Path:
        folders = split_folders(config, split)
        if folders is None:
            raise DataError(f"no {split} split configured (set test_dir_a and test_dir_b)")
        return folders[0] if domain == "A" else folders[1]

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """Both folders of ``split`` must exist and hold images; every problem in one message."""
        check_domain_folders(cls, config, split, "unpaired")
