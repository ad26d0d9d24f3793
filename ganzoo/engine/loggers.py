"""Where a run's scalars and sample grids go besides ``metrics.jsonl``: TensorBoard, CSV, W&B.

``metrics.jsonl`` is the run's own record and is always written; these are views of the same
numbers for the tools people already use, chosen with ``train.loggers``. Each is a small class
with the :class:`Logger` methods, registered by name in :data:`LOGGERS` (a plugin may add one
with :func:`register_logger`). A logger whose package is not installed is not silently a no-op:
the run says so once, with the install command, and goes on without it.

Importing this module is cheap (the recipe loader validates ``train.loggers`` against it); each
logger imports its package when a run builds it.
"""

from __future__ import annotations

import csv
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Logger(Protocol):
    """What the reporter calls. ``values``: finite numbers by key (``G_A``, ``lr/G``,
    ``eval/a2b/fid``, ``speed/it_s``); ``image``: a labelled sample grid, an RGB ``PIL.Image``."""

    def scalars(self, step: int, values: Mapping[str, float]) -> None: ...

    def image(self, step: int, tag: str, image: Any) -> None: ...

    def close(self) -> None: ...


@dataclass
class LoggerContext:
    """What a logger is built from. ``resume_step``: the checkpoint step a resumed run restarts
    from (what a crashed run logged after it is dropped, as from ``metrics.jsonl``)."""

    run_dir: Path
    title: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    resume_step: int | None = None


class MissingPackage(Exception):
    """A logger's package is not installed; the message is the install advice."""


LoggerFactory = Callable[[LoggerContext], Logger]
LOGGERS: dict[str, LoggerFactory] = {}
"""Logger name (as in ``train.loggers``) -> factory."""


def register_logger(name: str, factory: LoggerFactory) -> None:
    LOGGERS[name] = factory


def build_loggers(names: list[str], context: LoggerContext, warn: Callable[[str], None]) -> list[Logger]:
    """The loggers named, in order; one warning per logger whose package is missing. ``auto``
    (the default) is tensorboard where it is installed and csv elsewhere, silently: a user who
    never asked for TensorBoard is not warned about it on every run."""
    built = []
    for name in names:
        if name == "auto":
            try:
                built.append(LOGGERS["tensorboard"](context))
            except MissingPackage:
                built.append(LOGGERS["csv"](context))
            continue
        try:
            built.append(LOGGERS[name](context))
        except MissingPackage as exc:
            warn(f"train.loggers: {name} is not installed, so the run logs nothing to it: {exc}")
    return built


def _loss_tag(key: str) -> str:
    return key if "/" in key else f"loss/{key}"


# --------------------------------------------------------------------------- TensorBoard


class TensorBoardLogger:
    """Scalars (``loss/*``, ``lr/*``, ``eval/*``, ``speed/*``) and sample grids in ``run_dir/tensorboard``."""

    def __init__(self, context: LoggerContext):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingPackage("pip install 'ganzoo[tensorboard]' (or set train.loggers = [])") from None
        self.writer = SummaryWriter(str(context.run_dir / "tensorboard"), purge_step=context.resume_step)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(_loss_tag(key), value, step)

    def image(self, step: int, tag: str, image: Any) -> None:
        import numpy as np

        self.writer.add_image(tag, np.asarray(image), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


# --------------------------------------------------------------------------- CSV

CSV_FILE = "metrics.csv"


class CSVLogger:
    """``run_dir/metrics.csv`` in long form, one ``step,name,value`` row per scalar: the columns
    never change as new keys appear (an evaluation, a plugin's loss), and any spreadsheet or
    ``pandas.pivot`` reads it. No images."""

    def __init__(self, context: LoggerContext):
        self.path = context.run_dir / CSV_FILE
        if context.resume_step is not None and self.path.exists():
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f)]
            keep = [rows[0], *(r for r in rows[1:] if r and int(r[0]) <= context.resume_step)] if rows else []
            with self.path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(keep)
        self.file = self.path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        if self.file.tell() == 0:
            self.writer.writerow(["step", "name", "value"])

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.writer.writerows([step, key, repr(float(value))] for key, value in values.items())
        self.file.flush()

    def image(self, step: int, tag: str, image: Any) -> None:
        pass

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------- Weights & Biases


class WandbLogger:
    """A W&B run (project ``$WANDB_PROJECT``, default ``ganzoo``) named after the run, with the
    recipe as its config, files under ``run_dir/wandb``. ``WANDB_MODE=offline`` logs without an
    account or network (``wandb sync`` uploads later). A resumed run continues the same W&B run:
    its id is kept in ``run_dir/wandb-id.txt``."""

    def __init__(self, context: LoggerContext):
        try:
            import wandb
        except ImportError:
            raise MissingPackage("pip install 'ganzoo[wandb]' (or remove wandb from train.loggers)") from None
        self.wandb = wandb
        id_file = context.run_dir / "wandb-id.txt"
        run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "ganzoo"), name=context.title or None,
                              id=run_id, resume="allow", dir=str(context.run_dir), config=context.config)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log({_loss_tag(k): v for k, v in values.items()}, step=step)

    def image(self, step: int, tag: str, image: Any) -> None:
        self.run.log({tag: self.wandb.Image(image)}, step=step)

    def close(self) -> None:
        self.run.finish()


register_logger("tensorboard", TensorBoardLogger)
register_logger("csv", CSVLogger)
register_logger("wandb", WandbLogger)


class Loggers:
    """All of a run's loggers as one: non-finite values are left out (they are not numbers to
    plot; ``metrics.jsonl`` keeps them as null), and nothing happens on ranks other than 0."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def scalars(self, step: int, values: Mapping[str, Any]) -> None:
        finite = {k: float(v) for k, v in values.items()
                  if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
        if finite:
            for logger in self.loggers:
                logger.scalars(step, finite)

    def image(self, step: int, tag: str, image: Any) -> None:
        for logger in self.loggers:
            logger.image(step, tag, image)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        self.loggers = []
