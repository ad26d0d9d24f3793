"""Checkpoints that survive crashes and never execute code when loaded.

A checkpoint is a directory: ``model.safetensors`` (every network's weights, keys as in the
recipe's ``state_dict``), optionally ``ema.safetensors`` (the moving average of the generators,
keyed ``<generator name>.<parameter>``), ``state.pt`` (optimizers, schedulers, gradient scalers,
RNG, step and recipe state: tensors and primitives only, read with
``torch.load(weights_only=True)``) and ``meta.json``. It is written under a temporary name and
renamed into place, so a crash mid-save leaves the previous checkpoints intact.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from ganzoo.engine.run_dir import pid_alive
from ganzoo.errors import CheckpointError

FORMAT = 1
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
STATE = "state.pt"
META = "meta.json"
LATEST = "latest"


class CheckpointWarning(UserWarning):
    """A checkpoint was used in place of the one asked for (the named one is incomplete)."""


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [x.tolist() if isinstance(x, np.ndarray) else x for x in np.random.get_state()],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, pos = state["python"]
    random.setstate((version, tuple(keys), pos))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    *,
    step: int,
    model: torch.nn.Module,
    state: dict[str, Any],
    meta: dict[str, Any],
    extra_weights: Mapping[str, torch.nn.Module] | None = None,
    files: Mapping[str, str] | None = None,
    point_latest: bool = True,
) -> Path:
    """Write a checkpoint directory atomically and (unless ``point_latest`` is false, as for
    ``best``) point ``latest`` at it. ``extra_weights`` maps further file names (``ema.safetensors``)
    to modules saved like the model; ``files`` maps names to text (the run's ``recipe.toml``, so
    every checkpoint can rebuild its method on its own).

    A failed write (a full disk) removes its temporary folder and leaves every earlier
    checkpoint, and ``latest``, as they were."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        save_model(model, str(tmp / WEIGHTS))
        for filename, module in (extra_weights or {}).items():
            save_model(module, str(tmp / filename))
        torch.save({"format": FORMAT, "step": step, **state}, tmp / STATE)
        for filename, text in (files or {}).items():
            (tmp / filename).write_text(text)
        (tmp / META).write_text(json.dumps({"format": FORMAT, "step": step, "time": time.time(), **meta}, indent=2))
    except Exception as exc:
        written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) if tmp.is_dir() else 0
        shutil.rmtree(tmp, ignore_errors=True)
        if _disk_full(exc):
            free = shutil.disk_usage(directory.parent).free
            kept = latest_complete(directory.parent)
            raise CheckpointError(
                f"no space left on the disk of {directory.parent} while writing {directory.name} "
                f"({written / 2**20:.0f} MB written before it failed, {free / 2**20:.0f} MB free now); "
                + (f"the last good checkpoint, {kept}, is kept" if kept else "no checkpoint was written yet")
                + ". Free some space (or lower train.keep_last) and continue with ganzoo resume") from None
        raise
    if directory.exists():  # re-saving the same step (e.g. final == last periodic)
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    if point_latest:
        _write_atomic(directory.parent / LATEST, directory.name)
    return directory


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC from Python, or from safetensors' Rust writer ("No space left", "os error 28")."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left" in text or "os error 28" in text or "Disk quota exceeded" in text


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary folders of checkpoint writes whose process is gone (a kill -9 or a
    power cut mid-save leaves ``.NAME.tmp-PID``, tens of MB each); returns what was removed."""
    removed = []
    for tmp in folder.glob(".*.tmp-*") if folder.is_dir() else []:
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def resolve_checkpoint(path: Path | str) -> Path:
    """A checkpoint directory from itself, a run directory or a checkpoints folder."""
    path = Path(path)
    for folder in (path / "checkpoints", path):
        pointer = folder / LATEST
        if pointer.is_file():
            target = folder / pointer.read_text().strip()
            if (target / STATE).is_file():
                return target
            found = latest_complete(folder)
            if found:
                warnings.warn(f"{pointer} names {target.name}, which is incomplete or missing; using the newest "
                              f"complete checkpoint, {found.name}", CheckpointWarning, stacklevel=2)
                return found
    if (path / STATE).is_file():
        return path
    found = latest_complete(path / "checkpoints") or latest_complete(path)
    if found:
        return found
    raise CheckpointError(f"{path}: no checkpoint found (looked for {STATE} there and in checkpoints/)")


def latest_complete(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    done = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and (d / STATE).is_file()]
    return max(done, key=lambda d: step_of(d), default=None)


def step_of(directory: Path) -> int:
    try:
        return int(json.loads((directory / META).read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def load_state(directory: Path) -> dict[str, Any]:
    try:
        state = torch.load(directory / STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{directory}: {STATE} is missing; not a complete checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - unpickling refuses code, truncation, garbage
        raise CheckpointError(f"{directory / STATE}: cannot be read safely ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{directory / STATE}: not a ganzoo checkpoint of format {FORMAT}")
    return state


def load_weights(directory: Path, model: torch.nn.Module, *, strict: bool = True, filename: str = WEIGHTS) -> None:
    """Load ``directory/filename`` into ``model`` (shared tensors, channels_last and compiled
    modules included: keys and copies go through ``load_state_dict``)."""
    path = Path(directory) / filename
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except RuntimeError as exc:
        mismatches = re.findall(r"size mismatch for (\S+): copying a param with shape (torch.Size\(\[.*?\]\)) "
                                r"from checkpoint, the shape in current model is (torch.Size\(\[.*?\]\))", str(exc))
        if not mismatches:
            raise CheckpointError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from None
        name, saved, here = mismatches[0]
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        raise CheckpointError(
            f"{path}: does not fit this recipe's networks: {name} is {_shape(saved)} in the checkpoint "
            f"but {_shape(here)} here{more}; was it saved with other network sizes (ngf, ndf, blocks)?"
        ) from None
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files
        raise CheckpointError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from None
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{path}: does not fit this recipe's networks (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}); was it saved with another recipe or sizes?"
        )


def _shape(text: str) -> str:
    return text.removeprefix("torch.Size(").removesuffix(")")


def prune(folder: Path, keep_last: int, protect: set[str] = frozenset()) -> None:
    """Delete all but the newest ``keep_last`` periodic checkpoints (``step_*``)."""
    periodic = sorted((d for d in folder.glob("step_*") if d.is_dir()), key=step_of)
    for old in periodic[:-keep_last] if keep_last else periodic:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)
