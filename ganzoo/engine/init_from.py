"""``[init] from``: start a new run's generators from an earlier run's weights.

Two-stage recipes train a network for fidelity first and fine-tune it adversarially after
(ESRGAN: RRDB-PSNR, then the GAN stage from its generator). The second run is a new run: its
discriminator, optimizers, schedule and step count start fresh; only the generators' weights
come from the first. Works for any method: generators are matched by name (``G``, ``G_A``...,
as ``Method.generators()`` lists them), and a shape mismatch is reported per tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganzoo.components import Method
from ganzoo.engine import checkpoint as ckpt
from ganzoo.errors import CheckpointError, GanzooError


def _read(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files
        raise CheckpointError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def source_generators(path: str | Path, *, ema: bool = True) -> tuple[dict[str, dict[str, torch.Tensor]], Path]:
    """Generator name -> its state dict, from a run directory, checkpoints folder or checkpoint
    (the moving average when ``ema`` and the run kept one), and the checkpoint used."""
    directory = ckpt.resolve_checkpoint(Path(path))
    if ema and (directory / ckpt.EMA_WEIGHTS).is_file():
        flat = _read(directory / ckpt.EMA_WEIGHTS)  # keys "<generator>.<param>"
        names = {k.split(".", 1)[0] for k in flat}
    else:
        flat = _read(directory / ckpt.WEIGHTS)  # keys of the whole method: "<child>.<param>"
        names = {k.split(".", 1)[0] for k in flat}
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in names:
        out[name] = {k[len(name) + 1:]: v for k, v in flat.items() if k.startswith(name + ".")}
    return out, directory


def init_generators(method: Method, init: Any) -> list[str]:
    """Load the generators named by ``init`` (an ``InitSection``) into ``method``; returns their
    names. Raises a :class:`GanzooError` naming the run and the mismatch when they do not fit."""
    try:
        source, directory = source_generators(init.from_, ema=init.ema)
    except CheckpointError as exc:
        raise GanzooError(f"[init] from = {init.from_!r}: {exc}; train that run first (e.g. the PSNR stage before "
                          "the GAN stage), or point [init] from at its run directory or a checkpoint") from None
    targets = dict(method.generators())
    wanted = init.generators if init.generators is not None else [n for n in targets if n in source]
    if not wanted:
        raise GanzooError(f"[init] from = {init.from_!r}: {directory} holds none of this method's generators "
                          f"({', '.join(targets)}); it has {', '.join(sorted(source)) or 'no weights'}")
    for name in wanted:
        if name not in targets or name not in source:
            where = "this method" if name not in targets else str(directory)
            raise GanzooError(f"[init] generators: {name!r} is not a generator of {where}")
        own = targets[name].state_dict()
        bad = [f"{k}: {tuple(v.shape)} there, {tuple(own[k].shape)} here" for k, v in source[name].items()
               if k in own and v.shape != own[k].shape]
        missing = sorted(set(own) - set(source[name]))
        if bad or missing:
            detail = bad[0] if bad else f"missing {missing[:3]}"
            raise GanzooError(f"[init] from = {init.from_!r}: generator {name!r} of {directory} does not fit this "
                              f"recipe's ({detail}); were the networks built with other sizes?")
        targets[name].load_state_dict(source[name], strict=False)
    return wanted
