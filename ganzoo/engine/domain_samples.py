"""Sample grids of multi-domain runs: each row is one fixed input translated to every domain.

Columns: the input (``real``), then one per target (the domain's name; for attribute data each
attribute changed on its own, as StarGAN's samples: :func:`ganzoo.data.labels.domain_targets`).
When the data draws every test scene in every domain (the built-in procedural set), each row
is followed by a row of its ground truths (blank under ``real``), so a reader sees the error.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganzoo.components import Method
from ganzoo.data.labels import domain_targets
from ganzoo.engine.evaluation import inference_mode


def domain_rows(method: Method, items: list[dict[str, Tensor]], kind: str, names: list[str],
                ema: Any = None) -> tuple[list[str], list[list[Tensor]]]:
    """Column names and rows (CHW in [-1, 1], on the CPU) of the grid of ``items``."""
    from ganzoo.inference import Translator

    labels: list[str] = []
    rows: list[list[Tensor]] = []
    with inference_mode(method, ema):
        for item in items:
            label = item[kind].long() if kind == "domain" else item[kind]
            row, names_ = [item["image"]], ["real"]
            for name, target in domain_targets(kind, names, label):
                out = Translator.from_method(method, "a2b", target=target)(item["image"][None])
                row.append(out[0].cpu())
                names_.append(name)
            rows.append(row)
            if "targets" in item:  # the ground truth under each output
                rows.append([torch.full_like(item["image"], 1.0), *item["targets"]])
            labels = labels or names_
    return labels, rows
