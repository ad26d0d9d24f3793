"""Translate large images tile by tile, so memory stays bounded whatever the image size.

A 2K photo up-scaled x4 by RRDBNet needs tens of GB of activations in one piece. Instead, the
image is cut into ``tile`` x ``tile`` cores; each core is translated together with ``overlap``
pixels of context on every side (fewer at the image border, where the untiled network saw the
border too), and only the core's part of the output is kept. A network whose receptive field
reaches at most ``overlap`` pixels gives exactly the untiled result; a deeper one differs only
in a thin band at the seams, by what the missing far context would have added. Not specific to
super-resolution: the output scale (1 for a translation, 4 for SR x4) is read off the first
tile's output. At most one tile's activations are alive at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ganzoo.errors import GanzooError


def tile_starts(length: int, tile: int) -> list[int]:
    """Start of each core along one side: every ``tile`` px, the last core ending at ``length``."""
    return list(range(0, max(length - tile, 0) + 1, tile)) + ([length - tile] if length > tile and
                                                                (length - tile) % tile else [])


def translate_tiled(fn: Callable[[Tensor], Tensor], x: Tensor, tile: int, overlap: int = 16,
                    multiple: int = 1) -> Tensor:
    """``fn(x)`` computed on overlapping tiles of ``x`` (N, C, H, W), stitched without blending.

    ``multiple``: tile and overlap are rounded up to multiples of it (a generator's stride), so
    that every tile's side can be one the network accepts. An image no larger than one tile is
    translated whole."""
    if tile <= 0:
        raise GanzooError(f"tile must be positive, got {tile}")
    tile, overlap = -(-tile // multiple) * multiple, -(-max(overlap, 0) // multiple) * multiple
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return fn(x)
    out: Tensor | None = None
    scale = 0
    for top in tile_starts(h, tile):
        for left in tile_starts(w, tile):
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(top + tile + overlap, h), min(left + tile + overlap, w)
            y = fn(x[..., t0:t1, l0:l1])
            if out is None:
                scale = y.shape[-1] // (l1 - l0)
                if scale < 1 or y.shape[-2:] != ((t1 - t0) * scale, (l1 - l0) * scale):
                    raise GanzooError(f"tiled translation: a {t1 - t0}x{l1 - l0} tile gave {tuple(y.shape[-2:])}; "
                                      "the output must be a whole multiple of the input")
                out = torch.empty(*y.shape[:-2], h * scale, w * scale, dtype=y.dtype, device=y.device)
            th, tw = min(tile, h - top), min(tile, w - left)
            core = y[..., (top - t0) * scale:(top - t0 + th) * scale, (left - l0) * scale:(left - l0 + tw) * scale]
            out[..., top * scale:(top + th) * scale, left * scale:(left + tw) * scale] = core
    assert out is not None
    return out
