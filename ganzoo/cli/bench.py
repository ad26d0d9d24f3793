"""``ganzoo bench``: train recipes under one budget and several seeds, and tabulate them
(the machinery is :mod:`ganzoo.bench`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganzoo.cli.console import err, out, plugins, user_errors, warning
from ganzoo.errors import GanzooError

LIST = "list"
"""``--suite list`` lists the suites (as ``--list-suites`` does)."""


def bench(
    recipes: Annotated[Optional[list[Path]], typer.Argument(  # noqa: UP045
        help="Recipe files (or names, as ganzoo recipes lists them) to compare.")] = None,
    suite: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--suite", help="A named suite of recipes, budget and seeds ('--suite list' lists them).")] = None,
    list_suites: Annotated[bool, typer.Option("--list-suites", help="List the suites and exit.")] = False,
    budget_iterations: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--budget-iterations", min=1, help="Train every entry this many iterations.")] = None,
    budget_seconds: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--budget-seconds", min=0.001,
        help="Train every entry this many seconds (stopping at the first iteration past it); each recipe's "
             "schedule is laid out for the iterations its measured speed fits in.")] = None,
    seeds: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--seeds", help="Comma-separated seeds, e.g. 0,1,2 (default: the suite's, or 0).")] = None,
    out_dir: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder of results.json/.md/.html and the runs; rerunning with it continues.")]
        = Path("runs/bench"),
    evals: Annotated[int, typer.Option(
        "--evals", min=1, help="Evaluations during each entry (the last at its end); more than 1 gives a best "
                               "checkpoint.")] = 4,
    set_: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--set", "-s", help="Override a value of every recipe: KEY.PATH=VALUE.")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="run.device of every entry.")] = None,  # noqa: UP045
    threads: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--threads", min=1, help="torch threads of every entry (default: torch's).")] = None,
    in_process: Annotated[bool, typer.Option(
        "--in-process", help="Train in this process: faster to start, no isolation, no per-entry peak memory.")]
        = False,
    render: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--render", help="Write the leaderboard page of this results.json (with --to) instead of benching.")] = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="The page --render writes.")] = None,  # noqa: UP045
    check: Annotated[bool, typer.Option("--check", help="With --render: write nothing; exit 1 if --to is stale.")]
        = False,
) -> None:
    """Compare recipes like for like: the same budget, seeds and evaluation; mean ± std over seeds.

    Writes OUT/results.json, .md and .html; a failing entry is recorded and the others go on; rerunning with the
    same --out skips what finished.
    """
    with user_errors():
        if render is not None:
            _render(render, to, check)
            return
        from ganzoo.bench.suites import collect_suites, describe_suites, get_suite

        if list_suites or suite == LIST:
            for row in describe_suites(collect_suites(plugins(), warn=warning)):
                out.print(f"[bold]{row['name']}[/bold] ({row['origin']}): {row['description']}", highlight=False)
                out.print(f"  budget {row['budget']}, seeds {','.join(map(str, row['seeds']))}; recipes: "
                          f"{', '.join(row['recipes']) or 'none'}", highlight=False, soft_wrap=True)
            return
        if budget_iterations is not None and budget_seconds is not None:
            raise GanzooError("give --budget-iterations or --budget-seconds, not both")
        from ganzoo.bench.runner import Bench, BenchPlan
        from ganzoo.recipe_files import find, not_found_hint

        chosen = get_suite(suite, collect_suites(plugins(), warn=warning)) if suite else None
        paths = [find(p) for p in recipes or []]
        if chosen is not None:
            paths = chosen.recipe_paths() + paths
            if budget_iterations is None and budget_seconds is None:
                budget_iterations, budget_seconds = chosen.budget_iterations, chosen.budget_seconds
        if not paths:
            raise GanzooError("nothing to bench: give recipe files or --suite NAME (--list-suites lists them)")
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            raise GanzooError(f"recipe file not found: {missing[0]}{not_found_hint(missing[0])}")
        seed_list = _seeds(seeds) if seeds else list(chosen.seeds if chosen else [0])
        plan = BenchPlan(recipes=paths, out=out_dir, seeds=seed_list, budget_seconds=budget_seconds,
                         budget_iterations=budget_iterations, evals=evals,
                         overrides=[*(chosen.overrides if chosen else ()), *(set_ or [])], device=device,
                         threads=threads, in_process=in_process, suite=chosen.name if chosen else None,
                         command=shlex.join(["ganzoo", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None)
        runner = Bench(plan, say=lambda line: err.print(line, highlight=False, soft_wrap=True, markup=False))
        results = runner.run()
        failed = sum(1 for e in results["entries"].values() if e.get("status") == "failed")
        out.print(f"results: {out_dir / 'results.json'}, {out_dir / 'results.md'}, {out_dir / 'results.html'}"
                  + (f" ({failed} failed entries)" if failed else ""), highlight=False, soft_wrap=True)
        if runner.interrupted:
            err.print(f"interrupted; continue with the same command (same --out {out_dir})", highlight=False)
            raise typer.Exit(130)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GanzooError(f"--seeds: expected comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise GanzooError(f"--seeds: expected distinct integers such as 0,1,2, got {text!r}")
    return seeds


def _render(results: Path, to: Path | None, check: bool) -> None:
    from ganzoo.bench.tables import LEADERBOARD_PAGE, render

    if not results.is_file():
        raise GanzooError(f"--render: {results} does not exist (make it with ganzoo bench --out DIR)")
    to = to or Path(LEADERBOARD_PAGE)
    if check:
        if not render(results, to, check=True):
            err.print(f"{to} is out of date; regenerate it with: ganzoo bench --render {results} --to {to}",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        out.print(f"{to} is up to date", highlight=False)
        return
    render(results, to)
    out.print(f"wrote {to}", highlight=False)


def register_commands(cli: typer.Typer) -> None:
    cli.command("bench")(bench)
