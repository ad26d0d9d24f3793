"""The tables of a bench: one row per recipe, built from ``results.json`` alone.

Each score is the mean over the seeds that finished, with the sample standard deviation
(denominator n - 1; none for a single seed), of the last checkpoint: what a user of the recipe
gets. The best checkpoint (by the recipe's ``train.best_metric``) is shown apart, because
choosing it looks at the test split and so flatters every method. The same rows make the
Markdown, the HTML page and the committed leaderboard (``docs/leaderboard.md``).
"""

from __future__ import annotations

import html
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEADERBOARD_RESULTS = "benchmarks/results/leaderboard.json"
LEADERBOARD_PAGE = "docs/leaderboard.md"
RENDER_COMMAND = f"ganzoo bench --render {LEADERBOARD_RESULTS} --to {LEADERBOARD_PAGE}"
LEADERBOARDS = (
    (LEADERBOARD_RESULTS, LEADERBOARD_PAGE),
    ("benchmarks/results/leaderboard_multidomain.json", "docs/leaderboard-multidomain.md"),
    ("benchmarks/results/leaderboard_sr.json", "docs/leaderboard-sr.md"),
)
"""The committed results of each quickstart suite and the page rendered from them (make leaderboard)."""
REPRODUCE_COMMAND = "make leaderboard"
STD_NOTE = ("mean ± sample standard deviation over seeds (denominator n − 1; a single seed has none), "
            "of the last checkpoint")


@dataclass
class Stat:
    mean: float
    std: float | None
    n: int


def mean_std(values: Sequence[float]) -> Stat | None:
    """Mean and sample standard deviation (n - 1); None for no values."""
    values = [float(v) for v in values]
    if not values:
        return None
    return Stat(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class Row:
    recipe: str
    method: str
    paired_train: bool = False
    seeds: list[int] = field(default_factory=list)
    ok: int = 0
    seconds: Stat | None = None
    iterations: Stat | None = None
    images_per_second: Stat | None = None
    memory: tuple[str, int] | None = None
    last: dict[str, Stat] = field(default_factory=dict)
    best: dict[str, Stat] = field(default_factory=dict)
    best_step: Stat | None = None
    evaluations: int = 0
    sample: str | None = None
    failures: list[tuple[int, str]] = field(default_factory=list)


def rows(results: Mapping[str, Any]) -> list[Row]:
    """One row per recipe, in the order the recipes were benched."""
    by_recipe: dict[str, list[dict[str, Any]]] = {key: [] for key in results.get("recipes", {})}
    for entry in results.get("entries", {}).values():
        by_recipe.setdefault(entry["recipe"], []).append(entry)
    out = []
    for key, entries in by_recipe.items():
        info = results.get("recipes", {}).get(key, {})
        row = Row(key, info.get("method", "?"), bool(info.get("paired_train")),
                  seeds=sorted(e["seed"] for e in entries))
        done = sorted((e for e in entries if e.get("status") == "ok"), key=lambda e: e["seed"])
        row.failures = [(e["seed"], f"{e.get('status')}: {e.get('error', '')}".rstrip(": "))
                        for e in sorted(entries, key=lambda e: e["seed"]) if e.get("status") != "ok"]
        row.ok = len(done)
        row.seconds = mean_std([e["train_seconds"] for e in done])
        row.iterations = mean_std([e["iterations"] for e in done])
        row.images_per_second = mean_std([e["images_per_second"] for e in done if e.get("images_per_second")])
        row.memory = _peak_memory(done)
        lasts = [e["last"] for e in done if e.get("last")]
        row.last = _scores(lasts)
        row.evaluations = min((sum(1 for ev in e.get("evaluations", []) if ev["step"] > 0) for e in done), default=0)
        if row.evaluations > 1:
            bests = [e["best"] for e in done if e.get("best")]
            row.best = _scores(bests)
            row.best_step = mean_std([b["step"] for b in bests])
        row.sample = next((e["sample"] for e in done if e.get("sample")), None)
        out.append(row)
    return out


def _scores(evaluations: Sequence[Mapping[str, float]]) -> dict[str, Stat]:
    keys = sorted({k for ev in evaluations for k in ev if k != "step"}, key=_score_order)
    stats = {k: mean_std([ev[k] for ev in evaluations if k in ev]) for k in keys}
    return {k: s for k, s in stats.items() if s is not None}


def _score_order(key: str) -> tuple[str, str]:
    direction, _, name = key.partition("/")
    return (name, direction)


def _peak_memory(entries: Sequence[Mapping[str, Any]]) -> tuple[str, int] | None:
    """The largest peak over seeds: CUDA memory allocated on a GPU, resident memory on a CPU."""
    cuda = [e["memory"]["cuda_bytes"] for e in entries if (e.get("memory") or {}).get("cuda_bytes")]
    if cuda:
        return "CUDA", max(cuda)
    rss = [e["memory"]["rss_bytes"] for e in entries if (e.get("memory") or {}).get("rss_bytes")]
    return ("RSS", max(rss)) if rss else None


# ---------------------------------------------------------------- formatting


def number(value: float, like: float | None = None) -> str:
    """3 significant decimals for scores below 10 (SSIM, LPIPS), 2 above (PSNR, FID)."""
    ref = abs(like if like is not None else value)
    return f"{value:.2f}" if ref >= 10 else f"{value:.3f}"


def stat(s: Stat | None, *, digits: int | None = None, like: float | None = None) -> str:
    """``mean ± std``; ``like`` is a value of the same column, so that a column has one precision."""
    if s is None:
        return "-"
    ref = s.mean if like is None else like
    show = (lambda v: f"{v:.{digits}f}") if digits is not None else (lambda v: number(v, ref))
    return show(s.mean) if s.std is None else f"{show(s.mean)} ± {show(s.std)}"


def memory(value: tuple[str, int] | None) -> str:
    return "-" if value is None else f"{value[1] / 2**20:.0f} MiB {value[0]}"


def _arrow(key: str, better: Mapping[str, bool]) -> str:
    name = key.partition("/")[2]
    return "" if name not in better else (" ↑" if better[name] else " ↓")


def _better(results: Mapping[str, Any]) -> dict[str, bool]:
    merged: dict[str, bool] = {}
    for entry in results.get("entries", {}).values():
        merged.update(entry.get("higher_is_better", {}))
    return merged


def _method(row: Row) -> str:
    return f"{row.method} (paired training)" if row.paired_train else row.method


def tables(results: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    """``{"main": [header, *rows], "best": [...]}`` as plain text cells."""
    rs, better = rows(results), _better(results)
    keys = sorted({k for r in rs for k in r.last}, key=_score_order)
    like = {k: max(abs(r.last[k].mean) for r in rs if k in r.last) for k in keys}
    main = [["method", "recipe", "seeds", "train s", "iterations", "images/s", "peak memory",
             *[f"{k}{_arrow(k, better)}" for k in keys]]]
    for r in rs:
        main.append([_method(r), r.recipe, f"{r.ok}/{len(r.seeds)}", stat(r.seconds, digits=1),
                     stat(r.iterations, digits=0), stat(r.images_per_second, digits=1), memory(r.memory),
                     *[stat(r.last.get(k), like=like[k]) for k in keys]])
    best_keys = sorted({k for r in rs for k in r.best}, key=_score_order)
    best = [["method", "recipe", "evaluations", "best at step", *[f"{k}{_arrow(k, better)}" for k in best_keys]]]
    for r in rs:
        if r.best:
            best.append([_method(r), r.recipe, str(r.evaluations), stat(r.best_step, digits=0),
                         *[stat(r.best.get(k), like=like.get(k)) for k in best_keys]])
    return {"main": main, "best": best if len(best) > 1 else []}


def describe(results: Mapping[str, Any]) -> list[str]:
    """The lines that say what was run, where: budget, seeds, machine, date."""
    settings, m = results.get("settings", {}), results.get("machine", {})
    if settings.get("budget_seconds"):
        budget = f"{settings['budget_seconds']:g} s of training per entry (stopped at the first iteration past it)"
    elif settings.get("budget_iterations"):
        budget = f"{settings['budget_iterations']} iterations per entry"
    else:
        budget = "each recipe's own length"
    where = ", ".join(x for x in [m.get("cpu"), f"torch threads: {m.get('torch_threads')}" if m else "",
                                  m.get("gpu"), f"torch {m.get('torch')}" if m else "",
                                  f"ganzoo {m.get('ganzoo')}" if m.get("ganzoo") else ""] if x)
    lines = [f"- budget: {budget}; seeds: {', '.join(map(str, results.get('seeds', [])))}",
             f"- machine: {where or 'not recorded'}; date: {m.get('date', '?')}"]
    digests = {e.get("test_digest") for e in results.get("entries", {}).values() if e.get("test_digest")}
    if results.get("mixed_machines"):
        lines.append("- **entries were trained on different machines or setups** (a rerun elsewhere): "
                     "times and speeds do not compare")
    if len(digests) > 1:
        lines.append("- **the recipes were scored on different test items** (their digests differ): compare "
                     "their scores with care")
    elif digests:
        lines.append(f"- every entry was scored on the same test images (digest {digests.pop()})")
    if results.get("suite"):
        lines.insert(0, f"- suite: `{results['suite']}`")
    if results.get("command"):
        lines.append(f"- command: `{results['command']}`")
    return lines


def _md_table(table: list[list[str]]) -> list[str]:
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cell(c) for c in table[0]) + " |", "|" + "---|" * len(table[0])]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in table[1:]]


def markdown(results: Mapping[str, Any], *, title: str = "Bench results", samples: bool = True,
             preamble: Sequence[str] = ()) -> str:
    made = tables(results)
    lines = [f"# {title}", "", *preamble, *describe(results), "",
             f"Scores: {STD_NOTE}, on the recipe's test split as `ganzoo evaluate` computes them; "
             "↑ higher is better, ↓ lower. Train s counts training only (evaluations excluded).", "",
             *_md_table(made["main"])]
    if made["best"]:
        lines += ["", "## Best checkpoint", "",
                  "By each recipe's `train.best_metric` among the evaluations during training. Choosing a "
                  "checkpoint on the test split flatters every method: compare the table above.", "",
                  *_md_table(made["best"])]
    rs = rows(results)
    if samples and any(r.sample for r in rs):
        lines += ["", "## Samples", "", "The last sample grid of the first seed: the first test inputs (a row "
                  "each) and the method's translations, as the run's own grids show them.", "",
                  "| method | sample |", "|---|---|"]
        lines += [f"| {_method(r)} | ![{r.recipe}]({r.sample}) |" for r in rs if r.sample]
    failures = [(r.recipe, seed, why) for r in rs for seed, why in r.failures]
    if failures:
        lines += ["", "## Failures", ""] + [f"- `{recipe}` seed {seed}: {why}" for recipe, seed, why in failures]
    return "\n".join(lines) + "\n"


def html_page(results: Mapping[str, Any], *, title: str = "Bench results") -> str:
    made, esc = tables(results), html.escape

    def table(rows_: list[list[str]]) -> str:
        head = "".join(f"<th>{esc(c)}</th>" for c in rows_[0])
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows_[1:])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [f"<h1>{esc(title)}</h1>", "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in describe(results))
             + "</ul>", f"<p>Scores: {esc(STD_NOTE)}; ↑ higher is better, ↓ lower.</p>", table(made["main"])]
    if made["best"]:
        parts += ["<h2>Best checkpoint</h2><p>By each recipe's train.best_metric, chosen on the test split.</p>",
                  table(made["best"])]
    rs = rows(results)
    if any(r.sample for r in rs):
        parts.append("<h2>Samples</h2><table>" + "".join(
            f"<tr><td>{esc(_method(r))}</td><td><img src=\"{esc(r.sample)}\" alt=\"{esc(r.recipe)}\"></td></tr>"
            for r in rs if r.sample) + "</table>")
    failures = [(r.recipe, seed, why) for r in rs for seed, why in r.failures]
    if failures:
        parts.append("<h2>Failures</h2><ul>" + "".join(
            f"<li>{esc(recipe)} seed {seed}: {esc(why)}</li>" for recipe, seed, why in failures) + "</ul>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%;max-height:360px}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{esc(title)}</title><style>{style}"
            f"</style></head><body>{''.join(parts)}</body></html>\n")


def _inline(text: str) -> str:
    """The Markdown of a description line (`code`, **bold**) as HTML."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]*)\*\*", r"<strong>\1</strong>", text)


def write_tables(results: Mapping[str, Any], out: Path) -> None:
    """``results.md`` and ``results.html`` beside ``results.json``."""
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
    (out / "results.html").write_text(html_page(results), encoding="utf-8")


def leaderboard(results: Mapping[str, Any], results_path: str = LEADERBOARD_RESULTS,
                page: str = LEADERBOARD_PAGE) -> str:
    """A leaderboard page (``docs/leaderboard.md``): the tables of a committed results file, and
    how to remake them."""
    command = f"ganzoo bench --render {results_path} --to {page}"
    preamble = [f"Generated by `{command}` from the committed results of a real run; do not edit. "
                f"Reproduce the run and this page with `{REPRODUCE_COMMAND}` (on an idle machine: it trains every "
                "entry in turn). Every method trains on the same data under the same budget, is scored by the same "
                "evaluation on the same test split, and is shown as the spread over seeds, not the best run "
                "(see [the bench](bench.md)).", ""]
    return markdown(results, title="Leaderboard", samples=False, preamble=preamble)


def render(results_path: Path, to: Path, *, check: bool = False) -> bool:
    """Write the leaderboard page of ``results_path`` to ``to``; with ``check``, write nothing
    and return whether ``to`` is up to date."""
    text = leaderboard(json.loads(Path(results_path).read_text()), _posix(results_path), _posix(to))
    if check:
        return to.is_file() and to.read_text(encoding="utf-8") == text
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text(text, encoding="utf-8")
    return True


def _posix(path: Path | str) -> str:
    """``path`` as the page names it: relative to the working directory where it is inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()
