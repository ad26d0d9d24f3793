"""Data-parallel scaling of CycleGAN: 1 process against N, per gradient-sync strategy.

Launches ``torchrun --standalone --nproc_per_node P`` for each P in ``--procs`` and each mode:

- ``overlap``: the engine, ``train.grad_sync = "overlap"`` (bucketed asynchronous all-reduce
  while the backward runs; the default);
- ``after_backward``: the engine, one all-reduce per dtype after each step's backward;
- ``ddp``: the reference-style loop of compare_reference.py with each network wrapped in
  ``DistributedDataParallel(static_graph=True)``, the way DDP is usually applied; the
  discriminators are called through their wrapper in the G step too (frozen), as a user would.
  Where DDP refuses or breaks, the row says how (that is the measurement).

Each process trains on its own fixed batch (``--batch`` per process) after ``--warmup``
iterations and times ``--iters``; rank 0 reports. Images/s are summed over processes; the
scaling efficiency of P processes is img/s(P) / (P x img/s(1)). On a CPU use gloo and one thread
per process (``OMP_NUM_THREADS``), and ``--narrow`` for a quick run.

    python benchmarks/ddp_scaling.py --narrow --size 64               # CPU, gloo, 1 vs 2 processes
    python benchmarks/ddp_scaling.py --device cuda --procs 1 --size 256 # 1 GPU, NCCL

Writes benchmarks/results/ddp_scaling_<device>.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODES = ("overlap", "after_backward", "ddp")


def worker(args: argparse.Namespace) -> None:
    import torch
    from compare_reference import ReferenceLoop
    from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: N817
    from train_benchmark import build, fixed_batch, sync

    device = "cuda" if args.device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build("cyclegan", args.size, args.batch, args.narrow, {"grad_sync": args.mode if args.mode != "ddp"
                                                                          else "after_backward"}, device, Path(tmp))
        rt = trainer.runtime
        data = fixed_batch(trainer)
        if args.mode == "ddp":
            if not torch.distributed.is_initialized():  # one process: the engine did not join a group
                torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
            nets = {k: getattr(trainer.method, k) for k in ("G_A", "G_B", "D_A", "D_B")}
            ref = ReferenceLoop(nets, rt.device)
            ids = [rt.device.index] if rt.device.type == "cuda" else None
            for k in ("G_A", "G_B", "D_A", "D_B"):
                setattr(ref, k, DDP(getattr(ref, k), device_ids=ids, static_graph=True))
            step = lambda n: ref.optimize_parameters(data["A"], data["B"])  # noqa: E731
        else:
            step = lambda n: trainer.runner.iteration(data, n)  # noqa: E731
        status = "ok"
        try:
            for n in range(args.warmup):
                step(n + 1)
            sync(rt.device)
            start = time.perf_counter()
            for n in range(args.iters):
                step(args.warmup + n + 1)
            sync(rt.device)
            seconds = (time.perf_counter() - start) / args.iters
        except Exception as exc:  # noqa: BLE001 - how DDP fails is the result
            status, seconds = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", float("nan")
        world = rt.dist.world_size
        identical = None
        if status == "ok" and torch.distributed.is_initialized():  # did the ranks keep the same weights?
            module = ref if args.mode == "ddp" else trainer.method
            nets = [getattr(module, k) for k in ("G_A", "G_B", "D_A", "D_B")]
            total = torch.stack([p.detach().double().sum() for n in nets for p in n.parameters()]).sum().reshape(1)
            low, high = total.clone(), total.clone()
            torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
            torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
            identical = bool(low.item() == high.item())
        if rt.is_main:
            Path(args.result).write_text(json.dumps({
                "mode": args.mode, "procs": world, "status": status, "ms_per_it": round(seconds * 1000, 2),
                "img_s": round(world * args.batch / seconds, 3) if status == "ok" else None,
                "threads_per_proc": torch.get_num_threads(), "ranks_identical": identical}))
        rt.close()
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def launch(args: argparse.Namespace, procs: int, mode: str, tmp: Path) -> dict[str, Any]:
    result = tmp / f"{mode}_{procs}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
           __file__, "--worker", "--mode", mode, "--result", str(result), "--size", str(args.size),
           "--batch", str(args.batch), "--warmup", str(args.warmup), "--iters", str(args.iters),
           "--device", args.device, *(["--narrow"] if args.narrow else [])]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if result.is_file():
        return json.loads(result.read_text())
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"mode": mode, "procs": procs, "status": f"failed (exit {proc.returncode}): {' | '.join(tail)[:400]}"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, default="overlap", help=argparse.SUPPRESS)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--procs", default="1,2", help="process counts (default 1,2)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=1, help="per process")
    p.add_argument("--narrow", action="store_true", help="ngf/ndf 8 instead of 64")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--timeout", type=int, default=900)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    from ganzoo.bench.runner import machine

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            for procs in (int(x) for x in args.procs.split(",")):
                row = launch(args, procs, mode, Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
    for row in rows:
        one = next((r for r in rows if r["mode"] == row["mode"] and r["procs"] == 1 and r.get("img_s")), None)
        if one and row.get("img_s"):
            row["scaling_efficiency"] = round(row["img_s"] / (row["procs"] * one["img_s"]), 3)
    report = {"machine": {**machine(), "load_average": [round(x, 2) for x in os.getloadavg()]},
              "settings": {k: getattr(args, k) for k in ("device", "size", "batch", "narrow", "warmup", "iters")},
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1"),
              "command": " ".join(["python", *sys.argv]), "results": rows}
    out = args.out or Path(__file__).resolve().parent / "results" / f"ddp_scaling_{args.device}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
