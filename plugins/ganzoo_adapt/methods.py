"""The adaptation methods: ``task`` (source only, target oracle, pixel-level adaptation through
a trained translation run) and ``dann`` (feature-level adaptation by gradient reversal).

A task method's ``predict`` gives the task network's raw logits, which the task metrics score
(``ganzoo evaluate RUN`` reports ``b2a/miou``: the mIoU on the target domain's test images);
its ``translate`` draws the predicted classes as a colour image, so sample grids and
``ganzoo translate`` show what the model sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import ganzoo
from ganzoo_adapt.losses import dann_lambda, grad_reverse

PALETTE = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.4, 1.0], [1.0, 0.85, 0.1],
                        [0.8, 0.3, 0.9], [0.1, 0.85, 0.9], [1.0, 1.0, 1.0]])
"""Colours of classes 0.. (background black), in [0, 1]; repeated past the eighth class."""


class TaskOptimizerConfig(ganzoo.OptimizerConfig):
    """Adam as task networks are usually trained: lr 1e-3, betas (0.9, 0.999) (not the GAN defaults)."""

    lr: float = Field(1e-3, gt=0, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam (beta1, beta2).")


class TaskConfig(ganzoo.MethodConfig):
    optimizer: TaskOptimizerConfig = Field(default_factory=TaskOptimizerConfig, description="Adam of the task model.")
    labels: Literal["mask", "label"] = Field(
        "mask", description="The task: 'mask' segments (items' A_mask/B_mask, scored by miou), 'label' "
                            "classifies (A_label/B_label, scored by task_accuracy; use task_classifier).")


class TaskBase(ganzoo.Method):
    """What every task method shares: one task network, its predictions and their drawing."""

    Config = TaskConfig
    needs_task_labels = True
    """Training items carry task labels (``A_mask`` ... : docs/adaptation.md)."""

    def __init__(self, config: TaskConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.net = parts["task_network"]()
        self.task_loss = parts["task_loss"]()

    @property
    def task_metrics(self) -> tuple[str, ...]:
        """What ``ganzoo evaluate`` scores this run with unless told otherwise."""
        return ("miou",) if self.config.labels == "mask" else ("task_accuracy",)

    def labels_of(self, batch: ganzoo.Batch, domain: str) -> Tensor:
        key = f"{domain}_{self.config.labels}"
        if key not in batch:
            raise ganzoo.DataError(f"the training items carry no '{key}' task labels; with the procedural data set "
                                   "set data.task_labels = true, or use a labelled data set (docs/adaptation.md)")
        return batch[key]

    def param_groups(self) -> dict[str, list]:
        return {"T": list(self.net.parameters())}

    def predict(self, x: Tensor, direction: ganzoo.Direction = "b2a") -> Tensor:
        """Task logits of images ``x`` (of the domain ``direction`` starts from: one network serves both)."""
        return self.net(x)

    def translate(self, x: Tensor, direction: ganzoo.Direction = "a2b") -> Tensor:
        """The predicted classes drawn in :data:`PALETTE` colours, in [-1, 1]; a classifier's input unchanged."""
        logits = self.net(x)
        if logits.shape[-2:] != x.shape[-2:]:
            return x
        colours = PALETTE.to(x.device)[logits.argmax(1) % len(PALETTE)]  # (N, H, W, 3)
        return colours.permute(0, 3, 1, 2) * 2 - 1

    @property
    def stride(self) -> int:
        """Inputs are padded to multiples of the task network's stride (translate, evaluate)."""
        return self.net.stride

    def generators(self) -> dict[str, Any]:
        """None: a task model generates no images (its ``translate`` only draws predictions)."""
        return {}


class TaskMethodConfig(TaskConfig):
    train_on: Literal["source", "target"] = Field(
        "source", description="Whose labels train the model: 'source' (domain A: source only, and pixel-level "
                              "adaptation) or 'target' (domain B: the oracle, the upper bound).")
    translate_with: str | None = Field(
        None, description="A trained translation run (e.g. runs/quickstart): source images are translated by its "
                          "generator, without gradients, before the task model sees them (pixel-level adaptation, "
                          "CyCADA). None: the images as they are.")
    translate_direction: ganzoo.Direction = Field("a2b", description="The run's direction from source to target.")


class RunTranslator:
    """A trained translation run's generator applied to batches, frozen. Loaded on first use
    (with :func:`ganzoo.load`, its weight average when it kept one), so a task run can later be
    evaluated without the translation run; not a submodule, so never trained or checkpointed."""

    def __init__(self, source: str, direction: ganzoo.Direction = "a2b"):
        self.source, self.direction = source, direction
        self.model: Any = None

    def load(self, device: torch.device) -> Any:
        if self.model is None:
            if not Path(self.source).exists():
                raise ganzoo.GanzooError(f"method.translate_with: no run at '{self.source}'; train the translation "
                                         "first (e.g. ganzoo run recipes/quickstart.toml) and give its run directory")
            model = ganzoo.load(self.source, device=str(device))
            if self.direction not in model.directions:
                raise ganzoo.GanzooError(f"method.translate_with: run '{self.source}' translates "
                                         f"{', '.join(model.directions)} only, not {self.direction}")
            model.method.requires_grad_(False)
            self.model = model
        return self.model

    def __call__(self, x: Tensor) -> Tensor:
        model = self.load(x.device)
        with torch.no_grad():
            return model.translate(x, self.direction).to(x.device, x.dtype)


class TaskMethod(TaskBase):
    """Train a task model on one domain's labels: the source-only lower bound, the target oracle
    (``train_on = "target"``), or pixel-level adaptation (``translate_with``: source images
    translated into the target's style by a trained run, with an optional semantic-consistency term)."""

    Config = TaskMethodConfig
    slots = {
        "task_network": ganzoo.Slot("task_network", "seg_unet", help="The task model (seg_unet or task_classifier)."),
        "task_loss": ganzoo.Slot("loss", "task_ce", help="Cross-entropy on the labels (ignore index 255)."),
        "semantic_loss": ganzoo.Slot(
            "loss", "semantic_consistency", {"weight": 0.0},
            help="Prediction on the translated image ~ prediction on the source image (CyCADA); 0 disables."),
    }

    def __init__(self, config: TaskMethodConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.semantic_loss = parts["semantic_loss"]()
        if config.translate_with and config.train_on == "target":
            raise ganzoo.GanzooError("method.translate_with translates source images; it makes no sense with "
                                     "train_on = 'target' (the oracle)")
        self.translator = (RunTranslator(config.translate_with, config.translate_direction)
                           if config.translate_with else None)

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [ganzoo.TrainStep("task", "T", self.task_step)]

    def task_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        domain = "A" if self.config.train_on == "source" else "B"
        x, y = batch[domain], self.labels_of(batch, domain)
        if self.translator is None:
            return {"task": self.task_loss(self.net(x), y)}
        translated = self.translator(x)
        logits = self.net(translated)
        losses = {"task": self.task_loss(logits, y)}
        if self.semantic_loss.enabled:
            losses["semantic"] = self.semantic_loss(logits, self.net(x), multi_label=y.is_floating_point())
        return losses


class DANNConfig(TaskConfig):
    gamma: float = Field(10.0, gt=0, description="Speed of the schedule lambda = 2 / (1 + exp(-gamma p)) - 1.")
    schedule_iterations: int = Field(
        1000, gt=0, description="Iterations over which the progress p goes from 0 to 1: set it to train.iterations.")
    lambda_max: float = Field(1.0, ge=0, description="Scale of the reversed gradient at the end of the schedule.")
    align: Literal["last", "last+bottleneck"] = Field(
        "last", description="Features aligned: 'last' (what the head reads) or also the U-Net's bottleneck, with a "
                            "second domain classifier (seg_unet only).")


class DANN(TaskBase):
    """Domain-adversarial training (Ganin & Lempitsky 2015): the task model learns on labelled
    source images while a domain classifier, fed the task features through gradient reversal,
    tries to tell source from target features; the reversed gradient makes the features
    domain-invariant. One step: the task loss plus the domain classifier's cross-entropy."""

    Config = DANNConfig
    slots = {
        "task_network": ganzoo.Slot("task_network", "seg_unet", help="The task model (seg_unet or task_classifier)."),
        "domain_classifier": ganzoo.Slot("discriminator", "domain_classifier",
                                         help="Judges the task features' domain (input_nc set from the network)."),
        "task_loss": ganzoo.Slot("loss", "task_ce", help="Cross-entropy on the source labels."),
    }

    def __init__(self, config: DANNConfig, parts: ganzoo.Parts):
        super().__init__(config, parts)
        self.domain = parts["domain_classifier"](input_nc=self.net.feature_channels)
        self.domain_deep = None
        if config.align == "last+bottleneck":
            if not hasattr(self.net, "bottleneck_channels"):
                raise ganzoo.GanzooError("method.align = 'last+bottleneck' needs a task network with a bottleneck "
                                         "(seg_unet)")
            self.domain_deep = parts["domain_classifier"](input_nc=self.net.bottleneck_channels)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def param_groups(self) -> dict[str, list]:
        deep = [] if self.domain_deep is None else list(self.domain_deep.parameters())
        return {"T": [*self.net.parameters(), *self.domain.parameters(), *deep]}

    def train_steps(self) -> list[ganzoo.TrainStep]:
        return [ganzoo.TrainStep("task", "T", self.task_step)]

    @property
    def grl_lambda(self) -> float:
        c = self.config
        return c.lambda_max * dann_lambda(int(self.steps_done) / c.schedule_iterations, c.gamma)

    def task_step(self, batch: ganzoo.Batch) -> dict[str, Tensor]:
        source, target = batch["A"], batch["B"]
        deep: list[Tensor] | None = [] if self.domain_deep is not None else None
        x = torch.cat([source, target])  # one pass: batch norm sees both domains
        features = self.net.embed(x, deep) if deep is not None else self.net.embed(x)
        n, lam = len(source), self.grl_lambda
        losses = {"task": self.task_loss(self.net.head(features[:n]), self.labels_of(batch, "A")),
                  "domain": self.domain_loss(self.domain, features, n, lam)}
        if deep:
            losses["domain_deep"] = self.domain_loss(self.domain_deep, deep[0], n, lam)
        self.steps_done += 1
        return losses

    @staticmethod
    def domain_loss(classifier: torch.nn.Module, features: Tensor, n: int, lam: float) -> Tensor:
        """The domain classifier's cross-entropy on reversed features: the first ``n`` are source (0),
        the rest target (1)."""
        scores = classifier(grad_reverse(features, lam))
        domain = torch.cat([torch.zeros_like(scores[:n]), torch.ones_like(scores[n:])])
        return F.binary_cross_entropy_with_logits(scores, domain)
