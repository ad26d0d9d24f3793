"""The engine's part of a recipe file: the ``[run]`` and ``[train]`` tables.

They live with the engine because they configure it (the loop, the runtime, reports,
evaluation, checkpoints); the recipe loader only validates them. Every default is a field
default, so ``ganzoo describe`` and the generated reference show the value a run gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ganzoo.data.augment import AugmentConfig
from ganzoo.engine.health_rules import HealthConfig
from ganzoo.engine.runtime import PrecisionName


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(Section):
    """Where the run goes and what makes it reproducible."""

    name: str | None = Field(None, description="Run name; the run directory is out_dir/name (default: file stem).")
    out_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, description="Seed of every random generator (python, numpy, torch, data order).")
    device: str = Field("auto", description="auto (CUDA when available), cpu, cuda or cuda:N.")


class TrainSection(Section):
    """How long and how the engine trains, logs, samples and checkpoints."""

    iterations: int | None = Field(1000, gt=0, description="Length of the run in iterations.")
    epochs: int | None = Field(
        None, gt=0, description="Length of the run in passes over the data, instead of iterations.")
    max_seconds: float | None = Field(
        None, gt=0,
        description="Wall-clock budget: stop at the first iteration that ends past this many seconds of training "
        "(evaluations not counted; counted across resumes), then end as at the run's length (final checkpoint and "
        "evaluation). The length (iterations or epochs) still bounds the run and lays out the schedule.")
    batch_size: int = Field(1, gt=0, description="Images per domain per iteration.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    log_every: int = Field(50, gt=0, description="Iterations between JSONL log lines.")
    sample_every: int = Field(500, ge=0, description="Iterations between sample grids (0: only at the end).")
    checkpoint_every: int = Field(1000, ge=0, description="Iterations between checkpoints (0: only at the end).")
    keep_last: int = Field(3, gt=0, description="Periodic checkpoints kept on disk.")
    eval_every: int = Field(0, ge=0, description="Iterations between evaluations (0: at start and end only).")
    eval_items: int = Field(64, ge=2, description="Test items used by each evaluation (the first ones).")
    eval_metrics: list[str] | None = Field(
        None,
        description="Registered metrics of each evaluation on the test split, computed exactly as ganzoo "
        "evaluate computes them (see: ganzoo list-components metric); unset: psnr and ssim on a paired test "
        "split, fid and kid on an unpaired one; metrics that need pairs are skipped on an unpaired split, and "
        "those whose weights are missing with one warning at start; [] disables evaluation.",
    )
    eval_options: dict[str, dict[str, Any]] = Field(
        {}, description="Settings of the evaluated metrics by name, as ganzoo evaluate's --metric-option "
        "(e.g. {kid = {num_subsets = 50}})."
    )
    precision: PrecisionName = Field(
        "fp32",
        description="Autocast precision of each step's forward pass and losses: fp32, bf16, fp16 (one gradient "
        "scaler per optimizer) or auto (bf16 on GPUs that have it, fp16 on older ones, fp32 on a CPU).",
    )
    channels_last: bool = Field(
        False, description="NHWC memory format for networks and batches (faster convolutions on tensor cores)."
    )
    compile: bool | Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        False,
        description="torch.compile every generator and discriminator in place (true = mode 'default'). "
        "Discriminators of losses with a gradient penalty (wgangp) stay eager.",
    )
    cudnn_benchmark: bool = Field(
        True, description="Let cuDNN pick the fastest convolution algorithms for the input shapes (CUDA only)."
    )
    persistent_workers: bool = Field(True, description="Keep DataLoader workers alive between epochs.")
    prefetch_factor: int = Field(4, gt=0, description="Batches each DataLoader worker loads ahead.")
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig,
        description="Augmentation of each batch on the device before the steps (same draw for A and B of paired "
        "data); empty policy: none.",
    )
    ema: float = Field(
        0.0, ge=0, lt=1,
        description="Decay of an exponential moving average of the generators' weights (e.g. 0.999; 0 disables). "
        "When on, evaluation, samples and exported weights use the average.",
    )
    grad_clip: float = Field(0.0, ge=0, description="Largest gradient norm per optimizer step (0 disables).")
    best_metric: str | None = Field(
        None,
        description="Score whose best value keeps checkpoints/best (with eval_every > 0): DIRECTION/KEY as ganzoo "
        "evaluate reports it, from one of eval_metrics; unset: a2b/psnr on a paired test split, a2b/fid on an "
        "unpaired one (else the first evaluated score); multi-domain runs: mean/psnr (the mean over domain pairs) or "
        "SOURCE2TARGET/KEY; \"\" disables.",
    )
    best_mode: Literal["max", "min"] | None = Field(
        None, description="Whether best_metric is better high or low; unset: as its metric says (fid: min).")
    check_finite_every: int = Field(
        1, gt=0,
        description="Iterations between checks that every loss is finite (each check waits for the GPU); "
        "checks also run before every checkpoint, so no checkpoint ever holds non-finite weights.",
    )
    loggers: list[str] = Field(
        ["auto"],
        description="Where scalars and sample grids also go, besides metrics.jsonl: auto (tensorboard when it is "
        "installed, else csv, without a warning: as PyTorch Lightning's default), tensorboard (run_dir/tensorboard; "
        "pip install 'ganzoo[tensorboard]'), csv (run_dir/metrics.csv), wandb (pip install 'ganzoo[wandb]'; "
        "WANDB_MODE=offline works without an account). A missing package is one warning at start.",
    )
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="The health monitor: signals logged each log window and rules that warn (see: ganzoo doctor).")

    @model_validator(mode="before")
    @classmethod
    def _one_length(cls, values: Any) -> Any:
        """``epochs`` replaces the default ``iterations``; giving both is a mistake."""
        if isinstance(values, dict) and values.get("epochs") is not None:
            if values.get("iterations") is not None:
                raise ValueError("give iterations or epochs, not both")
            values = {**values, "iterations": None}
        return values

    @model_validator(mode="before")
    @classmethod
    def _tensorboard_flag(cls, values: Any) -> Any:
        """``tensorboard = false`` (ganzoo 0.2 and earlier) is ``loggers`` without tensorboard."""
        if isinstance(values, dict) and "tensorboard" in values:
            values = dict(values)
            on = values.pop("tensorboard")
            loggers = [n for n in values.get("loggers", []) if n not in ("tensorboard", "auto")]
            values["loggers"] = ["tensorboard", *loggers] if on else loggers
        return values

    @field_validator("loggers")
    @classmethod
    def _known_loggers(cls, value: list[str]) -> list[str]:
        from ganzoo.engine.loggers import LOGGERS

        unknown = [name for name in value if name not in LOGGERS and name != "auto"]
        if unknown:
            raise ValueError(f"unknown logger '{unknown[0]}' (known: {', '.join(LOGGERS)})")
        return list(dict.fromkeys(value))

    @field_validator("best_metric")
    @classmethod
    def _score_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().removeprefix("eval/")
        old = re.fullmatch(r"(\w+)_(a2b|b2a)", value)  # runs of ganzoo 0.1 wrote eval/psnr_a2b
        if old:
            value = f"{old[2]}/{old[1]}"
        if value and not re.fullmatch(r"\w+/\w+", value):  # multi-domain runs: mean/psnr, warm2cool/psnr
            raise ValueError("must be DIRECTION/KEY such as 'a2b/psnr' (as ganzoo evaluate reports), or \"\"")
        return value


class InitSection(Section):
    """Where a new run's generators start from: the weights of an earlier run (ESRGAN's GAN stage
    starts from the PSNR stage's generator). Only the generators are loaded, into the
    networks of the same name (``G``...); discriminators, optimizers, schedule and step start
    fresh. A resumed run restores its own checkpoint instead."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    from_: str | None = Field(None, alias="from", description="A run directory (its latest checkpoint), its "
                              "checkpoints/ folder or one checkpoint directory, e.g. \"runs/sr_psnr\".")
    ema: bool = Field(True, description="Take the source's moving average of the generators when it kept one "
                      "(what it evaluated with), else its trained weights.")
    generators: list[str] | None = Field(None, description="Generators to load (names as the method's "
                                         "generators(): G, G_A...); unset: every one the source has.")


SECTIONS = {"run": RunSection, "train": TrainSection, "init": InitSection}

RESUMABLE = ("train.iterations", "train.epochs", "train.max_seconds", "train.log_every", "train.sample_every",
             "train.checkpoint_every", "train.keep_last", "train.eval_every", "train.eval_items", "train.num_workers",
             "train.persistent_workers", "train.prefetch_factor", "train.check_finite_every", "train.tensorboard")
"""What ``ganzoo resume --set`` may change: how long the run goes on, and how it loads data and
reports. Everything else (networks, losses, optimizers, data, batch size, precision, seed,
device) would make the checkpoint disagree with the recipe it is resumed under, so the
continued run would be neither the old one nor a new one."""


def check_resumable(changes: Iterable[Any], run_dir: Any = "RUN_DIR") -> None:
    """Refuse, all at once, the changes (``ganzoo.overrides.Change``) a resumed run cannot take."""
    from ganzoo.errors import RecipeError, RecipeIssue

    issues = [RecipeIssue(c.key, "cannot change when resuming", c.origin) for c in changes if c.key not in RESUMABLE]
    if issues:
        issues.append(RecipeIssue("", f"a resumed run may change only {', '.join(RESUMABLE)}; to train with other "
                                      f"values, start a new run from its recipe: ganzoo run {run_dir}/recipe.toml "
                                      "--set ... --out NEW_DIR", "ganzoo resume"))
        raise RecipeError(issues)
