"""Sample grids a person can read and compare across steps.

Every grid of a run translates the *same* inputs: the first test items (or, without a test
split, the first training items drawn once with the run's seed), so that step 500 and step
5000 show the same scenes and progress is visible. Columns come from the method's
``translate`` alone, so every method gets the same labelled layout: ``real_A``, ``fake_B``
(A->B), ``rec_A`` (back to A, for methods with both directions), then the same from B; on
paired data ``real_B`` sits beside ``fake_B`` as its ground truth. Cells are scaled up with
nearest-neighbour to at least :data:`MIN_CELL` pixels (16 px data is unreadable as it is), and
the column names are drawn above them. With ``train.ema`` the translations are the average's,
as evaluation and export use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ganzoo.components import Dataset, Method
from ganzoo.engine.evaluation import inference_mode
from ganzoo.errors import GanzooError

SAMPLE_ITEMS = 4
"""Rows of a grid: the first items of the split."""
MIN_CELL = 128
"""Smallest side of one image in a grid, in pixels, after nearest-neighbour upscaling."""
_PAD, _HEADER = 4, 22


@dataclass
class SampleInputs:
    """The fixed inputs of a run's grids: items ``{"A": CHW, "B": CHW}`` in [-1, 1]."""

    items: list[dict[str, Tensor]]
    split: str
    paired: bool
    domains: tuple[str, list[str]] | None = None
    """Of multi-domain data: (label kind, names); each row is then one input in every domain."""

    @classmethod
    def build(cls, resolved: Any, train_set: Dataset, seed: int, n: int = SAMPLE_ITEMS) -> SampleInputs:
        """The first ``n`` test items; without a test split, the first ``n`` training items,
        transformed once under ``seed`` (training crops and flips are random) and kept."""
        dataset, split = train_set, "train"
        try:
            test_set = resolved.build_dataset("test")
            if len(test_set):
                dataset, split = test_set, "test"
        except GanzooError:
            pass
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            kind = getattr(dataset, "label_kind", None)
            keys = ("image", kind, "targets") if kind else ("A", "B")
            items = [{k: v.float() for k, v in dataset[i].items() if k in keys} for i in range(min(n, len(dataset)))]
        return cls(items, split, bool(getattr(dataset, "paired", False)),
                   (kind, list(dataset.domains)) if kind else None)

    def draw(self, method: Method, ema: Any = None) -> tuple[Any, list[str]]:
        """The labelled grid (a ``PIL.Image``) of ``method`` on these inputs, and its column names."""
        if self.domains is not None:
            from ganzoo.engine.domain_samples import domain_rows

            labels, rows = domain_rows(method, self.items, *self.domains, ema)
        else:
            labels, rows = translate_rows(method, self.items, self.paired, ema)
        return grid_image(labels, rows), labels


def translate_rows(method: Method, items: list[dict[str, Tensor]], paired: bool,
                   ema: Any = None) -> tuple[list[str], list[list[Tensor]]]:
    """Column names and, per item, the images of its row (CHW in [-1, 1], on the CPU)."""
    from ganzoo.inference import Translator

    directions = [d for d in ("a2b", "b2a") if d in method.directions]
    labels: list[str] = []
    rows: list[list[Tensor]] = []
    with inference_mode(method, ema):
        translate = {d: Translator.from_method(method, d) for d in directions}
        for item in items:
            row: list[Tensor] = []
            names: list[str] = []
            for direction, (src, dst) in (("a2b", ("A", "B")), ("b2a", ("B", "A"))):
                if direction not in translate:
                    continue
                real = item[src][None]
                fake = translate[direction](real)
                row += [real[0], fake[0].cpu()]
                names += [f"real_{src}", f"fake_{dst}"]
                back = "b2a" if direction == "a2b" else "a2b"
                if back in translate:
                    row.append(translate[back](fake)[0].cpu())
                    names.append(f"rec_{src}")
                elif paired:  # one direction only: the ground truth beside the output
                    row.append(item[dst])
                    names.append(f"real_{dst}")
            rows.append(row)
            labels = names
    return labels, rows


def grid_image(labels: list[str], rows: list[list[Tensor]], min_cell: int = MIN_CELL) -> Any:
    """One row per item, one labelled column per image; each cell the size of the first image,
    scaled up by a whole factor (nearest) so its smaller side is at least ``min_cell``."""
    from PIL import Image, ImageDraw

    h, w = rows[0][0].shape[-2:]
    scale = max(1, math.ceil(min_cell / min(h, w)))
    ch, cw = h * scale, w * scale
    cols = len(labels)
    canvas = Image.new("RGB", (cols * (cw + _PAD) + _PAD, _HEADER + len(rows) * (ch + _PAD) + _PAD), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for j, label in enumerate(labels):
        left, _, right, _ = draw.textbbox((0, 0), label, font=font)
        draw.text((_PAD + j * (cw + _PAD) + (cw - (right - left)) // 2, 4), label, fill="black", font=font)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            canvas.paste(_to_pil(image, (ch, cw)), (_PAD + j * (cw + _PAD), _HEADER + i * (ch + _PAD)))
    return canvas


def _to_pil(image: Tensor, size: tuple[int, int]) -> Any:
    from PIL import Image

    x = image.detach().float().cpu()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x[:3]
    x = torch.nn.functional.interpolate(x[None], size=size, mode="nearest")[0]
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels, "RGB")


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1: the small bitmap font only
        return ImageFont.load_default()
