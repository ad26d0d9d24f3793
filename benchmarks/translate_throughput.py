"""Translate throughput (images/s) of a registered generator through ganzoo's inference path.

Measures what ``ganzoo translate`` spends on the network: padding, autocast, forward, clamp
(not file decoding/encoding). Defaults: resnet_9blocks, ngf 64, 256 px, batch 1 and 4.

    python benchmarks/translate_throughput.py [--device cpu|cuda] [--precision auto|fp32|bf16|fp16]
        [--generator resnet_9blocks] [--size 256] [--batch 1 4] [--seconds 20] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="resnet_9blocks")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measuring time per batch size.")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
    args = parser.parse_args()

    from ganzoo.engine.runtime import resolve_device
    from ganzoo.inference import Translator
    from ganzoo.plugins import get_registry

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    generator = get_registry().get("generator", args.generator).build({"ngf": args.ngf}).to(device).eval()
    translator = Translator.from_generator(generator, device=device, precision=args.precision)
    results = []
    for batch in args.batch:
        x = torch.rand(batch, 3, args.size, args.size, device=device) * 2 - 1
        for _ in range(2):  # warm-up: allocator, cudnn autotune, lazy init
            translator(x)
        _sync(device)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds or n < 3:
            translator(x)
            _sync(device)
            n += 1
        seconds = time.perf_counter() - start
        results.append({"generator": args.generator, "ngf": args.ngf, "size": args.size, "batch": batch,
                        "device": str(device), "precision": str(translator.dtype or "fp32"),
                        "threads": torch.get_num_threads(), "iterations": n,
                        "images_per_s": round(n * batch / seconds, 3), "ms_per_batch": round(1000 * seconds / n, 1)})
        print(json.dumps(results[-1]))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
