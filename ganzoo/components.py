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
from pydantic import Field, field_validator
from torch import Tensor, nn

from ganzoo.batching import per_sample, same_sample_shape
from ganzoo.config import ComponentConfig
from ganzoo.data.augment import AugmentOp
from ganzoo.errors import GanzooError
from ganzoo.optim import OptimizerConfig, ScheduleConfig
from ganzoo.stabilisers import AdaptiveAugment, gradient_penalty, noise_std

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
    spectral_norm: bool = Field(
        False, description="Spectral normalisation of every conv and linear layer (Miyato et al. 2018), applied "
        "when the component is built; a checkpoint without it still loads.")


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


def _judge(discriminator: nn.Module, real: Tensor, fake: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """D's predictions on the real and on the fake batch: one call on both where D is a registered
    :class:`Discriminator` that treats samples independently (exactly the separate calls' results:
    :mod:`ganzoo.batching`), else two calls. A wrapper a method passes instead (StarGAN's, which
    keeps each call's class logits; UNSB's time-conditioned partial) is called as it expects."""
    if isinstance(discriminator, Discriminator) and same_sample_shape([real, fake]) and per_sample(discriminator):
        n, total = real.shape[0], real.shape[0] + fake.shape[0]
        preds = _as_list(discriminator(torch.cat([real, fake], 0)))
        if all(isinstance(p, Tensor) and p.dim() > 0 and p.shape[0] == total for p in preds):
            return [p[:n] for p in preds], [p[n:] for p in preds]
    return _as_list(discriminator(real)), _as_list(discriminator(fake))


def _as_list(pred: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [pred] if isinstance(pred, Tensor) else list(pred)


class AdversarialLossConfig(LossConfig):
    """The weight and the stabilisers every GAN objective offers (see :mod:`ganzoo.stabilisers`)."""

    r1_gamma: float = Field(
        0.0, ge=0, description="R1 penalty gamma/2 E||grad D(real)||^2 (Mescheder et al. 2018): StyleGAN2 uses 10, "
        "1 at 256 px, or 0.0002 x resolution^2 / batch; 0 disables.")
    r2_gamma: float = Field(0.0, ge=0, description="R2 penalty: the same on generated images; 0 disables.")
    reg_every: int = Field(
        16, ge=1, description="Lazy regularisation: R1/R2 every k-th iteration, scaled by k (StyleGAN2: 16).")
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="One-sided label smoothing: D's target for real images is 1 - s "
        "(Salimans et al. 2016: 0.1); lsgan and vanilla only.")
    instance_noise: float = Field(
        0.0, ge=0, description="Std of Gaussian noise added to D's real and fake inputs (images in [-1, 1]), e.g. "
        "0.1; 0 disables.")
    instance_noise_steps: int = Field(
        0, ge=0, description="Iterations over which instance_noise falls linearly to 0 (0: constant).")
    augment: list[AugmentOp] = Field(
        default_factory=list, description="Differentiable augmentation of D's real and fake inputs, e.g. "
        "\"color,translation,cutout\" (DiffAugment); empty: none.")
    augment_p: float = Field(
        1.0, ge=0, le=1, description="Probability of each augment operation per image (ADA's start value).")
    ada_target: float | None = Field(
        None, ge=0, le=1, description="Adaptive augmentation (StyleGAN2-ADA): adjust augment_p to hold "
        "r_t = E[sign(D(real))] near this target (reference 0.6); None keeps augment_p fixed.")
    ada_kimg: float = Field(
        500.0, gt=0, description="ADA speed: thousands of real images over which p can go from 0 to 1 (reference "
        "500; small runs need far less, e.g. 2).")
    ada_interval: int = Field(4, ge=1, description="D steps between ADA adjustments (reference 4).")

    @field_validator("augment", mode="before")
    @classmethod
    def _split_augment(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


AdversarialObserver = Callable[[nn.Module, list[Tensor], list[Tensor]], None]
"""Called with D and its (detached) scores on reals and fakes at every D step: how the engine's
health monitor sees D's logits and accuracy without the method's help."""


class AdversarialLoss(Loss):
    """A GAN objective. It calls the discriminator itself so that penalties on D (WGAN-GP, R1)
    and the stabilisers of :class:`AdversarialLossConfig` fit the same interface; multi-scale
    outputs are summed over scales.

    ``threshold`` is the D score between "real" and "fake" calls (LSGAN's targets are 1 and 0,
    so 0.5; logits 0): accuracy and ADA's r_t count scores against it. ``label_smoothing`` says
    whether ``discriminator_term`` honours :attr:`real_label`. The engine sets ``iteration`` (for
    lazy regularisation and noise annealing) and ``observers``.
    """

    Config: ClassVar[type[ComponentConfig]] = AdversarialLossConfig
    threshold: ClassVar[float] = 0.0
    label_smoothing: ClassVar[bool] = False

    def __init__(self, config: ComponentConfig, name: str | None = None):
        super().__init__(config, name)
        self.iteration = 1
        self.observers: list[AdversarialObserver] = []
        c = config
        if getattr(c, "label_smoothing", 0.0) and not self.label_smoothing:
            raise GanzooError(f"loss '{self.name}': label_smoothing works with lsgan and vanilla targets, not with "
                              f"{type(self).__name__}; set label_smoothing = 0")
        self.ada = None
        if getattr(c, "augment", None):
            self.ada = AdaptiveAugment(c.augment, c.augment_p, c.ada_target, c.ada_kimg, c.ada_interval)

    @property
    def real_label(self) -> float:
        """D's target for real images: 1, or 1 - label_smoothing."""
        return 1.0 - float(getattr(self.config, "label_smoothing", 0.0))

    @property
    def double_backward(self) -> bool:
        """Whether D's loss differentiates D's gradient (a penalty), which compiled graphs cannot do."""
        c = self.config
        return type(self).penalty is not AdversarialLoss.penalty or bool(
            getattr(c, "r1_gamma", 0) or getattr(c, "r2_gamma", 0))

    def d_input(self, x: Tensor) -> Tensor:
        """What D sees of an image: augmented (DiffAugment / ADA) and with instance noise."""
        if self.ada is not None:
            x = self.ada(x)
        c = self.config
        std = noise_std(getattr(c, "instance_noise", 0.0), getattr(c, "instance_noise_steps", 0), self.iteration)
        return x + std * torch.randn_like(x) if std > 0 else x

    def generator_loss(self, discriminator: nn.Module, fake: Tensor) -> Tensor:
        preds = _as_list(discriminator(self.d_input(fake)))
        return self.weight * sum(self.generator_term(p) for p in preds)

    def discriminator_loss(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """Loss of D on a real and a (detached) fake batch, including any penalty."""
        real, fake = self.d_input(real.detach()), self.d_input(fake.detach())
        real_preds, fake_preds = _judge(discriminator, real, fake)
        total = sum(self.discriminator_term(r, f) for r, f in zip(real_preds, fake_preds, strict=True))
        total = total + self.penalty(discriminator, real, fake) + self.regularisation(discriminator, real, fake)
        if self.ada is not None:
            self.ada.observe(real_preds, self.threshold, real.shape[0])
        if self.observers:
            detached_real, detached_fake = [p.detach() for p in real_preds], [p.detach() for p in fake_preds]
            for observe in self.observers:
                observe(discriminator, detached_real, detached_fake)
        return self.weight * total

    def regularisation(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor | float:
        """R1 and R2, lazily: every ``reg_every``-th iteration, times ``reg_every``."""
        c = self.config
        r1, r2, every = getattr(c, "r1_gamma", 0.0), getattr(c, "r2_gamma", 0.0), getattr(c, "reg_every", 1)
        if not (r1 or r2) or self.iteration % every:
            return 0.0
        out: Tensor | float = 0.0
        if r1:
            out = out + 0.5 * r1 * every * gradient_penalty(discriminator, real)
        if r2:
            out = out + 0.5 * r2 * every * gradient_penalty(discriminator, fake)
        return out

    @abc.abstractmethod
    def generator_term(self, fake_pred: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def discriminator_term(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor: ...

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor | float:
        return 0.0


class TaskNetworkConfig(ComponentConfig):
    input_nc: int = Field(3, gt=0, description="Channels of the input image.")
    output_nc: int = Field(4, gt=0, description="Number of classes (or labels, for multi-hot labels).")


class TaskNetwork(nn.Module, abc.ABC):
    """A downstream task model (segmenter, classifier) for domain adaptation (docs/adaptation.md):
    images (N, input_nc, H, W) in [-1, 1] -> logits, (N, output_nc, H, W) per pixel or
    (N, output_nc, 1, 1) per image. Not a generator: its outputs are not images.

    It splits into :meth:`embed` (the features the prediction is made from) and :meth:`head`
    (features -> logits), so feature-level adaptation can align what the prediction reads;
    ``feature_channels`` says how many channels :meth:`embed` gives."""

    Config: ClassVar[type[ComponentConfig]] = TaskNetworkConfig
    feature_channels: int = 0

    def __init__(self, config: ComponentConfig):
        super().__init__()
        self.config = config

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this."""
        return 1

    @abc.abstractmethod
    def embed(self, x: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def head(self, features: Tensor) -> Tensor: ...

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


class DatasetConfig(ComponentConfig):
    """Datasets share no required field; each declares its own (root, size, ...)."""


class Dataset(torch.utils.data.Dataset, abc.ABC):
    """Items are dicts of CHW tensors in [-1, 1] with keys ``"A"`` and ``"B"``.

    ``paired`` says whether ``A`` and ``B`` of one item show the same content, so a
    translation can be scored against ground truth.
    """

    Config: ClassVar[type[ComponentConfig]] = DatasetConfig
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    task: ClassVar[str] = "translation"
    """What the items are for: ``translation`` (two domains), ``multi-domain``,
    ``super-resolution``, ... Results of different tasks are not comparable, so ``ganzoo bench``
    groups the built-in quickstarts by their data set's task into one suite each."""
    label_kind: ClassVar[Literal["domain", "attributes"] | None] = None
    """None for two-domain data (items ``"A"`` and ``"B"``). A multi-domain data set's items are
    ``{"image": CHW, "domain": long scalar}`` (one domain per image, as AFHQ) or ``{"image": CHW,
    "attributes": float (K,) of 0/1}`` (several labels per image, as CelebA); its instances list
    the domain or attribute names, in label order, as ``domains`` (see docs/multidomain.md)."""

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

    @classmethod
    def domain_names(cls, config: ComponentConfig) -> list[str]:
        """The domain (or attribute) names of a multi-domain data set, in label order, without
        loading it: recipe validation gives them to the method (``method.domains``). Raises
        :class:`~ganzoo.errors.DataError` when the data cannot be found; [] for two-domain data."""
        return []

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
    every: int = 1
    """Run the step only on iterations that are multiples of this (1-based): StarGAN's and WGAN's
    generator steps once per ``n_critic`` discriminator steps, each D step on a fresh batch, as
    their references do (``repeat`` would reuse one batch)."""
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


class MultiDomainConfig(MethodConfig):
    """The config of a method that translates between many domains (StarGAN, StarGAN v2): it
    needs the number of domains when its networks are built, and their names for ``translate
    --to``. Recipe validation fills ``domains`` from the data set when it is empty, so the run's
    saved recipe names them and a trained model loads without the data."""

    domains: list[str] = Field(
        default_factory=list, description="Domain (or attribute) names in label order; empty: taken from the "
        "data set (recipe validation fills it in). Set it to check that the data has exactly these.")


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
    ``visuals()`` to inspect a training step, and ``extra_state()``/``load_extra_state()`` for
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
    needs_labels: ClassVar[tuple[str, ...]] = ()
    """The label kinds (:attr:`Dataset.label_kind`) the method trains with, any one of them:
    ``("domain", "attributes")`` for StarGAN. Empty (two-domain methods): the data must be
    ``"A"``/``"B"`` items. Recipe validation refuses a data set of another kind, saying which to
    use; a multi-domain method's config is a :class:`MultiDomainConfig`, and its ``translate``
    takes ``target=`` (a long (N,) of domain indices or a float (N, K) of attributes)."""
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
        """Images of the last iteration, in [-1, 1], for inspecting a training step (tests, notebooks).
        The engine's sample grids do not use them: they translate fixed inputs with ``translate``
        so that steps can be compared."""
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
