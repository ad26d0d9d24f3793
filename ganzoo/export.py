"""Export of a trained translation to TorchScript or ONNX, checked against the eager model.

What is exported is ``method.translate(x, direction)``: for CycleGAN one generator, for UNIT an
encoder and the other domain's decoder, whatever the method does, without the discriminators
and losses (only the method's generators are part of the exported module). A method whose
translation is random or multi-step (UNSB) exports the deterministic path its
``export_module()`` gives instead, and the result's note says which. The input is
images in [-1, 1], NCHW, with sides that are multiples of the generator stride (the padding
``ganzoo translate`` does is not part of the graph, so callers pad themselves).

Every export is loaded back and run on an input of a *different* size and batch than the one
it was traced with, and compared with the eager model: tracing silently freezes shapes or
branches that depend on the input, and only such a check catches it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError

ExportFormat = Literal["torchscript", "onnx"]


class TranslationModule(nn.Module):
    """``forward(x) = method.translate(x, direction)`` with only the method's generators as
    submodules, so an export carries their weights and nothing else."""

    def __init__(self, method: nn.Module, direction: str = "a2b"):
        super().__init__()
        if direction not in ("a2b", "b2a"):
            raise GanzooError(f"direction must be a2b or b2a, got '{direction}'")
        self.generators = nn.ModuleDict(method.generators())
        object.__setattr__(self, "_method", method)  # held outside the module tree on purpose
        self.direction = direction

    def forward(self, x: Tensor) -> Tensor:
        return self._method.translate(x, self.direction)


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float | None
    checked_shape: tuple[int, ...]
    dynamic: bool
    note: str = ""


def check_output(path: Path | str, protected: dict[Path, str]) -> None:
    """Refuse an output ``path`` inside any of the ``protected`` folders (folder -> what it is,
    e.g. a run's checkpoints), so an export can never replace the weights it was made from."""
    target = Path(path).resolve()
    for folder, what in protected.items():
        if target.is_relative_to(folder.resolve()):
            raise GanzooError(f"--out {path} is inside {what} {folder}: writing there could overwrite it; "
                              "write the export somewhere else")


def _example(stride: int, channels: int, size: int, batch: int, seed: int = 0) -> Tensor:
    side = max(stride, (size + stride - 1) // stride * stride)
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, side, side, generator=g) * 2 - 1


def export_translation(
    method: nn.Module,
    path: Path | str,
    *,
    fmt: ExportFormat = "onnx",
    direction: str = "a2b",
    size: int = 256,
    channels: int | None = None,
    opset: int | None = None,
    check: bool = True,
) -> ExportResult:
    """Export ``method``'s translation in ``direction`` to ``path`` and check it.

    ``size`` is the side of the example input (rounded up to the stride); the export accepts
    other sizes that are multiples of the stride (ONNX: declared dynamic when torch.export
    can prove it; otherwise the file is fixed to ``size`` and the result says so). The file
    appears only once the export has been written and checked.
    """
    path = Path(path)
    work = _work_dir(path)
    try:
        result = _export(method, work / path.name, fmt=fmt, direction=direction, size=size, channels=channels,
                         opset=opset, check=check)
        for file in work.iterdir():  # the export and any file beside it (ONNX external data)
            os.replace(file, path.parent / file.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.path = path
    return result


def _work_dir(path: Path) -> Path:
    """A fresh hidden folder next to ``path`` to export into: the finished files are renamed
    into place, so a failure half-way leaves neither a partial file nor a damaged earlier one."""
    if path.is_dir():
        raise GanzooError(f"{path} is a folder; give the file to write, e.g. {path / 'translation.onnx'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    except OSError as exc:
        raise GanzooError(f"{path}: cannot write there ({exc.strerror or exc})") from None


def _export(method: nn.Module, path: Path, *, fmt: ExportFormat, direction: str, size: int, channels: int | None,
            opset: int | None, check: bool) -> ExportResult:
    from ganzoo.inference import Translator, method_stride

    method = method.cpu().eval().requires_grad_(False)
    custom = method.export_module(direction) if hasattr(method, "export_module") else None
    module, what = custom if custom is not None else (TranslationModule(method, direction), "")
    module.eval()
    stride = method_stride(method)
    if channels is None:
        channels = Translator.from_method(method, direction).in_channels
    example = _example(stride, channels, size, 1)
    if fmt == "torchscript":
        run, dynamic, note = _torchscript(module, example, path), True, ""
    elif fmt == "onnx":
        run, dynamic, note = _onnx(module, example, path, stride, opset)
    else:
        raise GanzooError(f"unknown export format '{fmt}' (torchscript, onnx)")
    # Check on another batch size and (when dynamic) another size than the traced one.
    probe = _example(stride, channels, size + stride, 2, seed=1) if dynamic else _example(stride, channels, size, 1, 1)
    diff = None
    if check and run is not None:
        with torch.no_grad():
            expected = module(probe)
        diff = float((torch.as_tensor(run(probe)) - expected).abs().max())
    elif check:
        note = (note + "; " if note else "") + "not checked: onnxruntime is not installed"
    if what:
        note = (note + "; " if note else "") + what
    if getattr(method, "test_mode", "eval") == "train":
        note = (note + "; " if note else "") + ("the eval-mode graph (running statistics, no dropout), a deterministic "
                                                "model; ganzoo translate/evaluate test as the reference does, with "
                                                "dropout on and each image's own batch-norm statistics")
    return ExportResult(path, fmt, diff, tuple(probe.shape), dynamic, note)


def _torchscript(module: nn.Module, example: Tensor, path: Path) -> Callable[[Tensor], Tensor]:
    with warnings.catch_warnings():
        # jit is deprecated in favour of torch.export, and the tracer warns about every shape
        # check in padding layers; the round-trip check below is what establishes correctness.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path))

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return loaded(x)

    return run


def _onnx(module: nn.Module, example: Tensor, path: Path, stride: int,
          opset: int | None) -> tuple[Callable[[Tensor], Tensor] | None, bool, str]:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise GanzooError("ONNX export needs the onnx and onnxscript packages: pip install 'ganzoo[export]'") from None
    from torch.export import Dim

    kwargs = {"opset_version": opset} if opset else {}
    batch, h, w = Dim("batch", min=1, max=1024), Dim("h", min=1, max=4096), Dim("w", min=1, max=4096)
    dynamic_shapes = {"x": {0: batch, 2: stride * h, 3: stride * w}}
    note, dynamic = "", True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), str(path), dynamo=True, dynamic_shapes=dynamic_shapes,
                              input_names=["x"], output_names=["y"], verbose=False, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a method whose graph depends on the size
            note = f"exported with a fixed input shape {tuple(example.shape)} ({type(exc).__name__} with dynamic sizes)"
            dynamic = False
            torch.onnx.export(module, (example,), str(path), dynamo=True, input_names=["x"], output_names=["y"],
                              verbose=False, **kwargs)
    try:
        import onnxruntime as ort
    except ImportError:
        return None, dynamic, note
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {name: x.numpy()})[0])

    return run, dynamic, note
