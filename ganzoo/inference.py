"""Inference with a trained method (or an imported generator) on images of any size.

Generators only take sides that are multiples of their stride (4 for the ResNet generator,
256 for U-Net 256), while photos come in every size. Rather than resizing (which blurs and
changes the aspect ratio) the input is padded by reflection up to the next multiple of the
stride, translated, and the output cropped back to the input's size: every output pixel
corresponds to the input pixel at the same place. Reflection, not zeros, because a zero border
is a strong edge the network would translate into an artefact.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.data.images import READ_ERRORS, image_size, load_image, save_image
from ganzoo.engine.runtime import PrecisionName, autocast, resolve_precision
from ganzoo.errors import GanzooError

OutputFormat = Literal["png", "jpg", "same"]


# --------------------------------------------------------------------------- padding


def stride_of(modules: nn.Module | Sequence[nn.Module] | dict[str, nn.Module]) -> int:
    """The least common multiple of the ``stride`` of the given generators (1 when none has one):
    the size every generator that may run accepts."""
    if isinstance(modules, dict):
        modules = list(modules.values())
    elif isinstance(modules, nn.Module):
        modules = [modules]
    return math.lcm(1, *(int(getattr(m, "stride", 1) or 1) for m in modules))


def method_stride(method: nn.Module) -> int:
    """The stride a method's translation needs: the lcm over :meth:`Method.generators`."""
    gens = method.generators() if hasattr(method, "generators") else {}
    return stride_of(gens) if gens else stride_of(method)


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "reflect",
                    min_size: int = 1) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Pad the last two dims of ``x`` up to multiples of ``multiple`` (and at least ``min_size``),
    split evenly between the two sides (so the content stays centred in the network's field).
    Returns the padded tensor and ``(left, right, top, bottom)``. Reflection needs the pad to be
    smaller than the side, so a tiny image reflects as far as it can and replicates the rest."""
    h, w = x.shape[-2:]
    th, tw = max(_round_up(h, multiple), min_size), max(_round_up(w, multiple), min_size)
    th, tw = _round_up(th, multiple), _round_up(tw, multiple)
    ph, pw = th - h, tw - w
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if not any(pads):
        return x, pads
    if mode != "reflect":
        return F.pad(x, pads, mode=mode), pads
    out, remaining = x, list(pads)
    while any(remaining):  # reflect at most side-1 at a time
        hh, ww = out.shape[-2:]
        step = [min(remaining[0], ww - 1), min(remaining[1], ww - 1), min(remaining[2], hh - 1),
                min(remaining[3], hh - 1)]
        if not any(step):
            out = F.pad(out, tuple(remaining), mode="replicate")
            break
        out = F.pad(out, tuple(step), mode="reflect")
        remaining = [r - s for r, s in zip(remaining, step, strict=True)]
    return out, pads


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def crop_padding(y: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    left, right, top, bottom = pads
    h, w = y.shape[-2:]
    return y[..., top:h - bottom, left:w - right]


def translate_padded(fn: Callable[[Tensor], Tensor], x: Tensor, stride: int, min_size: int = 1) -> Tensor:
    """``fn(x)`` for any spatial size: reflect-pad to ``stride`` (and ``min_size``), run, crop back."""
    padded, pads = pad_to_multiple(x, stride, min_size=min_size)
    y = fn(padded)
    scale = y.shape[-1] // padded.shape[-1]  # 1, or a super-resolution network's factor
    if scale < 1 or y.shape[-2:] != (padded.shape[-2] * scale, padded.shape[-1] * scale):
        raise GanzooError(f"the generator changed the image size ({tuple(padded.shape[-2:])} -> "
                          f"{tuple(y.shape[-2:])}); translate needs a size-preserving (or whole-factor "
                          "up-scaling) generator")
    return crop_padding(y, tuple(p * scale for p in pads))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- test-time mode


_STOCHASTIC = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.modules.batchnorm._BatchNorm)
TEST_SEED = 0
"""Seed of the random numbers of a translation (dropout of ``train`` test mode, the noise of a
stochastic method), drawn anew for every image: a translation is then the same whatever the
batch, the order or the caller's random state. ``ganzoo translate --seed`` draws others."""


def check_steps(method: nn.Module, steps: int | None) -> int | None:
    """``steps`` checked against what ``method`` offers (:attr:`ganzoo.Method.inference_steps`):
    None stays None (the method's default), a single-step method refuses any number, a
    multi-step one refuses numbers outside ``1..max_inference_steps``."""
    if steps is None:
        return None
    name = type(method).__name__
    default = getattr(method, "inference_steps", None)
    if default is None:
        raise GanzooError(f"--steps {steps}: {name} translates in one generator call; the number of inference "
                          "steps is for methods with multi-step inference (e.g. unsb)")
    most = getattr(method, "max_inference_steps", None) or default
    if not 1 <= steps <= most:
        raise GanzooError(f"--steps {steps}: this {name} model translates in 1 to {most} steps (NFE); its "
                          f"default is {default}")
    return steps


@contextlib.contextmanager
def testing(method: nn.Module) -> Iterator[bool]:
    """The networks in the mode the method's reference tests them in (``Method.test_mode``):
    eval, or for ``train`` dropout on and batch norm on the test batch's statistics. Batch-norm
    running statistics are left exactly as they were, and the caller's random generators are
    untouched. Yields whether each image must be translated alone under a fixed seed (the
    reference's batch of 1 for ``train`` mode; every image of a stochastic method)."""
    was_training = method.training
    method.eval()
    train_mode = getattr(method, "test_mode", "eval") == "train"
    alone = train_mode or bool(getattr(method, "stochastic_inference", False))
    changed = [m for m in method.modules() if isinstance(m, _STOCHASTIC)] if train_mode else []
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in changed]
    for m in changed:
        m.train()
    cuda = sorted({p.device for p in method.parameters() if p.device.type == "cuda"}, key=str)
    try:
        with torch.random.fork_rng(devices=cuda) if alone else contextlib.nullcontext():
            yield alone
    finally:
        for m, buffers in zip(changed, saved, strict=True):
            for k, v in buffers.items():
                getattr(m, k).copy_(v)
        method.train(was_training)


# --------------------------------------------------------------------------- translators


def check_direction(method: nn.Module, direction: str) -> None:
    """Raise a :class:`GanzooError` that names what the method can do when it cannot translate
    ``direction`` (a one-sided method such as pix2pix or CUT learns A->B only)."""
    if direction not in ("a2b", "b2a"):
        raise GanzooError(f"direction must be a2b or b2a, got '{direction}'")
    supported = tuple(getattr(method, "directions", ("a2b", "b2a")))
    if direction not in supported:
        raise GanzooError(f"method {type(method).__name__} translates {' and '.join(supported)} only (it learns no "
                          f"{direction} mapping); ask for {supported[0]}")


class Translator:
    """A callable batch translator: images (N, C, H, W) in [-1, 1] of any size -> translated
    images of the same size (or ``scale`` times larger, for super-resolution) in [-1, 1]
    (float32, clamped), without gradients; with ``tile`` set, large images go through
    overlapping tiles (:mod:`ganzoo.tiling`).

    Built from a trained method and a direction, or from a bare generator (an imported
    reference checkpoint), so that the CLI, the evaluator and the benchmark share one path.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], *, stride: int, device: torch.device,
                 precision: PrecisionName = "fp32", in_channels: int = 3, out_channels: int = 3,
                 method: nn.Module | None = None, seed: int = TEST_SEED):
        self.fn, self.stride, self.device, self.method, self.seed = fn, stride, device, method, seed
        self.min_size = stride
        self.dtype = resolve_precision(precision, device)
        self.in_channels, self.out_channels = in_channels, out_channels
        # Overlapping tiles for large images (ganzoo.tiling); 0: whole images. A method may
        # set a default in its config (``tile``, ``tile_overlap``: the SR methods).
        cfg = getattr(method, "config", None)
        self.tile, self.tile_overlap = int(getattr(cfg, "tile", 0) or 0), int(getattr(cfg, "tile_overlap", 16))

    @classmethod
    def from_method(cls, method: nn.Module, direction: str = "a2b", *, device: torch.device | None = None,
                    precision: PrecisionName = "fp32", steps: int | None = None,
                    seed: int = TEST_SEED, reference: Tensor | None = None,
                    target: Tensor | Callable[[Tensor], Tensor] | None = None) -> Translator:
        """``steps``: the number of generator calls of a multi-step method (None: its default);
        ``seed``: of the random numbers of a stochastic method's translation; ``reference``:
        images of the target domain whose style a reference-guided method (munit) uses;
        ``target``: of a multi-domain method, the target label of every image (a long scalar
        domain index or a float (K,) attribute vector), or a function of the (padded) input batch
        giving the (N, ...) labels."""
        check_direction(method, direction)
        steps = check_steps(method, steps)
        device = device or _module_device(method)
        gens = list(method.generators().values()) if hasattr(method, "generators") else []
        # Channels: a method's generators are listed A->B first (G_A, gen_a), by convention.
        source = gens[0 if direction == "a2b" or len(gens) < 2 else 1] if gens else None
        cfg = getattr(source, "config", None)
        in_nc, out_nc = getattr(cfg, "input_nc", 3), getattr(cfg, "output_nc", 3)
        if direction == "b2a" and len(gens) == 1:
            in_nc, out_nc = out_nc, in_nc
        kwargs = {} if steps is None else {"steps": steps}  # single-step methods' translate has no steps
        if reference is not None:  # nor do methods without reference-guided translation a reference
            kwargs["reference"] = reference.to(device)

        def fn(x: Tensor) -> Tensor:
            if target is None:
                return method.translate(x, direction, **kwargs)
            return method.translate(x, direction, target=expand_target(target, x), **kwargs)

        return cls(fn, stride=method_stride(method), device=device,
                   precision=precision, in_channels=in_nc, out_channels=out_nc, method=method, seed=seed)

    @classmethod
    def from_generator(cls, generator: nn.Module, *, device: torch.device | None = None,
                       precision: PrecisionName = "fp32") -> Translator:
        device = device or _module_device(generator)
        cfg = getattr(generator, "config", None)
        return cls(generator, stride=stride_of(generator), device=device, precision=precision,
                   in_channels=getattr(cfg, "input_nc", 3), out_channels=getattr(cfg, "output_nc", 3))

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        x = x.to(self.device, torch.float32)
        if self.method is None:
            return self._translate(x)
        with testing(self.method) as alone:
            if not alone:
                return self._translate(x)
            outs = []
            for image in x.split(1):
                torch.manual_seed(self.seed)
                outs.append(self._translate(image))
            return torch.cat(outs)

    def _translate(self, x: Tensor) -> Tensor:
        while True:
            try:
                with autocast(self.device, self.dtype):
                    if self.tile and max(x.shape[-2:]) > self.tile:
                        from ganzoo.tiling import translate_tiled

                        y = translate_tiled(lambda t: translate_padded(self.fn, t, self.stride, self.min_size), x,
                                            self.tile, self.tile_overlap, self.stride)
                    else:
                        y = translate_padded(self.fn, x, self.stride, self.min_size)
                return y.float().clamp(-1, 1)
            except (RuntimeError, ValueError) as exc:
                # A multiple of the stride can still be too small for layers deep in the network
                # (a 4 px image is 1 px at a ResNet's bottleneck, where reflection needs 2 and
                # instance norm more than 1): pad tiny images further, up to 8 strides, and
                # remember the size that works. Running out of memory is not that.
                if (is_out_of_memory(exc) or max(x.shape[-2:]) >= 8 * self.stride
                        or self.min_size >= 8 * self.stride):
                    raise
                self.min_size *= 2


def expand_target(target: Tensor | Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The labels of a batch ``x``: ``target(x)``, or one label repeated for every image."""
    if callable(target) and not isinstance(target, Tensor):
        return target(x)
    if target.dim() == 2:  # (N, K): one attribute vector per image of the batch
        return target.to(x.device)
    return target.to(x.device).expand(x.shape[0], *target.shape[-1:] if target.dim() else ())


def _module_device(module: nn.Module) -> torch.device:
    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    size: tuple[int, int]


def collect_jobs(inputs: Sequence[Path | str], out_dir: Path | str, fmt: OutputFormat = "png") -> list[Job]:
    """Map input files and folders (searched recursively) to output files that mirror them: a
    file ``x/a.jpg`` -> ``OUT/a.png``; a file ``f/sub/b.jpg`` of a folder ``f`` -> ``OUT/sub/b.png``."""
    from ganzoo.data.images import is_image_file, list_images

    out_dir = Path(out_dir)
    pairs: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = list_images(item)
            if not files:
                raise GanzooError(f"{item}: folder has no images")
            pairs += [(f, f.relative_to(item)) for f in files]
        elif item.is_file():
            if not is_image_file(item):
                raise GanzooError(f"{item}: not an image file (by its extension)")
            pairs.append((item, Path(item.name)))
        else:
            raise GanzooError(f"{item}: no such file or folder")
    # An output must never replace an input: --out equal to, inside or containing an input
    # folder can map one input onto another (or onto itself). Compared by file identity, so a
    # symlink, a hard link or another spelling of the same path counts too.
    inputs = {key: source for source, _ in pairs if (key := _file_key(source))}
    jobs, seen = [], {}
    for source, rel in pairs:
        suffix = rel.suffix if fmt == "same" else "." + fmt
        target = out_dir / rel.with_suffix(suffix)
        if target in seen:
            raise GanzooError(f"{seen[target]} and {source} would both be written to {target}; "
                              "translate them into separate --out folders")
        seen[target] = source
        victim = inputs.get(_file_key(target))
        if victim is not None:
            raise GanzooError(f"the output of {source}, {target}, would overwrite the input file {victim}; "
                              "give an --out folder where no input is")
        try:
            size = image_size(source)
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
            raise GanzooError(f"{source}: cannot be read as an image ({type(exc).__name__}: {exc})") from None
        jobs.append(Job(source, target, size))
    return jobs


def prepare_output_dir(out_dir: Path | str) -> Path:
    """Create ``out_dir`` and check that files can be written in it, so a bad ``--out`` is one
    message before any work (an existing file, a path that cannot be created, no permission)."""
    import tempfile

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GanzooError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".ganzoo-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GanzooError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})") from None
    return out_dir


def _file_key(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file (links followed, as writing would), else None."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def batch_jobs(jobs: Sequence[Job], batch_size: int) -> list[list[Job]]:
    """Batches of at most ``batch_size`` images of one size (only same-size images stack),
    in input order within each size."""
    by_size: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        by_size.setdefault(job.size, []).append(job)
    return [group[i:i + batch_size] for group in by_size.values() for i in range(0, len(group), batch_size)]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the device or the host ran out of memory (CUDA's OutOfMemoryError,
    Python's MemoryError, or the CPU allocator's RuntimeError "not enough memory")."""
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("out of memory", "not enough memory"))


def _load(job: Job, channels: int) -> Tensor | str:
    """The decoded image, or why it cannot be read (a message, so it crosses worker processes)."""
    try:
        return load_image(job.source, channels)
    except (*READ_ERRORS, MemoryError) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return f"cannot be read ({why})"


class _BatchLoader(torch.utils.data.Dataset):
    def __init__(self, batches: list[list[Job]], channels: int):
        self.batches, self.channels = batches, channels

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> list[Tensor | str]:
        return [_load(job, self.channels) for job in self.batches[i]]


def iter_batches(batches: list[list[Job]], channels: int,
                 workers: int = 0) -> Iterator[tuple[list[Job], list[Tensor | str]]]:
    """Decoded batches (per image: the tensor, or why it cannot be read), read ahead by
    ``workers`` processes (0: in this process)."""
    loader = torch.utils.data.DataLoader(_BatchLoader(batches, channels), batch_size=None, num_workers=workers,
                                         prefetch_factor=2 if workers else None)
    yield from zip(batches, loader, strict=True)


@dataclass
class TranslateReport:
    written: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """(input file, why) for every image that was not written."""


def _translate_group(translator: Translator, items: list[tuple[Job, Tensor]],
                     skip: Callable[[Job, str], None]) -> Iterator[tuple[Job, Tensor]]:
    """Translate same-size images together; when that runs out of memory, one at a time, and
    skip an image that does not fit alone."""
    if not items:
        return
    try:
        y = translator(torch.stack([x for _, x in items])).cpu()
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled here
        if not is_out_of_memory(exc):
            raise
        y = None  # retried below, outside the handler, so the failed batch's memory can be freed
    if y is not None:
        yield from zip((job for job, _ in items), y, strict=True)
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if len(items) > 1:
        for item in items:
            yield from _translate_group(translator, [item], skip)
        return
    job, x = items[0]
    skip(job, f"out of memory translating {x.shape[-1]}x{x.shape[-2]} px (try a smaller image, "
              "--precision bf16, or --device cpu)")


def translate_files(
    translator: Translator,
    jobs: Sequence[Job],
    *,
    batch_size: int = 4,
    workers: int = 0,
    quality: int = 95,
    on_batch: Callable[[int], None] | None = None,
    on_skip: Callable[[Path, str], None] | None = None,
) -> TranslateReport:
    """Translate and write every job. Decoding runs in ``workers`` loader processes and encoding
    in two threads, so the device is rarely idle. An image that cannot be read, does not fit in
    memory or cannot be written is skipped (``on_skip(path, why)``, and listed in the report);
    the others go on."""
    batches = batch_jobs(jobs, batch_size)
    report = TranslateReport()

    def skip(job: Job, why: str) -> None:
        report.skipped.append((job.source, why))
        if on_skip:
            on_skip(job.source, why)

    def finish(job: Job, future) -> None:
        try:
            future.result()
            report.written += 1
        except (OSError, MemoryError) as exc:
            why = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
            skip(job, f"cannot be written to {job.target} ({why})")

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()
        for group, loaded in iter_batches(batches, translator.in_channels, workers):
            readable = []
            for job, x in zip(group, loaded, strict=True):
                if isinstance(x, str):
                    skip(job, x)
                else:
                    readable.append((job, x))
            for job, img in _translate_group(translator, readable, skip):
                pending.append((job, pool.submit(save_image, img, job.target, quality=quality)))
            while len(pending) > 4 * batch_size:  # a fast GPU must not queue the whole folder in memory
                finish(*pending.popleft())
            if on_batch:
                on_batch(len(group))
        while pending:
            finish(*pending.popleft())
    return report
