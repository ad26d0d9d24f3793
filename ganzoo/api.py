"""The Python API: train, load and evaluate from a notebook or a script, as the CLI does.

Each function is the command of the same name without the command line: ``train`` is
``ganzoo run`` (the same recipe loading, overrides and trainer), ``load`` reads a run as
``ganzoo translate`` does, ``evaluate`` scores it with the function behind ``ganzoo evaluate``.
So a result from Python and one from the shell agree. See docs/python-api.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ganzoo.components import Method
    from ganzoo.engine.trainer import RunResult
    from ganzoo.inference import TranslateReport
    from ganzoo.metrics.evaluate import EvaluationReport
    from ganzoo.overrides import Overrides
    from ganzoo.recipe import ResolvedRecipe


def train(
    recipe: str | Path | Mapping[str, Any] | ResolvedRecipe,
    overrides: Overrides = (),
    *,
    data: str | Path | None = None,
    unset: Sequence[str] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train a recipe (a TOML file, a dict of its tables, or a resolved recipe) and return the
    :class:`~ganzoo.engine.trainer.RunResult` (``.run_dir``, ``.step``, ``.evaluations``...).

    ``overrides`` are ``--set``'s: ``{"train.iterations": 200}`` or ``["train.iterations=200"]``;
    ``data`` is ``--data``, ``unset`` ``--unset`` (see :mod:`ganzoo.overrides`). ``run_dir``
    defaults to ``run.out_dir/NAME``, as for ``ganzoo run``. With ``resume`` only the keys
    ``ganzoo resume --set`` takes may change (``train.iterations`` extends a finished run).
    """
    from rich.console import Console

    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import ResolvedRecipe, load_recipe, recipe_from_dict

    if resume:  # as ganzoo resume: only the length and reporting may change
        from ganzoo.engine.config import check_resumable
        from ganzoo.overrides import every_change

        check_resumable(every_change(overrides, unset, data), run_dir or "RUN_DIR")
    if isinstance(recipe, ResolvedRecipe):
        if overrides or unset or data is not None:
            from ganzoo.errors import GanzooError

            raise GanzooError("a resolved recipe is final: give overrides with a recipe file or dict instead")
        resolved = recipe
    elif isinstance(recipe, Mapping):
        resolved = recipe_from_dict(recipe, overrides, unset=unset, data=data)
    else:
        resolved = load_recipe(recipe, overrides, unset=unset, data=data)
    console = Console(stderr=True)
    for note in resolved.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    trainer = Trainer(resolved, run_dir=Path(run_dir) if run_dir is not None else None, resume=resume,
                      overwrite=overwrite, console=console, show_progress=progress)
    return trainer.fit()


def load(source: str | Path, *, device: str = "auto", ema: bool = True) -> Model:
    """A trained model from a run directory, its ``checkpoints`` folder or one checkpoint (the
    latest checkpoint of a run; its weight average when the run kept one, unless ``ema=False``),
    a model folder (``ganzoo push``), ``hf://user/repo``, or a published model's name
    (``ganzoo pretrained list``; downloaded on first use)."""
    from ganzoo.engine.loading import load_trained
    from ganzoo.engine.runtime import resolve_device
    from ganzoo.pretrained import resolve_source

    dev = resolve_device(device)
    resolved, method, checkpoint = load_trained(resolve_source(source, progress=False), device=dev, ema=ema)
    return Model(resolved, method, checkpoint, dev)


def evaluate(
    source: str | Path | Model,
    metrics: Sequence[str] | None = None,
    *,
    split: str = "test",
    max_items: int | None = None,
    directions: Sequence[str] | None = None,
    device: str = "auto",
    batch_size: int = 8,
) -> EvaluationReport:
    """Score a run (or a loaded :class:`Model`) on a split of its data, as ``ganzoo evaluate``
    does; ``metrics`` defaults to the run's ``train.eval_metrics``. Returns the
    :class:`~ganzoo.metrics.evaluate.EvaluationReport` (``.results``, ``.skipped``, ``.protocol``)."""
    model = source if isinstance(source, Model) else load(source, device=device)
    return model.evaluate(metrics, split=split, max_items=max_items, directions=directions, batch_size=batch_size)


class Model:
    """A trained method ready to translate: ``model(x)`` or ``model.translate(x, "b2a")``.

    ``x`` is a tensor in [-1, 1] (CHW or NCHW, any size), a PIL image, or a list of PIL images;
    the result is of the same kind and size. ``translate_folder`` writes files as
    ``ganzoo translate`` does."""

    def __init__(self, recipe: ResolvedRecipe, method: Method, checkpoint: Path, device: torch.device):
        self.recipe, self.method, self.checkpoint, self.device = recipe, method, checkpoint, device
        self._translators: dict[str, Any] = {}

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.method.directions)

    def __repr__(self) -> str:
        return (f"Model({self.recipe.method.spec.name}, checkpoint={str(self.checkpoint)!r}, "
                f"directions={self.directions}, device={self.device})")

    def translator(self, direction: str = "a2b", *, reference: Any = None, seed: int | None = None,
                   to: str | None = None) -> Any:
        """The :class:`ganzoo.inference.Translator` of one direction (built once); with ``reference``
        (style images of the target domain: tensor or PIL image), ``seed`` or ``to`` (the target of
        a multi-domain run, as ``ganzoo translate --to`` takes it: ``"cool"``,
        ``"Blond_Hair=1,Male=0"``), a new one."""
        from ganzoo.errors import GanzooError
        from ganzoo.inference import TEST_SEED, Translator

        if direction not in self.directions:
            raise GanzooError(f"{self.recipe.method.spec.name} translates {', '.join(self.directions)}, "
                              f"not '{direction}'")
        if reference is not None or seed is not None or to is not None:
            from ganzoo.multimodal import check_reference

            if reference is not None:
                check_reference(self.method)
                reference = self._as_batch(reference, Translator.from_method(self.method, direction).out_channels)
            target = None
            if to is not None:
                from ganzoo.data.labels import translate_target

                target = translate_target(self.method, self.recipe.data.spec.cls.label_kind, to)
            return Translator.from_method(self.method, direction, device=self.device, reference=reference,
                                          seed=TEST_SEED if seed is None else seed, target=target)
        if direction not in self._translators:
            self._translators[direction] = Translator.from_method(self.method, direction, device=self.device)
        return self._translators[direction]

    def translate(self, images: torch.Tensor | Image.Image | Sequence[Image.Image], direction: str = "a2b", *,
                  reference: Any = None, seed: int | None = None, samples: int | None = None,
                  to: str | None = None) -> Any:
        """``reference``: take the style of these target-domain images (munit); ``seed``: of a
        stochastic method's style or noise; ``samples``: a list of that many translations, seeds
        ``seed``, ``seed + 1``, ... (as ``ganzoo translate --samples``); ``to``: the target domain
        of a multi-domain run (as ``ganzoo translate --to``)."""
        if samples is not None:
            from ganzoo.multimodal import seeded_translators

            first = self.translator(direction, reference=reference, seed=seed or 0, to=to)
            return [self._apply(images, t) for t in seeded_translators(first, samples)]
        return self._apply(images, self.translator(direction, reference=reference, seed=seed, to=to))

    __call__ = translate

    def _apply(self, images: Any, translator: Any) -> Any:
        import torch
        from PIL import Image

        from ganzoo.errors import GanzooError

        if isinstance(images, torch.Tensor):
            if images.dim() not in (3, 4):
                raise GanzooError(f"expected an image tensor CHW or NCHW, got shape {tuple(images.shape)}")
            batch = images[None] if images.dim() == 3 else images
            out = translator(batch).to(images.device)
            return out[0] if images.dim() == 3 else out
        if isinstance(images, Image.Image):
            return self._translate_pil(images, translator)
        if isinstance(images, Sequence) and all(isinstance(i, Image.Image) for i in images):
            return [self._translate_pil(image, translator) for image in images]
        raise GanzooError(f"translate takes a tensor, a PIL image or a list of them, not {type(images).__name__}; "
                          "for files and folders use translate_folder")

    @staticmethod
    def _as_batch(image: Any, channels: int) -> torch.Tensor:
        """A tensor (CHW or NCHW, in [-1, 1]) or a PIL image as an NCHW batch."""
        import numpy as np
        import torch
        from PIL import Image

        if isinstance(image, Image.Image):
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
            x = torch.from_numpy(array.copy()).float().div_(127.5).sub_(1)
            image = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
        return image[None] if image.dim() == 3 else image

    @staticmethod
    def _translate_pil(image: Image.Image, translator: Any) -> Image.Image:
        from PIL import Image

        from ganzoo.data.images import to_uint8

        y = to_uint8(translator(Model._as_batch(image, translator.in_channels))[0].cpu()).permute(1, 2, 0).numpy()
        return Image.fromarray(y[..., 0] if y.shape[2] == 1 else y)

    def translate_folder(self, inputs: str | Path | Sequence[str | Path], out_dir: str | Path,
                         direction: str = "a2b", *, batch_size: int = 4, fmt: str = "png", reference: Any = None,
                         seed: int | None = None, samples: int = 1, grid: bool = False,
                         to: str | None = None) -> TranslateReport:
        """Translate image files and folders (searched recursively) into ``out_dir``, file names
        mirroring the inputs; returns what was written and what was skipped, and why.
        ``samples``/``grid``/``seed``/``reference``: as ``ganzoo translate --samples/--grid/--seed/--style-from``."""
        from ganzoo.inference import collect_jobs, prepare_output_dir, translate_files

        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        jobs = collect_jobs(items, out_dir, fmt)  # type: ignore[arg-type]
        prepare_output_dir(out_dir)
        translator = self.translator(direction, reference=reference, seed=seed, to=to)
        if samples > 1 or grid:
            from ganzoo.multimodal import seeded_translators, translate_samples

            return translate_samples(seeded_translators(translator, samples), jobs, grid=grid, batch_size=batch_size)
        return translate_files(translator, jobs, batch_size=batch_size)

    def evaluate(self, metrics: Sequence[str] | None = None, *, split: str = "test", max_items: int | None = None,
                 directions: Sequence[str] | None = None, batch_size: int = 8) -> EvaluationReport:
        """Scores on a split of the run's data (see :func:`ganzoo.evaluate`)."""
        from ganzoo.metrics.evaluate import build_metrics
        from ganzoo.metrics.evaluate import evaluate as run_evaluation

        names = list(metrics) if metrics is not None else list(self.recipe.train.eval_metrics)
        data = self.recipe.data
        data.spec.cls.check_source(data.config, split)
        report = run_evaluation(self.method, data.build(split=split), build_metrics(names), device=self.device,
                                max_items=max_items, directions=list(directions or self.directions),
                                batch_size=batch_size)
        report.protocol["checkpoint"] = str(self.checkpoint)
        return report
