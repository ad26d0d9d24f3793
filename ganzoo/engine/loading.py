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
    """The run directory owning a checkpoint: the nearest folder at or above it that holds both
    ``recipe.toml`` and ``checkpoints/`` (a checkpoint folder holds a recipe.toml of its own)."""
    for parent in [checkpoint_dir, *checkpoint_dir.parents][:3]:
        if (parent / "recipe.toml").is_file() and (parent / "checkpoints").is_dir():
            return parent
    return None


def recipe_of(checkpoint_dir: Path) -> Path | None:
    """The recipe a checkpoint was trained with: its own copy (written since ganzoo 0.2), else
    its run directory's (or any recipe.toml up to two folders above, for copied layouts)."""
    run_dir = find_run_dir(checkpoint_dir)
    candidates = [checkpoint_dir, *([run_dir] if run_dir else []), *checkpoint_dir.parents[:2]]
    return next((c / "recipe.toml" for c in candidates if (c / "recipe.toml").is_file()), None)


def load_trained(
    path: Path | str, *, device: torch.device | str = "cpu", check_data: bool = False, ema: bool = True
) -> tuple[ResolvedRecipe, Method, Path]:
    """(resolved recipe, method with trained weights in eval mode, checkpoint dir) from a run
    directory, its checkpoints folder or one checkpoint directory.

    When the run kept a moving average of the generators (``train.ema``), its weights replace
    the generators' (they are what the run evaluated and sampled with); ``ema=False`` loads
    the last trained weights instead. A model folder (``ganzoo push``, ``ganzoo pretrained``:
    :mod:`ganzoo.sharing`) loads too; it holds only the generators it names."""
    from ganzoo.sharing import is_model_folder, load_model_folder

    if is_model_folder(path):
        return load_model_folder(path, device=device)
    directory = ckpt.resolve_checkpoint(Path(path))
    recipe = recipe_of(directory)
    if recipe is None:
        raise CheckpointError(f"{directory}: no recipe.toml found in it or the run directory above it")
    resolved = load_recipe(recipe, check_data=check_data)
    method = resolved.build_method()
    ckpt.load_weights(directory, method)
    if ema and (directory / ckpt.EMA_WEIGHTS).is_file():
        load_ema(directory, method)
    return resolved, method.to(device).eval(), directory


def load_ema(directory: Path, method: Method) -> None:
    """Load ``ema.safetensors`` (keys ``<generator name>.<parameter>``) into the generators."""
    ckpt.load_weights(directory, nn.ModuleDict(dict(method.generators())), filename=ckpt.EMA_WEIGHTS)
