"""Start-up time of a large image folder: listing 100k files must stay in seconds.

Generates (once, kept for reruns) a CycleGAN-layout folder whose trainA and trainB hold
``--files`` near-empty ``.jpg`` files between them (listing never opens them), then times, each
``--repeat`` times after one warm-up (a warm file-system cache, as a second run sees it):
``list_images`` of one domain, the emptiness check every data set runs (``folder_problem``),
and building the ``unpaired_folders`` training data set from a recipe's [data] table, which is
what ``ganzoo run`` does before the first step.

    python benchmarks/listing_benchmark.py                       # 100k files under /tmp
    python benchmarks/listing_benchmark.py --files 1000000 --root /scratch/listing

Writes benchmarks/results/listing_<files>.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ganzoo.bench.runner import machine
from ganzoo.data.images import folder_problem, list_images

RESULTS = Path(__file__).resolve().parent / "results"


def generate(root: Path, files: int) -> float:
    """trainA/trainB with ``files`` empty .jpg files between them (and one each in testA/testB);
    returns the seconds it took (0 when the folder already holds them)."""
    marker = root / f".complete_{files}"
    if marker.is_file():
        return 0.0
    start = time.perf_counter()
    for domain, count in (("A", files // 2), ("B", files - files // 2)):
        for split, n in (("train", count), ("test", 1)):
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{i:07d}.jpg").touch()
    marker.touch()
    return time.perf_counter() - start


def timed(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm-up: the file-system cache, imports
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=100_000, help="files in trainA and trainB together")
    p.add_argument("--root", type=Path, default=None, help="where to generate (default /tmp/ganzoo_listing_<files>)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.root or Path(f"/tmp/ganzoo_listing_{args.files}")
    made = generate(root, args.files)
    from ganzoo.plugins import get_registry
    from ganzoo.recipe import resolve

    def build() -> int:
        data = {"method": {"type": "cyclegan"}, "data": {"type": "unpaired_folders", "root": str(root)}}
        return len(resolve(data, get_registry()).build_dataset("train"))

    assert len(list_images(root / "trainA")) == args.files // 2
    results = {
        "list_images(trainA)": timed(lambda: list_images(root / "trainA"), args.repeat),
        "folder_problem(trainA)": timed(lambda: folder_problem(root / "trainA", "domain A"), args.repeat),
        "unpaired_folders train data set": timed(build, args.repeat),
    }
    report = {"files": args.files, "root": str(root), "generate_s": round(made, 1), "repeat": args.repeat,
              "machine": {**machine(), "load_average": [round(x, 2) for x in os.getloadavg()]},
              "command": " ".join(["python", *sys.argv]), "results": results}
    for name, r in results.items():
        print(f"{name:36s} median {r['median_s']:7.3f} s   max {r['max_s']:7.3f} s")
    out = args.out or RESULTS / f"listing_{args.files}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
