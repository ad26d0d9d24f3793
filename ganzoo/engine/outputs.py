"""What a run leaves on disk besides checkpoints: the JSONL log and sample grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.utils import save_image


class JsonlLog:
    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (from a run that crashed after its last checkpoint)."""
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))


def save_grid(visuals: dict[str, Tensor], path: Path, max_items: int = 4) -> Path | None:
    """One row per example, one column per visual (real_A, fake_B, rec_A, ...)."""
    images = [v[:max_items].detach().float().cpu() for v in visuals.values() if v.dim() == 4]
    if not images:
        return None
    images = [i.expand(-1, 3, -1, -1) if i.shape[1] == 1 else i[:, :3] for i in images]
    n = min(i.shape[0] for i in images)
    size = images[0].shape[-2:]
    images = [torch.nn.functional.interpolate(i[:n], size=size) if i.shape[-2:] != size else i[:n]
              for i in images]
    grid = torch.stack(images, 1).flatten(0, 1)  # example-major
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid * 0.5 + 0.5, path, nrow=len(images), padding=2, pad_value=1.0)
    return path
