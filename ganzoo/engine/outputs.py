"""What a run leaves on disk besides checkpoints and sample grids: the JSONL log, a loss-curve
image and an HTML page that shows it all.

The JSONL log is the source of truth (one JSON object per line, every line has ``step`` and a
``kind``: ``train`` for loss windows, ``speed``, ``eval``, ``samples``, ``checkpoint``,
``event`` for start/end/best/interrupted..., and any other a component writes, such as
``health``); the curve and the HTML page are rebuilt from it, so a resumed run's reports cover
the whole run.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def record_kind(record: Mapping[str, Any]) -> str:
    """The kind of a log line; lines of logs written before kinds existed are read as ``event``
    (they had an ``event`` field; ``speed`` was one) or ``train``/``eval`` by their keys."""
    if "kind" in record:
        return str(record["kind"])
    if "event" in record:
        return "speed" if record["event"] == "speed" else "event"
    return "eval" if any(k.startswith("eval/") for k in record) else "train"


class JsonlLog:
    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict[str, Any], kind: str | None = None) -> None:
        """Append one line; ``kind`` (any name) goes first, else the record's own ``kind`` field,
        else what :func:`record_kind` reads from its keys."""
        # NaN and inf are not JSON: a gradient norm of a step the fp16 scaler skipped is null
        record = {"kind": kind or record_kind(record), **{k: v for k, v in record.items() if k != "kind"}}
        record = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (from a run that crashed after its last checkpoint); those
        before a health rollback stay whatever their step: they are the run's history."""
        if not self.path.exists():
            return
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        kept = max((i for i, line in enumerate(lines) if '"health_rollback"' in line), default=-1) + 1
        keep = lines[:kept] + [line for line in lines[kept:] if json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class NullLog(JsonlLog):
    """The log of ranks other than 0 in a distributed run: one writer per run."""

    def __init__(self) -> None:
        super().__init__(Path("/dev/null"))

    def write(self, record: dict[str, Any], kind: str | None = None) -> None:
        pass

    def truncate_after(self, step: int) -> None:
        pass

    def records(self) -> list[dict[str, Any]]:
        return []


# --------------------------------------------------------------------------- loss curves


def loss_series(records: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Loss name -> [(step, value)] from the log's ``train`` lines (leaving out learning rates)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        if record_kind(r) != "train":
            continue
        for key, value in r.items():
            if key in ("step", "kind") or key.startswith(("lr/", "eval/")) or not isinstance(value, int | float):
                continue
            series.setdefault(key, []).append((int(r["step"]), float(value)))
    return series


def plot_losses(records: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """One small panel per loss, each with its own scale (GAN terms and weighted cycle terms
    differ by 10x and more). matplotlib when installed, else drawn with PIL."""
    series = {k: v for k, v in loss_series(records).items() if any(math.isfinite(y) for _, y in v)}
    if not series:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_losses_pil(series, path)
    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, (name, points) in zip(axes.flat, series.items(), strict=False):
        ax.plot([s for s, _ in points], [v for _, v in points], lw=1)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_losses_pil(series: Mapping[str, list[tuple[int, float]]], path: Path) -> Path:
    from PIL import Image, ImageDraw

    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    pw, ph, margin = 300, 180, 28
    image = Image.new("RGB", (cols * pw, rows * ph), "white")
    draw = ImageDraw.Draw(image)
    for i, (name, points) in enumerate(series.items()):
        ox, oy = (i % cols) * pw, (i // cols) * ph
        finite = [(s, v) for s, v in points if math.isfinite(v)]
        xs, ys = [s for s, _ in finite], [v for _, v in finite]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        left, top, right, bottom = ox + margin + 14, oy + 18, ox + pw - 8, oy + ph - margin
        draw.rectangle([left, top, right, bottom], outline=(180, 180, 180))
        draw.text((ox + 6, oy + 3), name, fill="black")
        draw.text((ox + 2, top), f"{y1:.3g}", fill=(90, 90, 90))
        draw.text((ox + 2, bottom - 10), f"{y0:.3g}", fill=(90, 90, 90))
        draw.text((left, bottom + 4), str(x0), fill=(90, 90, 90))
        draw.text((right - 6 * len(str(x1)), bottom + 4), str(x1), fill=(90, 90, 90))
        coords = [(left + (s - x0) / (x1 - x0) * (right - left), bottom - (v - y0) / (y1 - y0) * (bottom - top))
                  for s, v in finite]
        if len(coords) == 1:
            x, y = coords[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(31, 119, 180))
        else:
            draw.line(coords, fill=(31, 119, 180), width=1)
    image.save(path)
    return path


# --------------------------------------------------------------------------- HTML index

_STEP = re.compile(r"step_(\d+)")


def sample_entries(samples_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of the sample grids in ``samples_dir``, in step order."""
    entries = []
    for path in samples_dir.glob("step_*.png") if samples_dir.is_dir() else []:
        match = _STEP.fullmatch(path.stem)
        if match:
            entries.append((int(match.group(1)), path))
    return sorted(entries)


def write_index(run_dir: Path, *, title: str, records: Sequence[Mapping[str, Any]],
                info: Mapping[str, Any] | None = None) -> Path:
    """``run_dir/index.html``: the run's facts, evaluation table, loss curves and every sample
    grid with its step, newest first. Static and relative-linked, so the folder can be copied
    or served as it is."""
    evals = [r for r in records if record_kind(r) == "eval"]
    end = next((r for r in reversed(records) if r.get("event") == "end"), None)
    final_step = end["step"] if end else None
    columns = {r.get("path"): r.get("columns") for r in records if record_kind(r) == "samples"}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
        "img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}figure{margin:1em 0}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if info:
        parts.append("<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                                         for k, v in info.items()) + "</table>")
    if evals:
        keys = sorted({k for r in evals for k in r if k.startswith("eval/")})
        parts.append("<h2>Evaluation</h2><table><tr><th>step</th>"
                     + "".join(f"<th>{html.escape(k.removeprefix('eval/'))}</th>" for k in keys) + "</tr>")
        for r in evals:
            cells = "".join(f"<td>{r[k]:.4f}</td>" if isinstance(r.get(k), int | float) else "<td></td>"
                            for k in keys)
            parts.append(f"<tr><td>{r['step']}</td>{cells}</tr>")
        parts.append("</table>")
    warnings = [r for r in records if r.get("event") == "health_warning"]
    if warnings:  # the health monitor's episodes, with the step each began (ganzoo doctor tells more)
        parts.append("<h2>Health warnings</h2><table><tr><th>rule</th><th>from step</th><th>what it saw</th>"
                     "<th>try</th></tr>")
        parts += [f"<tr><td>{html.escape(str(w.get('rule')))}</td><td>{w.get('start', w['step'])}</td><td>"
                  f"{html.escape(str(w.get('saw', '')))}</td><td>{html.escape('; '.join(w.get('advice', [])))}"
                  "</td></tr>" for w in warnings]
        parts.append("</table>")
    if (run_dir / "loss_curves.png").is_file():
        parts.append("<h2>Losses</h2><img src='loss_curves.png' alt='loss curves'>")
    entries = sample_entries(run_dir / "samples")
    if entries:
        parts.append("<h2>Samples</h2><p>The same inputs at every step; columns left to right as labelled.</p>")
        for step, path in reversed(entries):
            rel = path.relative_to(run_dir).as_posix()
            label = f"step {step}" + (" (final)" if step == final_step else "")
            names = columns.get(rel)
            caption = html.escape(label) + (f": {html.escape(' | '.join(names))}" if names else "")
            parts.append(f"<figure><figcaption>{caption}</figcaption><a href='{html.escape(rel)}'>"
                         f"<img src='{html.escape(rel)}' alt='{html.escape(label)}'></a></figure>")
    parts.append("</body></html>\n")
    path = run_dir / "index.html"
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
