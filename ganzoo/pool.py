"""A history of generated images that discriminators are trained on (Shrivastava et al. 2017).

Training D on a history of fakes rather than only the latest ones damps oscillation; CycleGAN
keeps 50 per domain. Randomness comes from torch's global generator, which the engine seeds
and checkpoints, so a resumed run draws the same images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Return a batch the size of ``images``: each item is the new image or, once the pool
        is full and with probability 0.5, a stored one that the new image replaces."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() > 0.5:
                index = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": [i.cpu() for i in self.images]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str | None = None) -> None:
        self.size = int(state["size"])
        self.images = [i.to(device) if device is not None else i for i in state["images"]]
