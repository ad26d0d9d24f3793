"""ganzoo's engine against a plain PyTorch loop written the way the reference trains CycleGAN.

Every speed claim against the reference is made with this script. In ONE process, on one fixed
batch already on the device, it builds ganzoo's :class:`~ganzoo.engine.trainer.Trainer` (the
engine's real step: optimizers, autocast, finiteness guard, pools, schedules) and, from copies of
the very same initial networks, a minimal loop that trains the way junyanz/pytorch-CycleGAN-and-
pix2pix's ``CycleGANModel.optimize_parameters`` does (our own code, below: six generator calls,
``set_requires_grad`` on the discriminators, LSGAN with ``expand_as`` targets, one backward per
discriminator, ``torch.optim.Adam`` with its defaults, a list-based image pool of 50). The two
are timed interleaved (engine, reference, reference, engine, ...) so that load on the machine
hits both alike, and the median seconds per iteration of each are reported with images/s, peak
memory (CUDA: allocated; CPU: heap in use above the pre-iteration level, sampled) and the
ratio engine / reference (below 1: ganzoo is faster).

    python benchmarks/compare_reference.py --quick          # 64 and 128 px, batch 1, ~3 min on 2 idle cores
    python benchmarks/compare_reference.py --sizes 256 --batches 1,8 --engine precision=bf16 channels_last=true

``--engine KEY=VALUE`` sets ``[train]`` keys of the engine side (the reference side is always
fp32, NCHW, eager, as the reference). Results go to benchmarks/results/compare_<device>.json
(``--out``), with the machine described (CPU model, cores, threads, load average).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ganzoo.bench.runner import machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_benchmark import RESULTS, build, device_slug, fixed_batch, sync, toml_value  # noqa: E402

# ---------------------------------------------------------------------- the reference's way


class RefImagePool:
    """The reference's ImagePool (util/image_pool.py), as written there."""

    def __init__(self, pool_size: int):
        self.pool_size, self.num_imgs, self.images = pool_size, 0, []

    def query(self, images: Tensor) -> Tensor:
        if self.pool_size == 0:
            return images
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num_imgs < self.pool_size:
                self.num_imgs += 1
                self.images.append(image)
                return_images.append(image)
            elif torch.rand(()).item() > 0.5:
                random_id = int(torch.randint(0, self.pool_size, ()).item())
                tmp = self.images[random_id].clone()
                self.images[random_id] = image
                return_images.append(tmp)
            else:
                return_images.append(image)
        return torch.cat(return_images, 0)


class RefLSGAN(nn.Module):
    """The reference's GANLoss('lsgan'): targets from registered buffers, ``expand_as``, MSE."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("real_label", torch.tensor(1.0))
        self.register_buffer("fake_label", torch.tensor(0.0))

    def forward(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        return F.mse_loss(prediction, target)


class ReferenceLoop:
    """``CycleGANModel.optimize_parameters`` on copies of the engine's initial networks."""

    def __init__(self, nets: dict[str, nn.Module], device: torch.device, *, lambda_cycle: float = 10.0,
                 lambda_identity: float = 0.5, pool_size: int = 50, lr: float = 2e-4):
        self.G_A, self.G_B, self.D_A, self.D_B = (eager_copy(nets[k]).to(device) for k in ("G_A", "G_B", "D_A", "D_B"))
        self.criterionGAN, self.criterionCycle, self.criterionIdt = RefLSGAN().to(device), nn.L1Loss(), nn.L1Loss()
        self.lambda_A = self.lambda_B = lambda_cycle
        self.lambda_idt = lambda_identity
        self.fake_A_pool, self.fake_B_pool = RefImagePool(pool_size), RefImagePool(pool_size)
        self.optimizer_G = torch.optim.Adam([*self.G_A.parameters(), *self.G_B.parameters()], lr=lr, betas=(0.5, 0.999))
        self.optimizer_D = torch.optim.Adam([*self.D_A.parameters(), *self.D_B.parameters()], lr=lr, betas=(0.5, 0.999))

    @staticmethod
    def set_requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def backward_D_basic(self, netD: nn.Module, real: Tensor, fake: Tensor) -> Tensor:  # noqa: N803
        loss_D_real = self.criterionGAN(netD(real), True)
        loss_D_fake = self.criterionGAN(netD(fake.detach()), False)
        loss_D = (loss_D_real + loss_D_fake) * 0.5
        loss_D.backward()
        return loss_D

    def optimize_parameters(self, real_A: Tensor, real_B: Tensor) -> dict[str, Tensor]:
        self.real_A, self.real_B = real_A, real_B
        # forward()
        self.fake_B = self.G_A(self.real_A)
        self.rec_A = self.G_B(self.fake_B)
        self.fake_A = self.G_B(self.real_B)
        self.rec_B = self.G_A(self.fake_A)
        # G_A and G_B
        self.set_requires_grad([self.D_A, self.D_B], False)
        self.optimizer_G.zero_grad()
        lambda_idt, lambda_A, lambda_B = self.lambda_idt, self.lambda_A, self.lambda_B
        self.idt_A = self.G_A(self.real_B)
        loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * lambda_B * lambda_idt
        self.idt_B = self.G_B(self.real_A)
        loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * lambda_A * lambda_idt
        loss_G_A = self.criterionGAN(self.D_A(self.fake_B), True)
        loss_G_B = self.criterionGAN(self.D_B(self.fake_A), True)
        loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * lambda_A
        loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * lambda_B
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        loss_G.backward()
        self.optimizer_G.step()
        # D_A and D_B
        self.set_requires_grad([self.D_A, self.D_B], True)
        self.optimizer_D.zero_grad()
        loss_D_A = self.backward_D_basic(self.D_A, self.real_B, self.fake_B_pool.query(self.fake_B))
        loss_D_B = self.backward_D_basic(self.D_B, self.real_A, self.fake_A_pool.query(self.fake_A))
        self.optimizer_D.step()
        return {"G": loss_G.detach(), "D_A": loss_D_A.detach(), "D_B": loss_D_B.detach()}


def eager_copy(module: nn.Module) -> nn.Module:
    """A deep copy in NCHW that runs eagerly even if ``module`` was compiled in place."""
    out = copy.deepcopy(module).to(memory_format=torch.contiguous_format)
    for m in out.modules():
        m._compiled_call_impl = None
    return out


# ---------------------------------------------------------------------- measuring


class HeapPeak:
    """Peak CPU heap in use during a block, above the level at its start (glibc mallinfo2,
    sampled every ~0.5 ms by a thread: the main thread releases the GIL inside torch ops)."""

    class _Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]

    def __init__(self) -> None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            self._mallinfo2 = libc.mallinfo2
            self._mallinfo2.restype = HeapPeak._Info
        except (OSError, AttributeError):
            self._mallinfo2 = None
        self.peak = 0

    def _used(self) -> int:
        info = self._mallinfo2()
        return int(info.uordblks + info.hblkhd)

    def __enter__(self) -> HeapPeak:
        if self._mallinfo2 is not None:
            self._base, self.peak, self._stop = self._used(), 0, threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.0005):
            self.peak = max(self.peak, self._used() - self._base)

    def __exit__(self, *exc: object) -> None:
        if self._mallinfo2 is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._used() - self._base)

    @property
    def gb(self) -> float | None:
        return round(self.peak / 2**30, 3) if self._mallinfo2 is not None else None


def peak_memory(run_one: Any, device: torch.device) -> float | None:
    """Peak memory (GB) of one iteration: CUDA allocated, or CPU heap above the starting level."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run_one()
        sync(device)
        return round((torch.cuda.max_memory_allocated(device) - base) / 2**30, 3)
    with HeapPeak() as heap:
        run_one()
    return heap.gb


def describe_machine(device: torch.device) -> dict[str, Any]:
    """The machine (ganzoo bench's description) and how loaded it was when the run started."""
    info = {**machine(), "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def compare(size: int, batch: int, args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, Any]:
    trainer = build("cyclegan", size, batch, args.narrow, args.engine, str(device), tmp)
    method = trainer.method
    # the engine's networks have not stepped yet: the reference starts from the same weights
    ref = ReferenceLoop({k: getattr(method, k) for k in ("G_A", "G_B", "D_A", "D_B")}, device)
    data = fixed_batch(trainer)
    real_A = data["A"].contiguous(memory_format=torch.contiguous_format)
    real_B = data["B"].contiguous(memory_format=torch.contiguous_format)
    runner = trainer.runner
    state = {"step": 0}

    def engine_one() -> None:
        state["step"] += 1
        runner.iteration(data, state["step"])

    def ref_one() -> None:
        ref.optimize_parameters(real_A, real_B)

    sides = {"ganzoo": engine_one, "reference": ref_one}
    compile_s = {}
    for name, one in sides.items():  # warm-up: allocator, oneDNN primitives, compilation
        start = time.perf_counter()
        for _ in range(args.warmup):
            one()
        sync(device)
        compile_s[name] = round(time.perf_counter() - start, 2)
    memory = {name: peak_memory(one, device) for name, one in sides.items()}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for name in order:
            sync(device)
            start = time.perf_counter()
            for _ in range(args.iters):
                sides[name]()
            sync(device)
            times[name].append((time.perf_counter() - start) / args.iters)
    runner.guard.check()
    row: dict[str, Any] = {"size": size, "batch": batch}
    for name in sides:
        sec = statistics.median(times[name])
        row[name] = {"ms_per_it": round(sec * 1000, 2), "img_s": round(batch / sec, 3), "peak_mem_gb": memory[name],
                     "ms_per_it_rounds": [round(t * 1000, 1) for t in times[name]],
                     "warmup_s": compile_s[name]}
    row["ratio"] = round(row["ganzoo"]["ms_per_it"] / row["reference"]["ms_per_it"], 3)
    return row


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    def setting(text: str) -> tuple[str, Any]:
        key, _, value = text.partition("=")
        try:
            return key, json.loads(value)
        except json.JSONDecodeError:
            return key, value

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="64 and 128 px, batch 1, 8 rounds of 1 iteration each")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--sizes", type=ints, default=None, help="image sides (default 64,128,256; quick: 64,128)")
    p.add_argument("--batches", type=ints, default=[1], help="batch sizes (default 1)")
    p.add_argument("--narrow", action="store_true", help="ngf/ndf 8 instead of the reference's 64 (a smoke test)")
    p.add_argument("--engine", type=setting, nargs="*", default=[], help="[train] KEY=VALUE of the engine side")
    p.add_argument("--warmup", type=int, default=None, help="untimed iterations per side (default: CPU 1, CUDA 10)")
    p.add_argument("--iters", type=int, default=None, help="iterations per timed round (default: CPU 1, CUDA 20)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per side (default: CPU 8, CUDA 5)")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default results/compare_<device>.json)")
    args = p.parse_args(argv)
    cuda = args.device != "cpu" and torch.cuda.is_available()
    args.sizes = args.sizes or ([64, 128] if args.quick or not cuda else [64, 128, 256])
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    # on a CPU one iteration per round and many rounds: a shared machine's load then falls on both sides alike
    args.iters = args.iters if args.iters is not None else (20 if cuda else 1)
    args.rounds = args.rounds if args.rounds is not None else (5 if cuda else 8)
    args.engine = dict(args.engine)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    start, started = time.perf_counter(), describe_machine(device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for size in args.sizes:
            for batch in args.batches:
                row = compare(size, batch, args, device, Path(tmp_name))
                print(f"{size:4d} px batch {batch}: ganzoo {row['ganzoo']['ms_per_it']:9.1f} ms/it  reference "
                      f"{row['reference']['ms_per_it']:9.1f} ms/it  ratio {row['ratio']:.3f}", flush=True)
                rows.append(row)
    report = {
        "machine": {**started, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "device": str(device),
        "engine_settings": {k: toml_value(v) for k, v in args.engine.items()},
        "networks": "ngf/ndf 8 (narrow)" if args.narrow else "resnet_9blocks ngf 64, patchgan ndf 64 (reference)",
        "warmup": args.warmup, "iters": args.iters, "rounds": args.rounds,
        "seconds": round(time.perf_counter() - start, 1),
        "command": " ".join(["python", *sys.argv]),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "results": rows,
    }
    out = args.out or RESULTS / f"compare_{device_slug(device)}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} ({report['seconds']} s)")
    return report


if __name__ == "__main__":
    main()
