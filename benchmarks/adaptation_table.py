"""The domain-adaptation table of docs/adaptation.md (issue 16): each task run's target and source
mIoU, pixel accuracy, iterations and training seconds, as one markdown table.

Scores are ``ganzoo evaluate RUN`` (the last checkpoint, the run's own task metrics) on the run's
test split: ``b2a/*`` on the target (B) images, ``a2b/*`` on the source (A) images.

    python benchmarks/adaptation_table.py runs/adapt_source_only runs/adapt_pixel ... [--label RUN=TEXT ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ganzoo


def row(run: Path, label: str) -> str:
    report = ganzoo.evaluate(run, device="cpu")
    r = report.results
    end = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"end"' in line]
    end = end[-1] if end else {}
    recipe = (run / "recipe.toml").read_text()
    translate = next((line.split("=", 1)[1].strip().strip('"') for line in recipe.splitlines()
                      if line.startswith("translate_with")), "")
    return (f"| {label} | {r['b2a/miou']:.3f} | {r['b2a/pixel_accuracy']:.3f} | {r['a2b/miou']:.3f} | "
            f"{end.get('step', '?')} | {end.get('train_seconds', float('nan')):.0f} | {translate or '-'} | "
            f"{report.protocol['items']} |")


def main(argv: list[str]) -> None:
    labels = dict(a.split("=", 1) for a in argv if "=" in a)
    runs = [Path(a) for a in argv if "=" not in a]
    print("| run | target mIoU (b2a/miou) | target pixel acc. | source mIoU (a2b/miou) | iterations | train s "
          "| translation run | test items |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(run, labels.get(str(run), run.name)))


if __name__ == "__main__":
    main(sys.argv[1:])
