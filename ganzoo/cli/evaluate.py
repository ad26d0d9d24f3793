"""``ganzoo evaluate``: score a trained run on a test split (FID, KID, PSNR, SSIM, LPIPS, plugins')."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ganzoo.cli.console import (
    Choice,
    Precision,
    err,
    nested_options,
    out,
    parse_options,
    plugins,
    progress,
    runtime_options,
    user_errors,
)
from ganzoo.errors import GanzooError


class Directions(Choice):
    a2b = "a2b"
    b2a = "b2a"
    both = "both"


DEFAULT_METRICS = "fid,kid,psnr,ssim,lpips"
"""What ``--metrics`` defaults to; a run that evaluated with ``sr`` (super-resolution) gets sr,lpips."""


def evaluate(
    source: Annotated[Path, typer.Argument(
        help="A run directory, its checkpoints folder or one checkpoint; a model folder, a published model's "
             "name (ganzoo pretrained list) or hf://user/repo.")],
    metrics: Annotated[str, typer.Option(
        "--metrics", "-m", help="Comma-separated registered metrics (see: ganzoo list-components metric).")
    ] = DEFAULT_METRICS,
    split: Annotated[str, typer.Option(help="Data split to evaluate on.")] = "test",
    data: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 - typer on 3.10
        "--data", help="Override the run's data table: KEY=VALUE (e.g. root=datasets/horse2zebra; "
                       "type=NAME switches data set).")] = None,
    max_items: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-items", "-n", min=2, help="Evaluate the first N items of the split (default: all).")] = None,
    direction: Annotated[Directions, typer.Option("--direction", "-d")] = Directions.both,
    json_file: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--json", help="Write results and protocol as JSON to FILE ('-' for stdout).")] = None,
    inception_weights: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--inception-weights", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (else "
                                    "$GANZOO_INCEPTION_WEIGHTS, then torch hub's cache).")] = None,
    lpips_weights: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--lpips-weights", help="torchvision's alexnet-owt-7be5be79.pth for LPIPS (else $GANZOO_LPIPS_BACKBONE, "
                                "then torch hub's cache).")] = None,
    metric_option: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--metric-option", help="A metric's config: METRIC.FIELD=VALUE (e.g. kid.num_subsets=50).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1)] = 8,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[Precision, typer.Option(help="fp32 (default, for comparable numbers), bf16, fp16, auto.")
                         ] = Precision.fp32,
    quantize: Annotated[bool, typer.Option(
        "--quantize/--no-quantize", help="Round outputs to 8 bits first, as saved PNGs are (default).")] = True,
    workers: Annotated[int, typer.Option("--workers", "-j", min=0, help="Data loading processes.")] = 0,
    steps: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Generator calls (NFE) of a method with multi-step inference (unsb): N, or a comma-separated list "
             "(1,3,5) scored one after the other, keyed DIRECTION/nfeN/METRIC; default: the recipe's.",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of a stochastic method's noise (unsb).")] = 0,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Evaluate a trained run on a data split; prints a table and records the protocol with the numbers."""
    with user_errors():
        from ganzoo.engine.loading import load_trained
        from ganzoo.inference import check_direction, check_steps
        from ganzoo.metrics.evaluate import build_metrics, by_steps
        from ganzoo.metrics.evaluate import evaluate as run_evaluation

        directions = ["a2b", "b2a"] if direction == "both" else [direction]
        if any(d not in ("a2b", "b2a") for d in directions):
            raise GanzooError(f"--direction must be a2b, b2a or both, got '{direction}'")
        registry = plugins().registry
        names = [m.strip() for m in metrics.split(",") if m.strip()]
        options = nested_options(metric_option, "--metric-option")
        for name in names:
            spec = registry.get("metric", name)
            fields = spec.config.model_fields
            if inception_weights is not None and "inception_weights" in fields:
                options.setdefault(name, {}).setdefault("inception_weights", str(inception_weights))
            if lpips_weights is not None and "backbone_weights" in fields:
                options.setdefault(name, {}).setdefault("backbone_weights", str(lpips_weights))
        metric_objs = build_metrics(names, options, registry)
        dev = runtime_options(device, precision)
        nfes = _step_list(steps)
        from ganzoo.pretrained import resolve_source

        source = resolve_source(source, progress=show_progress, console=err)  # a catalogue name, hf://
        resolved, method, ckpt_dir = load_trained(source, device=dev)
        if metrics == DEFAULT_METRICS and "sr" in (resolved.train.eval_metrics or ()):
            # a super-resolution run: its protocol (Y, border, bicubic beside) rather than the translation set
            metric_objs = build_metrics(["sr", "lpips"], options, registry)
        elif metrics == DEFAULT_METRICS and getattr(method, "task_metrics", None):
            # a task run (domain adaptation): its task metrics on the predictions (docs/adaptation.md)
            metric_objs = build_metrics(list(method.task_metrics), options, registry)
        one_sided = [d for d in directions if d not in method.directions]
        if one_sided and direction != "both":
            check_direction(method, direction)  # raises, saying what the method translates
        directions = [d for d in directions if d not in one_sided]
        for nfe in nfes:
            check_steps(method, nfe)  # before any work
        dataset = _dataset(resolved, data, split, registry)
        n = len(dataset) if max_items is None else min(max_items, len(dataset))
        reports = {}
        with progress(err, show_progress) as bar:
            task = bar.add_task(f"evaluating {ckpt_dir.name}", total=n * len(directions) * len(nfes))
            for nfe in nfes:
                reports[nfe] = run_evaluation(method, dataset, metric_objs, device=dev, max_items=max_items,
                                              directions=directions, batch_size=batch_size, precision=precision,
                                              quantize=quantize, workers=workers, steps=nfe, seed=seed,
                                              on_batch=lambda _d, k: bar.advance(task, k))
        report = by_steps(reports) if len(nfes) > 1 else reports[nfes[0]]
        for d in one_sided if "columns" not in report.protocol else ():  # multi-domain: no directions
            report.skipped[f"{d}/all metrics"] = (f"method {resolved.method.spec.name} translates "
                                                  f"{', '.join(directions)} only")
        report.protocol["checkpoint"] = str(ckpt_dir)
        report.protocol["step"] = _step(ckpt_dir)
        report.protocol["data"] = resolved.data.table() if not data else {**resolved.data.table(), "overrides": data}
        _print_table(err if str(json_file) == "-" else out, report, directions)  # stdout: pure JSON then
        report.require_results()
        payload = {"source": str(source), **report.to_dict()}
        if json_file is not None:
            text = json.dumps(payload, indent=2, default=str)
            if str(json_file) == "-":
                print(text)
            else:
                json_file.parent.mkdir(parents=True, exist_ok=True)
                json_file.write_text(text + "\n")
                err.print(f"results and protocol written to {json_file}", highlight=False)


def _dataset(resolved: Any, data: list[str] | None, split: str, registry: Any) -> Any:
    from pydantic import ValidationError

    component = resolved.data
    if data:
        overrides = parse_options(data, "--data")
        spec = registry.get("dataset", overrides.pop("type")) if "type" in overrides else component.spec
        base = {} if spec is not component.spec else component.config.model_dump()
        try:
            config = spec.make_config({**base, **overrides})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise GanzooError(f"--data: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        component = type(component)("data", spec, config)
    splits = getattr(component.spec.cls, "splits", ("train", "test"))
    if split not in splits:
        raise GanzooError(f"--split: dataset '{component.spec.name}' has splits {', '.join(splits)}, not '{split}'")
    component.spec.cls.check_source(component.config, split)
    return component.build(split=split)


def _step_list(steps: str | None) -> list[int | None]:
    """``--steps``: None (the method's default), ``N`` or ``N,M,...``."""
    if steps is None:
        return [None]
    try:
        values = [int(v) for v in steps.split(",") if v.strip()]
    except ValueError:
        raise GanzooError(f"--steps must be a number of steps or a comma-separated list (1,3,5), got '{steps}'") \
            from None
    if not values:
        raise GanzooError("--steps: give at least one number of steps")
    return list(dict.fromkeys(values))


def _step(ckpt_dir: Path) -> int | None:
    try:
        return int(json.loads((ckpt_dir / "meta.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return None


def _print_table(console: Any, report: Any, directions: list[str]) -> None:
    from rich.markup import escape
    from rich.table import Table

    keys = list(dict.fromkeys(k.split("/", 1)[1] for k in report.results))
    directions = report.protocol.get("columns", directions)  # multi-domain: one column per domain pair
    table = Table("Metric", *directions, title=f"Evaluation: {report.protocol.get('split')} split, "
                                               f"{report.protocol.get('items')} items")
    for key in keys:
        better = next((report.higher_is_better.get(f"{d}/{key}") for d in directions
                       if f"{d}/{key}" in report.higher_is_better), None)
        arrow = {True: " (higher better)", False: " (lower better)"}.get(better, "")
        cells = [_fmt(report.results.get(f"{d}/{key}")) for d in directions]
        table.add_row(key + arrow, *cells)
    if report.results:
        console.print(table)
    where: dict[tuple[str, str], list[str]] = {}  # metric, reason -> directions
    for key, reason in report.skipped.items():
        direction, name = key.split("/", 1)
        where.setdefault((name, reason), []).append(direction)
    lines: dict[tuple[str, str], list[str]] = {}  # one line per reason: fid and kid miss the same file
    for (name, reason), directions_ in where.items():
        lines.setdefault((reason, ", ".join(directions_)), []).append(name)
    for (reason, directions_), names in lines.items():
        console.print(f"skipped {', '.join(names)} ({directions_}): {escape(reason)}", highlight=False,
                      soft_wrap=True, style="yellow")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e-2 and value != 0 else f"{value:.4f}"


def register_commands(cli: typer.Typer) -> None:
    cli.command("evaluate")(evaluate)
