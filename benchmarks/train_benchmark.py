"""Training speed of the CycleGAN and UNIT recipes under each engine optimisation.

For every recipe, image size and batch size, the benchmark builds the engine's own
:class:`~ganzoo.engine.trainer.Trainer` (same optimizers, autocast, scalers, compile and
checks as ``ganzoo run``), feeds it one fixed batch already on the device (so the data loader
is not measured: see loader_throughput.py), runs ``--warmup`` iterations (compilation, cuDNN
autotuning) and times ``--iters`` more, waiting for the GPU at the end. Reported per row:
iterations/s, images/s (images per domain), ms per iteration, peak GPU memory allocated, and
achieved TFLOP/s with the speed-up over the plain path.

Variants: ``plain`` (fp32, NCHW, eager, cuDNN autotuning off, a finiteness check every step),
each optimisation alone (``bf16``, ``fp16``, ``channels_last``, ``compile``, ``cudnn_benchmark``,
``deferred_checks`` = train.check_finite_every 100) and ``combined`` (bf16 + channels_last +
compile + cudnn_benchmark + deferred checks on CUDA; bf16 + channels_last + deferred checks on a
CPU). On a CPU the CUDA-only variants (fp16, cudnn_benchmark) are reported as skipped, and so is
compile unless ``--cpu-compile`` (inductor takes minutes per shape there).

FLOP per iteration: for CycleGAN with the reference networks (ngf 64, 9 blocks, PatchGAN ndf 64)
the measured 1.88 TFLOP at 256 px batch 1 (docs: /work/shared/facts.md), scaled by batch and
(size/256)^2; otherwise counted with ``torch.utils.flop_counter`` on one plain iteration at the
smallest size and scaled the same way (convolutions are exactly quadratic in the side).

    python benchmarks/train_benchmark.py                      # full networks, 64/128/256 px, batch 1 and 8
    python benchmarks/train_benchmark.py --quick              # narrow networks, small images: a smoke test
    python benchmarks/train_benchmark.py --sizes 64,128 --batches 1 --recipes cyclegan

Writes benchmarks/results/train_<device>[_quick].json (``--out`` to choose). Speed targets live
here and in docs/engine.md, not in the tests. Machines shared with other jobs give noisy numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganzoo.engine.trainer import Trainer
from ganzoo.plugins import get_registry
from ganzoo.recipe import load_recipe

RESULTS = Path(__file__).resolve().parent / "results"
CYCLEGAN_TFLOP_256 = 1.88
"""One CycleGAN iteration at 256x256, batch 1, identity loss on, reference networks (facts.md)."""

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "bf16": {"precision": "bf16"},
    "fp16": {"precision": "fp16"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "cudnn_benchmark": {"cudnn_benchmark": True},
    "deferred_checks": {"check_finite_every": 100},
    "combined": {"precision": "bf16", "channels_last": True, "compile": True, "cudnn_benchmark": True,
                 "check_finite_every": 100},
}
PLAIN = {"precision": "fp32", "channels_last": False, "compile": False, "cudnn_benchmark": False,
         "check_finite_every": 1}
CUDA_ONLY = {"fp16": "fp16 autocast is emulated on CPUs", "cudnn_benchmark": "cuDNN is CUDA only"}

NETWORKS = {
    # recipe: (full networks, quick networks)
    "cyclegan": (
        {"generator": {"type": "resnet_9blocks", "ngf": 64}, "discriminator": {"type": "patchgan", "ndf": 64}},
        {"generator": {"type": "resnet_9blocks", "ngf": 8}, "discriminator": {"type": "patchgan", "ndf": 8}},
    ),
    "unit": (
        {"generator": {"type": "unit_vae", "dim": 64}, "discriminator": {"type": "multiscale_patchgan", "dim": 64}},
        {"generator": {"type": "unit_vae", "dim": 8, "n_res": 2},
         "discriminator": {"type": "multiscale_patchgan", "dim": 8, "num_scales": 2}},
    ),
}


@dataclass
class Row:
    recipe: str
    size: int
    batch: int
    variant: str
    status: str = "ok"
    it_s: float | None = None
    img_s: float | None = None
    ms_per_it: float | None = None
    peak_mem_gb: float | None = None
    tflop_per_it: float | None = None
    tflop_s: float | None = None
    speedup: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def recipe_text(recipe: str, size: int, batch: int, quick: bool, train: dict[str, Any], device: str,
                out_dir: Path) -> str:
    nets = NETWORKS[recipe][1 if quick else 0]
    lines = ["[run]", 'name = "bench"', f"out_dir = {json.dumps(str(out_dir))}", f'device = "{device}"', "",
             "[train]", "iterations = 1000000", f"batch_size = {batch}", "eval_items = 2", "eval_every = 0",
             "tensorboard = false"]
    lines += [f"{k} = {toml_value(v)}" for k, v in train.items()]
    lines += ["", "[method]", f'type = "{recipe}"', "", "[data]", 'type = "procedural"', f"image_size = {size}",
              f"train_size = {max(batch, 2)}", "test_size = 2"]
    for table, values in nets.items():
        lines += ["", f"[{table}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def build(recipe: str, size: int, batch: int, quick: bool, train: dict[str, Any], device: str,
          tmp: Path) -> Trainer:
    path = tmp / f"{recipe}_{size}_{batch}.toml"
    path.write_text(recipe_text(recipe, size, batch, quick, train, device, tmp / "runs"))
    trainer = Trainer(load_recipe(path), run_dir=tmp / "runs" / "bench", show_progress=False)
    trainer.setup()
    return trainer


def fixed_batch(trainer: Trainer) -> dict[str, Any]:
    loader = torch.utils.data.DataLoader(trainer.dataset, batch_size=trainer.train.batch_size)
    return trainer._prepare(next(iter(loader)))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def iterate(trainer: Trainer, batch: dict[str, Any]) -> None:
    """One engine iteration on ``batch``, as the training loop runs it (no finiteness wait
    beyond the engine's own ``check_finite_every``)."""
    trainer.step += 1
    trainer.runner.iteration(batch, trainer.step)


def count_tflop(trainer: Trainer, batch: dict[str, Any]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        iterate(trainer, batch)
    return counter.get_total_flops() / 1e12


def measure(trainer: Trainer, warmup: int, iters: int) -> tuple[float, float | None]:
    """(seconds per iteration, peak GB) of the engine's iteration on one fixed batch."""
    device = trainer.device
    batch = fixed_batch(trainer)
    for _ in range(warmup):
        iterate(trainer, batch)
    trainer.runner.guard.check()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(iters):
        iterate(trainer, batch)
    trainer.runner.guard.check()
    sync(device)
    seconds = (time.perf_counter() - start) / iters
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    torch._dynamo.reset()  # compiled graphs of the last variant; also resets the recompile budget


def device_slug(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def flop_info(recipe: str, args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, Any]:
    """TFLOP of one iteration at 256 px, batch 1: counted on one plain iteration at the smallest
    size (and scaled), and for CycleGAN's reference networks the published figure."""
    base = min(args.sizes)
    trainer = build(recipe, base, 1, args.quick, {**PLAIN}, str(device), tmp)
    counted = count_tflop(trainer, fixed_batch(trainer)) * (256 / base) ** 2
    del trainer
    release()
    info: dict[str, Any] = {"counted_tflop_256_b1": round(counted, 4), "counted_at_px": base}
    if recipe == "cyclegan" and not args.quick:
        info.update(tflop_256_b1=CYCLEGAN_TFLOP_256, source="reference figure (1.88 TFLOP, facts.md)")
    else:
        info.update(tflop_256_b1=round(counted, 4), source=f"torch.utils.flop_counter at {base} px, scaled")
    return info


def run_variant(recipe: str, size: int, batch: int, variant: str, args: argparse.Namespace, device: torch.device,
                tmp: Path, flops: dict[str, Any]) -> Row:
    settings = {**PLAIN, **VARIANTS[variant]}
    if device.type != "cuda":
        if variant in CUDA_ONLY:
            return Row(recipe, size, batch, variant, status=f"skipped: {CUDA_ONLY[variant]}")
        settings["cudnn_benchmark"] = False
        if settings["compile"] and not args.cpu_compile:
            if variant == "compile":
                return Row(recipe, size, batch, variant,
                           status="skipped: inductor compiles for minutes on a CPU (--cpu-compile)")
            settings["compile"] = False
    row = Row(recipe, size, batch, variant, settings=settings)
    try:
        trainer = build(recipe, size, batch, args.quick, settings, str(device), tmp)
        seconds, peak = measure(trainer, args.warmup, args.iters)
        del trainer
        row.it_s = round(1.0 / seconds, 3)
        row.img_s = round(batch / seconds, 3)
        row.ms_per_it = round(seconds * 1000, 2)
        row.peak_mem_gb = round(peak, 3) if peak is not None else None
        if flops:
            row.tflop_per_it = round(flops["tflop_256_b1"] * batch * (size / 256) ** 2, 4)
            row.tflop_s = round(row.tflop_per_it / seconds, 4)
    except torch.cuda.OutOfMemoryError:
        row.status = "out of memory"
    except Exception as exc:  # noqa: BLE001 - one failing variant must not end the run
        row.status = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if args.verbose:
            traceback.print_exc()
    finally:
        release()
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    registered = {s.name for s in get_registry().list("method")}
    rows: list[Row] = []
    flops: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for recipe in args.recipes:
            if recipe not in registered:
                rows += [Row(recipe, s, b, v, status="skipped: recipe not registered")
                         for s in args.sizes for b in args.batches for v in args.variants]
                continue
            try:
                flops[recipe] = flop_info(recipe, args, device, tmp)
            except Exception as exc:  # noqa: BLE001 - speed is still worth measuring
                console.print(f"[yellow]{recipe}: FLOP count failed ({type(exc).__name__}: {exc})[/yellow]")
            for size in args.sizes:
                for batch in args.batches:
                    plain = None
                    for variant in args.variants:
                        console.print(f"{recipe} {size}px batch {batch} {variant} ...", highlight=False, end=" ")
                        row = run_variant(recipe, size, batch, variant, args, device, tmp, flops.get(recipe, {}))
                        if variant == "plain" and row.it_s:
                            plain = row.it_s
                        if plain and row.it_s:
                            row.speedup = round(row.it_s / plain, 3)
                        console.print(f"{row.status} {row.it_s or ''} it/s", highlight=False)
                        rows.append(row)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "warmup": args.warmup,
        "iters": args.iters,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "flop": flops,
        "results": [asdict(r) for r in rows],
    }


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with ``new``'s rows added (replacing rows of the same recipe, size, batch and
    variant), for results gathered by several invocations on one machine."""
    def key(r: dict[str, Any]) -> tuple:
        return r["recipe"], r["size"], r["batch"], r["variant"]

    rows = {key(r): r for r in old.get("results", [])}
    rows.update({key(r): r for r in new["results"]})
    commands = [*old.get("commands", [old.get("command")]), new["command"]]
    return {**new, "flop": {**old.get("flop", {}), **new["flop"]}, "commands": [c for c in commands if c],
            "results": sorted(rows.values(), key=lambda r: (r["recipe"], r["size"], r["batch"],
                                                            list(VARIANTS).index(r["variant"])))}


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("method", "px", "batch", "variant", "it/s", "img/s", "ms/it", "peak GB", "TFLOP/s", "x plain",
                  "status", title=f"Training speed on {report['device_name']} ({report['device']}, torch "
                                  f"{report['torch']}{', quick' if report['quick'] else ''})")

    def fmt(v: Any, spec: str = ".3g") -> str:
        return "" if v is None else format(v, spec)

    for r in report["results"]:
        table.add_row(r["recipe"], str(r["size"]), str(r["batch"]), r["variant"], fmt(r["it_s"]), fmt(r["img_s"]),
                      fmt(r["ms_per_it"], ".4g"), fmt(r["peak_mem_gb"]), fmt(r["tflop_s"]), fmt(r["speedup"]),
                      r["status"])
    Console(width=200).print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    def names(choices):
        def parse(text: str) -> list[str]:
            items = [x for x in text.split(",") if x]
            bad = [x for x in items if x not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"unknown {bad} (choose from {', '.join(choices)})")
            return items
        return parse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="narrow networks (ngf/dim 8) and small images: a smoke test")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--recipes", type=names(list(NETWORKS)), default=list(NETWORKS))
    p.add_argument("--sizes", type=ints, default=None, help="image sides (default 64,128,256; quick: 32,64)")
    p.add_argument("--batches", type=ints, default=[1, 8], help="batch sizes (default 1,8)")
    p.add_argument("--variants", type=names(list(VARIANTS)), default=list(VARIANTS))
    p.add_argument("--warmup", type=int, default=None, help="untimed iterations (default: 5 on CUDA, 1 on CPU)")
    p.add_argument("--iters", type=int, default=None, help="timed iterations (default: 30 on CUDA, 3 on CPU)")
    p.add_argument("--cpu-compile", action="store_true", help="also run the compile variants on a CPU")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default results/train_<device>.json)")
    p.add_argument("--merge", action="store_true", help="add the rows to the --out file instead of replacing it")
    p.add_argument("--verbose", action="store_true", help="print tracebacks of failing variants")
    args = p.parse_args(argv)
    cuda = args.device != "cpu" and torch.cuda.is_available()
    args.sizes = args.sizes or ([32, 64] if args.quick else [64, 128, 256])
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    args.iters = args.iters if args.iters is not None else (30 if cuda else 3)
    if "plain" in args.variants:  # first, so that the others have something to compare with
        args.variants = ["plain", *[v for v in args.variants if v != "plain"]]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    report = run(args)
    print_table(report)
    device = torch.device(report["device"])
    out = args.out or RESULTS / f"train_{device_slug(device)}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.is_file():
        report = merge(json.loads(out.read_text()), report)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
