"""The abstract interfaces every plugin implements: Generator, Discriminator, Loss, Dataset, Method.

The core knows these shapes and nothing about any concrete model. A component class carries
its pydantic ``Config``; the registry builds it as ``cls(config)`` (datasets also get a split).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ganzoo.config import ComponentConfig
from ganzoo.errors import GanzooError
from ganzoo.optim import OptimizerConfig, ScheduleConfig

Batch = dict[str, Any]
"""A training batch: ``{"A": Tensor, "B": Tensor, ...}``, images in [-1, 1], NCHW."""

Direction = Literal["a2b", "b2a"]


class GeneratorConfig(ComponentConfig):
    input_nc: int = Field(3, gt=0, description="Channels of the input image.")
    output_nc: int = Field(3, gt=0, description="Channels of the output image.")


class Generator(nn.Module, abc.ABC):
    """An image-to-image network: (N, input_nc, H, W) in [-1, 1] -> (N, output_nc, H, W)."""

    Config: ClassVar[type[ComponentConfig]] = GeneratorConfig

    def __init__(self, config: ComponentConfig):
        super().__init__()
        self.config = config

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this (translate pads to it)."""
        return 1

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor: ...

    def feature_layers(self) -> dict[str, int]:
        """The intermediate features this generator offers to losses that compare them (PatchNCE),
        by name -> channels, in the order the forward pass computes them. Empty by default: a
        generator opts in by overriding this and :meth:`compute_features`.

        Named, not indexed, so a loss never depends on how a network lays out its modules."""
        return {}

    def features(self, x: Tensor, layers: Sequence[str], **conditions: Any) -> list[Tensor]:
        """The named intermediate features of ``x``, in the order of ``layers``; the forward pass
        stops after the last one it needs. ``conditions`` are passed on for a generator that takes
        more than the image (UNSB's time step ``t`` and noise ``z``). Raises :class:`GanzooError`
        for a generator that offers none, or for a name it does not offer."""
        offered = self.feature_layers()
        name = type(self).__name__
        if not offered:
            raise GanzooError(f"generator {name} offers no intermediate features (feature_layers() is empty), so "
                              "it cannot be used with a feature loss such as PatchNCE; choose one that does, "
                              "e.g. resnet_9blocks")
        unknown = [layer for layer in layers if layer not in offered]
        if unknown or not layers:
            asked = f"unknown feature layer(s) {', '.join(map(repr, unknown))}" if unknown else "no feature layer asked"
            raise GanzooError(f"generator {name}: {asked}; it offers {', '.join(offered)}")
        return self.compute_features(x, list(layers), **conditions)

    def compute_features(self, x: Tensor, layers: list[str], **conditions: Any) -> list[Tensor]:
        """Implementation of :meth:`features` for generators that offer features; ``layers`` are
        already checked against :meth:`feature_layers`."""
        raise NotImplementedError(f"{type(self).__name__} lists feature layers but does not compute them")


class DiscriminatorConfig(ComponentConfig):
    input_nc: int = Field(3, gt=0, description="Channels of the judged image (6 for a concatenated pair).")


class Discriminator(nn.Module, abc.ABC):
    """Scores images; returns a score map, or a list of them for multi-scale discriminators."""

    Config: ClassVar[type[ComponentConfig]] = DiscriminatorConfig

    def __init__(self, config: ComponentConfig):
        super().__init__()
        self.config = config

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor | list[Tensor]: ...


class LossConfig(ComponentConfig):
    weight: float = Field(1.0, ge=0, description="Multiplier of this term in the total loss; 0 disables it.")


class Loss(nn.Module, abc.ABC):
    """A weighted loss term. ``name`` is what logs call it (the recipe slot it fills)."""

    Config: ClassVar[type[ComponentConfig]] = LossConfig

    def __init__(self, config: ComponentConfig, name: str | None = None):
        super().__init__()
        self.config = config
        self.name = name or type(self).__name__

    @property
    def weight(self) -> float:
        return float(getattr(self.config, "weight", 1.0))

    @property
    def enabled(self) -> bool:
        return self.weight != 0.0


class ReconstructionLoss(Loss):
    """A distance between an output and its target (cycle, identity, reconstruction terms)."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.weight * self.distance(output, target)

    @abc.abstractmethod
    def distance(self, output: Tensor, target: Tensor) -> Tensor: ...


def _as_list(pred: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [pred] if isinstance(pred, Tensor) else list(pred)


class AdversarialLoss(Loss):
    """A GAN objective. It calls the discriminator itself so that penalties on D (WGAN-GP, R1)
    fit the same interface; multi-scale outputs are summed over scales."""

    def generator_loss(self, discriminator: nn.Module, fake: Tensor) -> Tensor:
        preds = _as_list(discriminator(fake))
        return self.weight * sum(self.generator_term(p) for p in preds)

    def discriminator_loss(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """Loss of D on a real and a (detached) fake batch, including any penalty."""
        fake = fake.detach()
        real_preds = _as_list(discriminator(real))
        fake_preds = _as_list(discriminator(fake))
        total = sum(self.discriminator_term(r, f) for r, f in zip(real_preds, fake_preds, strict=True))
        return self.weight * (total + self.penalty(discriminator, real, fake))

    @abc.abstractmethod
    def generator_term(self, fake_pred: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor: ...

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor | float:
        return 0.0


class DatasetConfig(ComponentConfig):
    """Datasets share no required field; each declares its own (root, size, ...)."""


class Dataset(torch.utils.data.Dataset, abc.ABC):
    """Items are dicts of CHW tensors in [-1, 1] with keys ``"A"`` and ``"B"``.

    ``paired`` says whether ``A`` and ``B`` of one item show the same content, so a
    translation can be scored against ground truth.
    """

    Config: ClassVar[type[ComponentConfig]] = DatasetConfig
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def __init__(self, config: ComponentConfig, split: str = "train"):
        self.config = config
        self.split = split

    @property
    def paired(self) -> bool:
        return False

    @classmethod
    def check_source(cls, config: ComponentConfig, split: str = "train") -> None:
        """Raise :class:`ganzoo.errors.DataError` if the data is not where the config says.

        Called by ``ganzoo validate`` and before a run starts, so a missing folder fails in
        seconds, not after the networks are built.
        """

    def stages(self, total: int) -> dict[int, Callable[[], None]]:
        """Changes of this data set during a ``total``-iteration run: iteration -> a call that
        makes the change, from that iteration's batch on (CUT's full-view images in the decay
        phase). The engine restarts its loader there, so worker processes see the change, and a
        resumed run past an iteration makes it first. None by default."""
        return {}

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Batch: ...


@dataclass(frozen=True)
class Slot:
    """A component a method needs: its kind, the default choice and the defaults the method
    prefers for that component's config (e.g. weight 10 for CycleGAN's cycle loss)."""

    kind: str
    default: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    help: str = ""


@dataclass
class TrainStep:
    """One optimisation step of an iteration: ``compute(batch)`` returns named, already weighted
    loss terms; the engine sums them, back-propagates and steps ``optimizer`` (and the optimizers
    named in ``also``, from the same loss). Parameters of ``frozen`` modules get no gradient
    during the step (D during the G step)."""

    name: str
    optimizer: str
    compute: Callable[[Batch], Mapping[str, Tensor]]
    frozen: Sequence[nn.Module] = ()
    repeat: int = 1
    also: Sequence[str] = ()
    """Further param groups stepped by the same loss, each keeping its own optimizer, learning
    rate and clipping: CUT's projection heads (group ``F``) learn in the generator's step."""

    @property
    def optimizers(self) -> tuple[str, ...]:
        return (self.optimizer, *self.also)


class MethodConfig(ComponentConfig):
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="Optimizer of every group.")
    lr_by_group: dict[str, float] = Field(
        default_factory=dict,
        description="Per-group learning rates overriding optimizer.lr, e.g. {D = 4e-4} (two time-scale).",
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="Learning-rate schedule.")


Parts = Mapping[str, Callable[..., Any]]
"""Slot name -> a factory returning a fresh, configured instance of the chosen component;
keyword arguments change config fields for that instance only (CycleGAN builds G_B with
``input_nc`` and ``output_nc`` swapped)."""


class Method(nn.Module, abc.ABC):
    """A training algorithm (CycleGAN, UNIT, ...): its math and nothing else. The engine owns
    devices, precision, processes, the loop, logging, evaluation and checkpoints.

    A subclass implements:

    - ``Config``: a :class:`MethodConfig` subclass with the method's hyper-parameters and its
      reference optimizer and schedule defaults (only where they differ from the engine's).
    - ``slots``: the components it composes, by recipe table (``{"generator": Slot(...)}``).
    - ``__init__(config, parts)``: build each slot with ``parts[name]()``, once per network.
    - ``param_groups()``: optimizer name -> parameters (``{"G": [...], "D": [...]}``).
    - ``train_steps()``: the steps of one iteration, each a :class:`TrainStep` returning named,
      weighted loss terms; which modules are frozen during it; which optimizer it steps.
    - ``translate(x, direction)``: inference, one domain into the other.

    Optionally: ``directions``, ``requires_paired`` and ``test_mode`` (class attributes),
    ``generators()`` when the inference networks are not the direct ``Generator`` children,
    ``visuals()`` for sample grids, and ``extra_state()``/``load_extra_state()`` for
    non-parameter state (image pools). A method whose inference is a chain of generator calls
    (UNSB) sets ``inference_steps``/``max_inference_steps``, accepts ``translate(x, direction,
    steps=N)``, and gives ``export_module()`` a deterministic path to export.
    """

    Config: ClassVar[type[ComponentConfig]] = MethodConfig
    slots: ClassVar[Mapping[str, Slot]] = {}
    directions: ClassVar[tuple[str, ...]] = ("a2b", "b2a")
    """The directions ``translate`` supports (pix2pix learns only A->B)."""
    requires_paired: ClassVar[bool] = False
    """True when training needs aligned pairs; the engine refuses unpaired data up front."""
    test_mode: ClassVar[Literal["eval", "train"]] = "eval"
    """How the networks run at test time, as the method's reference tests them: ``eval``
    (running statistics, no dropout), or ``train`` (dropout on and batch-norm statistics of
    each test image: the pix2pix paper's protocol, the reference's batch of 1). Translate and
    evaluate use it (see :func:`ganzoo.inference.testing`); export writes the eval graph."""
    inference_steps: int | None = None
    """For a method whose inference is a chain of generator calls that may stop early (UNSB):
    how many calls (NFE) ``translate`` makes by default. ``None`` (every single-step method):
    ``translate`` takes no ``steps``. A method that sets it (on the instance, from its config)
    accepts ``translate(x, direction, steps=N)`` for ``1 <= N <= max_inference_steps``; the
    CLI's ``--steps`` checks that range (:func:`ganzoo.inference.check_steps`)."""
    max_inference_steps: int | None = None
    """The largest ``steps`` the method's ``translate`` accepts (UNSB: its T)."""
    stochastic_inference: ClassVar[bool] = False
    """True when ``translate`` draws random numbers (UNSB's noise). Translate and evaluate then
    run each image alone after seeding torch with a fixed seed, so a translation is repeatable
    and independent of the batch, and the caller's random state is left untouched."""

    def __init__(self, config: ComponentConfig, parts: Parts):
        super().__init__()
        self.config = config

    @abc.abstractmethod
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Optimizer name -> its parameters, e.g. ``{"G": [...], "D": [...]}``."""

    @abc.abstractmethod
    def train_steps(self) -> list[TrainStep]:
        """The steps of one iteration, in order."""

    @abc.abstractmethod
    def translate(self, x: Tensor, direction: Direction = "a2b") -> Tensor:
        """Deterministic inference: an image batch of one domain into the other."""

    def export_module(self, direction: Direction = "a2b") -> tuple[nn.Module, str] | None:
        """What ``ganzoo export`` writes when ``translate`` is not a deterministic function of its
        input (random or multi-step inference): a module computing a deterministic path, and a
        sentence saying which. ``None`` (the default): export ``translate`` itself."""
        return None

    def generators(self) -> dict[str, nn.Module]:
        """The networks used at inference, by name (exported, averaged with EMA)."""
        return {n: m for n, m in self.named_children() if isinstance(m, Generator)}

    def visuals(self) -> dict[str, Tensor]:
        """Images of the last iteration to show in sample grids, in [-1, 1]."""
        return {}

    def optimizer_config(self, group: str) -> OptimizerConfig:
        config = self.config.optimizer  # type: ignore[attr-defined]
        lr = self.config.lr_by_group.get(group)  # type: ignore[attr-defined]
        return config if lr is None else config.merged(lr=lr)

    def extra_state(self) -> dict[str, Any]:
        """Non-parameter training state to checkpoint (e.g. image pools): tensors and primitives."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        pass
