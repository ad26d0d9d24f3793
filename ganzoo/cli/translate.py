"""``ganzoo translate``: run a trained model (or an imported reference generator) on image files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganzoo.cli.console import (
    Choice,
    Direction,
    Precision,
    err,
    out,
    parse_options,
    plugins,
    progress,
    runtime_options,
    user_errors,
    warning,
)
from ganzoo.errors import GanzooError

FORMATS = ("png", "jpg", "same")
ImageFormat = Choice("ImageFormat", {f: f for f in FORMATS})


def translate(
    paths: Annotated[list[Path], typer.Argument(
        help="CHECKPOINT_OR_RUN (or a model folder, a name from 'ganzoo pretrained list', hf://USER/REPO) "
             "followed by INPUT files or folders (folders are searched recursively); "
             "with --reference-generator, only inputs.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder; file names mirror the inputs.")],
    direction: Annotated[Direction, typer.Option("--direction", "-d")] = Direction.a2b,
    precision: Annotated[Precision, typer.Option(
        help="fp32 (default: the model's own numbers), or bf16, fp16, auto (bf16/fp16 autocast on CUDA, fp32 on "
             "CPU): faster on GPUs, outputs a few levels apart.")] = Precision.fp32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1,
                                            help="Images per batch (same-size images are batched).")] = 4,
    workers: Annotated[int, typer.Option("--workers", "-j", min=0,
                                         help="Image decoding processes (0: in the main process).")] = 0,
    fmt: Annotated[ImageFormat, typer.Option(
        "--format", "-f", help="png (lossless), jpg, or same as the input.")] = ImageFormat.png,  # type: ignore[attr-defined]
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality (with --format jpg/same).")] = 95,
    reference_generator: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045 - typer on 3.10
        "--reference-generator",
        help="A generator checkpoint of a reference implementation (e.g. latest_net_G_A.pth) to use instead "
             "of a ganzoo run; repeat it with --reference-method (G_A and G_B files).")] = None,
    reference_method: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--reference-method", "--reference-recipe",
        help="Load the reference file(s) into this method's generators and translate with the method "
             "(needed for UNIT's gen_*.pt: a2b is A's encoder with B's decoder).")] = None,
    generator: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Registered generator the reference checkpoint is loaded into (default: resnet_9blocks, or "
             "the method's default).")] = None,
    generator_option: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--generator-option", "-g", help="Config of that generator: KEY=VALUE (e.g. ngf=64, n_blocks=6).")] = None,
    part: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Which state dict of a file holding several (UNIT's gen_*.pt: a or b).")] = None,
    steps: Annotated[Optional[int], typer.Option(  # noqa: UP045
        help="Generator calls (NFE) of a method with multi-step inference (unsb: 1..T; default: the recipe's).",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option(
        help="Seed of a stochastic method's noise (unsb) or style (munit); the same seed gives the same images.")] = 0,
    style_from: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--style-from", help="Reference-guided translation (munit): take the style of this image of the target "
                             "domain.", show_default=False)] = None,
    samples: Annotated[int, typer.Option(min=1, help="Outputs per input of a stochastic method, seeds --seed, "
                                                      "--seed+1, ...: files name_0.png, name_1.png ...")] = 1,
    grid: Annotated[bool, typer.Option("--grid", help="With --samples: one image per input, the input then its "
                                                      "samples left to right.")] = False,
    to: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--to", help="Target of a multi-domain run (stargan): a domain name (--to cool), or attribute assignments "
                     "(--to Blond_Hair=1,Male=0; the others keep what the model's classifier sees).",
        show_default=False)] = None,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
    tile: Annotated[Optional[int], typer.Option(  # noqa: UP045
        min=0, help="Translate images larger than this (input px) in overlapping tiles, so memory stays bounded "
        "(0: whole images; default: the recipe's method.tile, if any).", show_default=False)] = None,
    tile_overlap: Annotated[Optional[int], typer.Option(  # noqa: UP045
        min=0, help="Input px of context around each tile (default: the recipe's, else 16).",
        show_default=False)] = None,
) -> None:
    """Translate images with a trained run, a checkpoint, or a reference generator checkpoint.

    Images of any size: each is reflect-padded to the generator's stride, translated and
    cropped back, so outputs have exactly the inputs' sizes (``scale`` times them for a
    super-resolution run); ``--tile`` bounds the memory of large images.
    """
    with user_errors():
        import torch

        from ganzoo.inference import Translator, collect_jobs, prepare_output_dir, translate_files
        from ganzoo.multimodal import load_reference, seeded_translators, translate_samples

        if fmt not in FORMATS:
            raise GanzooError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
        if direction not in ("a2b", "b2a"):
            raise GanzooError(f"--direction must be a2b or b2a, got '{direction}'")
        if style_from and (samples > 1 or grid):
            raise GanzooError("--style-from fixes the style: one output per input; drop --samples/--grid")
        dev = runtime_options(device, precision)
        if to is not None and reference_generator:
            raise GanzooError("--to needs a trained multi-domain run (a run directory), not --reference-generator")
        if reference_method and not reference_generator:
            raise GanzooError("--reference-method needs the weights: --reference-generator FILE (repeatable)")
        if not reference_generator and len(paths) < 2:
            raise GanzooError("give a run or checkpoint directory and at least one input "
                              "(or --reference-generator FILE and inputs)")
        inputs = list(paths) if reference_generator else list(paths[1:])
        jobs = collect_jobs(inputs, out_dir, fmt)  # type: ignore[arg-type]  # bad inputs fail before loading
        prepare_output_dir(out_dir)  # and so does an --out that cannot be written
        if reference_generator and reference_method:
            from ganzoo.interchange import build_reference_method

            options = parse_options(generator_option, "--generator-option")
            method = build_reference_method(reference_method, list(reference_generator), generator=generator,
                                            generator_config=options, registry=plugins().registry).to(dev)
            reference = load_reference(style_from, method, direction) if style_from else None
            translator = Translator.from_method(method, direction, device=dev, precision=precision,  # type: ignore[arg-type]
                                                steps=steps, seed=seed, reference=reference)
            label = f"{reference_method} {direction}"
        elif reference_generator:
            from ganzoo.interchange import import_component

            if steps is not None or style_from or samples > 1:
                raise GanzooError("--steps, --style-from and --samples need a method; a bare --reference-generator "
                                  "translates each image in one call")
            if len(reference_generator) > 1:
                raise GanzooError("several --reference-generator files need --reference-method to say how they "
                                  "combine")
            options = parse_options(generator_option, "--generator-option")
            module = import_component(reference_generator[0], generator or "resnet_9blocks", config=options,
                                      part=part, registry=plugins().registry, device=dev)
            translator = Translator.from_generator(module, device=dev, precision=precision)  # type: ignore[arg-type]
            label = f"{reference_generator[0].name} ({generator or 'resnet_9blocks'})"
        else:
            from ganzoo.engine.loading import load_trained
            from ganzoo.pretrained import resolve_source

            plugins()
            source = resolve_source(paths[0], progress=show_progress, console=err)  # a catalogue name, hf://
            resolved, method, ckpt_dir = load_trained(source, device=dev)
            reference = load_reference(style_from, method, direction) if style_from else None
            target = None
            if to is not None or getattr(method, "needs_labels", ()):  # a multi-domain run translates --to a domain
                from ganzoo.data.labels import translate_target

                if to is None:
                    raise GanzooError(f"this {resolved.method.spec.name} run translates into a target: give --to "
                                      f"DOMAIN (domains: {', '.join(method.config.domains)})")
                target = translate_target(method, getattr(resolved.data.spec.cls, "label_kind", None), to)
            translator = Translator.from_method(method, "a2b" if target is not None else direction, device=dev,  # type: ignore[arg-type]
                                                precision=precision, steps=steps, seed=seed, reference=reference,
                                                target=target)
            label = f"{ckpt_dir.name} " + (f"-> {to}" if to else direction) + (f" NFE {steps}" if steps else "")
        if tile is not None:
            translator.tile = tile
        if tile_overlap is not None:
            translator.tile_overlap = tile_overlap
        dtype = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[translator.dtype]
        err.print(f"{len(jobs)} images -> {out_dir}  device: {dev}  precision: {dtype}  stride: {translator.stride}",
                  highlight=False)
        start = time.perf_counter()
        with progress(err, show_progress) as bar:
            task = bar.add_task(label, total=len(jobs))
            kw = dict(batch_size=batch_size, workers=workers, quality=quality, on_batch=lambda k: bar.advance(task, k),
                      on_skip=lambda path, why: warning(f"skipped {path}: {why}"))
            if samples > 1 or grid:
                report = translate_samples(seeded_translators(translator, samples), jobs, grid=grid, **kw)
            else:
                report = translate_files(translator, jobs, **kw)
        seconds = time.perf_counter() - start
        n = report.written
        out.print(f"translated {n} images in {seconds:.1f} s ({n / max(seconds, 1e-9):.1f} img/s) into {out_dir}",
                  highlight=False)
        if report.skipped:
            names = [str(path) for path, _ in report.skipped]
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            raise GanzooError(f"{len(names)} of {len(jobs)} images were skipped (see above): "
                              + ", ".join(names[:10]) + more)


def register_commands(cli: typer.Typer) -> None:
    cli.command("translate")(translate)
