"""Images per second of the data loader alone (no model), at the reference's 256 px setting.

Generates JPEG files of 400x300 in a temporary folder (CycleGAN layout, half in trainA, half in
trainB; and the same number as side-by-side AB files for the aligned dataset), then iterates
DataLoaders over them with resize 286 + random crop 256 + flip, with 0 and 2 worker processes.
The first batch (worker start-up) is timed separately, so images/s is the steady rate a
training run sees; ``images`` counts every decoded image (an item holds an A and a B image).
Machines shared with other jobs give noisy numbers: compare runs on an idle machine.

    python benchmarks/loader_throughput.py [--files 200] [--epochs 2] [--batch-size 4]

Prints a table and writes benchmarks/results/loader_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ganzoo.data.folders import UnpairedFolderConfig, UnpairedFolderDataset
from ganzoo.data.paired import AlignedConfig, AlignedDataset

RESULTS = Path(__file__).resolve().parent / "results" / "loader_throughput.json"


def photo_like(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Smooth colour fields plus grain: compresses and decodes like a photo, unlike pure noise."""
    low = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 8, size=(h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8))


def generate(root: Path, files: int, size: tuple[int, int] = (400, 300)) -> None:
    rng = np.random.default_rng(0)
    w, h = size
    for i in range(files):
        domain = "trainA" if i % 2 == 0 else "trainB"
        (root / "unpaired" / domain).mkdir(parents=True, exist_ok=True)
        photo_like(rng, w, h).save(root / "unpaired" / domain / f"{i:04d}.jpg", quality=90)
    (root / "aligned" / "train").mkdir(parents=True, exist_ok=True)
    for i in range(files // 2):  # each AB file is two 400x300 images side by side
        ab = Image.new("RGB", (2 * w, h))
        ab.paste(photo_like(rng, w, h), (0, 0))
        ab.paste(photo_like(rng, w, h), (w, 0))
        ab.save(root / "aligned" / "train" / f"{i:04d}.jpg", quality=90)


def measure(dataset, workers: int, batch_size: int, epochs: int) -> dict:
    """Steady rate over ``epochs`` passes of one loader (workers kept between epochs); the first
    batch, which pays for starting the workers, is timed separately as ``first_batch_s``."""
    torch.manual_seed(0)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, **({"prefetch_factor": 4} if workers else {}))
    images, start, first = 0, None, 0.0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            if start is None:
                start = time.perf_counter()
                first = start - t0
                continue
            images += batch["A"].shape[0] + batch["B"].shape[0]
    seconds = time.perf_counter() - (start or time.perf_counter())
    return {"images": images, "seconds": round(seconds, 3), "images_per_s": round(images / seconds, 1),
            "first_batch_s": round(first, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="JPEG files per dataset (400x300 images).")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker; the main process is the loader here

    with tempfile.TemporaryDirectory(prefix="ganzoo-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root, args.files)
        print(f"generated {args.files} + {args.files // 2} AB JPEG files in {time.perf_counter() - t0:.1f} s")
        common = dict(load_size=286, crop_size=256, preprocess="resize_and_crop")
        datasets = {
            "unpaired_folders": UnpairedFolderDataset(UnpairedFolderConfig(root=root / "unpaired", **common)),
            "aligned": AlignedDataset(AlignedConfig(root=root / "aligned", **common)),
        }
        rows = []
        for name, ds in datasets.items():
            for workers in args.workers:
                r = measure(ds, workers, args.batch_size, args.epochs)
                rows.append({"dataset": name, "workers": workers, **r})
                print(f"{name:18s} workers={workers}  {r['images_per_s']:8.1f} images/s  "
                      f"({r['images']} images in {r['seconds']} s)", flush=True)

    print()
    print(f"{'dataset':18s} {'workers':>7s} {'images/s':>10s}")
    for r in rows:
        print(f"{r['dataset']:18s} {r['workers']:7d} {r['images_per_s']:10.1f}")
    result = {
        "benchmark": "loader_throughput",
        "setting": "JPEG 400x300 -> resize 286x286, random crop 256, random flip, to [-1, 1] tensors",
        "files": args.files, "epochs": args.epochs, "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
        "pillow": Image.__version__, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
