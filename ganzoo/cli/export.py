"""``ganzoo export``: a trained translation as a TorchScript or ONNX file, checked against the eager model.

The format follows the file name (``--out g.pt`` is TorchScript, ``--out g.onnx`` ONNX) unless
``--format`` names one; a suffix that names no format is an error, not a silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganzoo.cli.console import Choice, Direction, err, out, plugins, user_errors
from ganzoo.errors import GanzooError


class ExportFormat(Choice):
    """The formats of :func:`ganzoo.export.export_translation`."""

    torchscript = "torchscript"
    onnx = "onnx"


SUFFIXES = {".pt": ExportFormat.torchscript, ".ts": ExportFormat.torchscript, ".onnx": ExportFormat.onnx}
"""File suffix -> the format ``--out`` implies."""


def export_format(out_file: Path, fmt: ExportFormat | None) -> ExportFormat:
    """``--format`` if given, else the one ``--out``'s suffix implies (an unknown one is an error)."""
    if fmt is not None:
        return fmt
    suffix = out_file.suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(f"{s} ({f})" for s, f in SUFFIXES.items())
        what = f"the suffix '{suffix}'" if suffix else "a name without a suffix"
        raise GanzooError(f"--out {out_file}: cannot tell the format from {what} (known: {known}); "
                          f"name it with --format")
    return SUFFIXES[suffix]


def export(
    source: Annotated[Path, typer.Argument(
        help="A run directory, its checkpoints folder or one checkpoint; a model folder, a published model's "
             "name (ganzoo pretrained list) or hf://user/repo.")],
    out_file: Annotated[Path, typer.Option(
        "--out", "-o", help="File to write: .pt or .ts for TorchScript, .onnx for ONNX (or give --format).")],
    fmt: Annotated[Optional[ExportFormat], typer.Option(  # noqa: UP045 - typer on 3.10
        "--format", "-f", help="Overrides the format the --out suffix implies.", show_default=False)] = None,
    direction: Annotated[Direction, typer.Option("--direction", "-d")] = Direction.a2b,
    size: Annotated[int, typer.Option(min=1, help="Side of the example input (rounded up to the stride).")] = 256,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's).")] = None,  # noqa: UP045
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare with the eager model.")] = True,
) -> None:
    """Export a trained translation to TorchScript or ONNX, checked against the eager model.

    Prints the max abs difference between the exported and the eager model on a fresh input of
    another batch size and image size than the traced one.
    """
    with user_errors():
        from ganzoo.engine.loading import find_run_dir, load_trained
        from ganzoo.export import check_output, export_translation

        fmt = export_format(out_file, fmt)
        plugins()
        from ganzoo.pretrained import resolve_source

        source = resolve_source(source, console=err)  # a catalogue name, hf://
        _, method, ckpt_dir = load_trained(source, device="cpu")
        protected = {ckpt_dir: "the checkpoint"}
        run_dir = find_run_dir(ckpt_dir)
        if run_dir is not None:
            protected[run_dir / "checkpoints"] = "the run's checkpoints"
        check_output(out_file, protected)
        err.print(f"exporting {ckpt_dir} ({direction}) as {fmt}...", highlight=False)
        result = export_translation(method, out_file, fmt=fmt, direction=direction, size=size,  # type: ignore[arg-type]
                                    opset=opset, check=check)
        shapes = "dynamic batch and size (multiples of the stride)" if result.dynamic else "fixed input shape"
        out.print(f"wrote {result.path} ({shapes})", highlight=False)
        if result.note:
            err.print(f"[yellow]note:[/yellow] {result.note}", highlight=False)
        if result.max_abs_diff is not None:
            out.print(f"max abs difference to the eager model on {result.checked_shape}: {result.max_abs_diff:.3g}",
                      highlight=False)
            if result.max_abs_diff > 1e-3:
                raise GanzooError(f"the exported model differs from the eager one by {result.max_abs_diff:.3g}")


def register_commands(cli: typer.Typer) -> None:
    cli.command("export")(export)
