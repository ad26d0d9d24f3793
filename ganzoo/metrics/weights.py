"""Finding pretrained weight files that ganzoo never downloads by itself.

Metrics need published weights (FID's Inception, LPIPS' backbone). Runs must not depend on a
network, so the files come from an explicit path, an environment variable or torch's hub
cache, and a missing file is one message that says what to fetch and where it was looked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganzoo.errors import GanzooError


def find_weights(
    candidates: Sequence[Path], *, explicit: bool, label: str, needs: str, url: str, option: str, env: str
) -> Path:
    """The first existing candidate. ``explicit``: the first candidate was named by the user, so
    its absence is an error even if a later candidate exists."""
    if explicit and not candidates[0].is_file():
        raise GanzooError(f"{label}: {candidates[0]} does not exist (download it from {url})")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise GanzooError(
        f"{needs}, which were not found (looked in: {looked}). Download {url} and pass it with {option} PATH, "
        f"set ${env}, or put it in {Path(torch.hub.get_dir()) / 'checkpoints'}"
    )
