"""Rebuild a trained method from a run directory or a checkpoint, for inference and evaluation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganzoo.components import Method
from ganzoo.engine import checkpoint as ckpt
from ganzoo.errors import CheckpointError
from ganzoo.recipe import ResolvedRecipe, load_recipe


def find_run_dir(checkpoint_dir: Path) -> Path | None:
    """The run directory owning a checkpoint (the one with recipe.toml above it)."""
    for parent in [checkpoint_dir, *checkpoint_dir.parents][:3]:
        if (parent / "recipe.toml").is_file():
            return parent
    return None


def load_trained(
    path: Path | str, *, device: torch.device | str = "cpu", check_data: bool = False, ema: bool = True
) -> tuple[ResolvedRecipe, Method, Path]:
    """(resolved recipe, method with trained weights in eval mode, checkpoint dir) from a run
    directory, its checkpoints folder or one checkpoint directory.

    When the run kept a moving average of the generators (``train.ema``), its weights replace
    the generators' (they are what the run evaluated and sampled with); ``ema=False`` loads
    the last trained weights instead."""
    directory = ckpt.resolve_checkpoint(Path(path))
    run_dir = find_run_dir(directory)
    if run_dir is None:
        raise CheckpointError(f"{directory}: no recipe.toml found in it or the run directory above it")
    resolved = load_recipe(run_dir / "recipe.toml", check_data=check_data)
    method = resolved.build_method()
    ckpt.load_weights(directory, method)
    if ema and (directory / ckpt.EMA_WEIGHTS).is_file():
        load_ema(directory, method)
    return resolved, method.to(device).eval(), directory


def load_ema(directory: Path, method: Method) -> None:
    """Load ``ema.safetensors`` (keys ``<generator name>.<parameter>``) into the generators."""
    ckpt.load_weights(directory, nn.ModuleDict(dict(method.generators())), filename=ckpt.EMA_WEIGHTS)
