"""Preprocessing options shared by every folder-based dataset (unpaired, two folders, aligned,
paired folders), so ``load_size``, ``crop_size``, ``preprocess`` ... mean the same in all of
them and match the reference's command-line flags of the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganzoo.components import DatasetConfig
from ganzoo.data.transforms import Preprocess

SmallImages = Literal["resize", "error"]

MAX_SIDE = 8192
"""The largest ``load_size`` / ``crop_size``: beyond it one image alone needs gigabytes."""


class ImageOptions(DatasetConfig):
    """How images are turned into training tensors (the reference's ``--preprocess`` family)."""

    load_size: int = Field(286, gt=0, description="Images are first scaled to this size (see preprocess).")
    crop_size: int = Field(256, gt=0, description="Then cropped to this size: the size the networks see.")
    preprocess: Preprocess = Field(
        "resize_and_crop",
        description=(
            "resize_and_crop: resize to load_size squared, crop crop_size; crop: crop only; "
            "scale_width: scale width to load_size; scale_width_and_crop: that, then crop; "
            "scale_shortside: scale the shorter side to load_size, keeping the aspect ratio (UNIT's new_size); "
            "scale_shortside_and_crop: that, then crop; "
            "none: keep the size, rounded to a multiple of 4."
        ),
    )
    no_flip: bool = Field(False, description="Do not flip training images horizontally at random.")
    small_images: SmallImages = Field(
        "resize",
        description=(
            "An image smaller than crop_size where the crop is taken: resize = scale it up (keeping "
            "the aspect ratio) so the crop fits; error = stop with an error naming the file."
        ),
    )
    input_nc: Literal[1, 3] = Field(3, description="Channels of domain A images: 3 = RGB, 1 = grayscale.")
    output_nc: Literal[1, 3] = Field(3, description="Channels of domain B images: 3 = RGB, 1 = grayscale.")
    max_items: int | None = Field(
        None, ge=1, description="Use at most this many images (pairs) per domain (the first in sorted order)."
    )
    full_view_after: float | None = Field(
        None, ge=0, le=1,
        description="Fraction of the run after which training images are loaded at crop_size (load_size = "
        "crop_size: the whole image, no zoomed-in crop), as CUT's reference does in its decay epochs (0.5 for "
        "200 + 200 epochs; FastCUT 0.75); None: never. Resume-safe: it depends on the iteration only.",
    )

    @field_validator("load_size", "crop_size")
    @classmethod
    def _sane_size(cls, value: int, info: ValidationInfo) -> int:
        if value > MAX_SIDE:
            gib = value * value * 3 * 4 / 2**30
            raise ValueError(f"{info.field_name} {value} is more than {MAX_SIDE} px, the largest side ganzoo reads "
                             f"images at (one {value} x {value} RGB image alone is {gib:.0f} GB as a float tensor)")
        return value

    @model_validator(mode="after")
    def _crop_fits(self) -> ImageOptions:
        if self.preprocess.endswith("_and_crop") and self.crop_size > self.load_size:
            raise ValueError(
                f"crop_size {self.crop_size} is larger than load_size {self.load_size} "
                f"(with preprocess '{self.preprocess}' the crop is taken from the load_size image)"
            )
        return self


MODES = {1: "L", 3: "RGB"}
"""PIL mode of an image with this many channels."""


def full_view_stage(config: ImageOptions, split: str, total: int,
                    switch: Callable[[], None]) -> dict[int, Callable[[], None]]:
    """The :meth:`~ganzoo.Dataset.stages` of a folder data set: ``switch`` (rebuild the transforms
    with ``load_size = crop_size``) at ``full_view_after`` of the run, on the train split only."""
    if split != "train" or config.full_view_after is None:
        return {}
    return {round(config.full_view_after * total): switch}
