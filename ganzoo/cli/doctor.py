"""``ganzoo doctor``: read a run's log, finished, interrupted or crashed, and say what went wrong.

It replays ``metrics.jsonl`` through the same rules the health monitor applies while training
(:mod:`ganzoo.engine.health_rules`, torch-free), so it is instant and works on a run copied from
a cluster without its checkpoints. Plugins' rules (the ``register_health_rules`` hook) apply
too, which loads the plugins (and torch) once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ganzoo.cli.console import err, out, parse_options, user_errors
from ganzoo.errors import GanzooError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _read_log(run_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """The records of ``metrics.jsonl``; a last line cut by a crash is skipped (and counted)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise GanzooError(f"{run_dir} has no metrics.jsonl: not a ganzoo run directory, or it never started")
    records, broken = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            broken += 1
    return records, broken


def _train_settings(run_dir: Path) -> dict[str, Any]:
    """The run's ``[train]`` table from its recipe.toml (defaults where it is missing)."""
    path = run_dir / "recipe.toml"
    try:
        return dict(tomllib.loads(path.read_text(encoding="utf-8")).get("train", {}))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _state(records: list[dict[str, Any]]) -> tuple[str, int]:
    """finished / interrupted / stopped by health / crashed or still running, and the last step."""
    last = max((int(r.get("step", 0)) for r in records), default=0)
    events = [r.get("event") for r in records]
    if "end" in events:
        return "finished", last
    stop = next((r for r in reversed(records) if r.get("event") == "interrupted"), None)
    if stop is not None:
        return (f"stopped by the health monitor ({stop['health']})" if stop.get("health") else "interrupted"), last
    if "aborted" in events:
        return "aborted (a second Ctrl-C, not saved)", last
    return "crashed or still running (no end record)", last


def diagnosis(run_dir: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything doctor reports, as JSON-ready data; ``overrides`` change ``train.health`` fields."""
    from pydantic import ValidationError

    from ganzoo.engine.health_rules import HealthConfig, diagnose

    records, broken = _read_log(run_dir)
    train = _train_settings(run_dir)
    try:
        config = HealthConfig.model_validate({**train.get("health", {}), **(overrides or {})})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise GanzooError(f"train.health settings: {problems}") from None
    best = str(train.get("best_metric", "a2b/psnr")).removeprefix("eval/")
    tracker = diagnose(records, config, best_metric=best if train.get("eval_every") else "",
                       best_mode=str(train.get("best_mode", "max")), rules=_rules())
    state, last = _state(records)
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    return {
        "run_dir": str(run_dir), "state": state, "last_step": last, "unreadable_lines": broken,
        "health_records": len(tracker.history), "evaluations": evals[-3:],
        "episodes": [e.as_dict() for e in tracker.episodes],
        "rollbacks": [r for r in records if r.get("event") == "health_rollback"],
        "healthy": not tracker.episodes,
    }


def _rules() -> Any:
    """The built-in rules and the plugins'."""
    from ganzoo.engine.health_rules import BUILTIN_RULES

    try:
        from ganzoo.plugins import get_plugins

        return {**BUILTIN_RULES, **get_plugins().health_rules}
    except Exception:  # a broken plugin must not stop a diagnosis; the built-in rules still apply
        return dict(BUILTIN_RULES)


def doctor(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (finished, interrupted or crashed).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diagnosis as JSON on stdout.")] = False,
    settings: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 - typer on 3.10
        "--set", "-s", help="Judge with other train.health settings: FIELD=VALUE (e.g. window=2).")] = None,
) -> None:
    """Diagnose a run from its metrics.jsonl: state, health episodes with the step each began, what to try."""
    with user_errors():
        report = diagnosis(run_dir, parse_options(settings, "--set"))
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{report['run_dir']}: {report['state']} at step {report['last_step']}; "
              f"{report['health_records']} health records", highlight=False, soft_wrap=True)
    if report["unreadable_lines"]:
        err.print(f"[yellow]warning:[/yellow] {report['unreadable_lines']} unreadable line(s) in metrics.jsonl "
                  "(a write cut by the crash?) were skipped", highlight=False, soft_wrap=True)
    if not report["health_records"]:
        out.print("no health records (train.health.enabled = false, or a run older than the monitor): nothing "
                  "to judge", highlight=False, soft_wrap=True)
    for ev in report["evaluations"][-1:]:
        scores = ", ".join(f"{k.removeprefix('eval/')} {v:.4g}" for k, v in ev.items()
                           if k.startswith("eval/") and isinstance(v, int | float))
        out.print(f"last evaluation (step {ev['step']}): {scores}", highlight=False, soft_wrap=True)
    if report["healthy"] and report["health_records"]:
        out.print("[green]healthy:[/green] no rule fired", highlight=False)
    for e in report["episodes"]:
        until = f"until step {e['end']}" if e["end"] is not None else f"still on at step {e['last']}"
        out.print(f"[bold yellow]{e['rule']}[/bold yellow] from step {e['start']} {until}: {e['saw']}",
                  highlight=False, soft_wrap=True)
        for advice in e["advice"]:
            out.print(f"  try: {advice}", highlight=False, soft_wrap=True, markup=False)
    for r in report["rollbacks"]:  # train.health.on_<rule> = "rollback"
        rates = ", ".join(f"lr/{g} {v:.3g} -> {r.get('new_lr', {}).get(g, float('nan')):.3g}"
                          for g, v in r.get("old_lr", {}).items())
        out.print(f"rolled back from step {r.get('from_step')} to step {r.get('to_step')} for {r.get('rule')}: "
                  f"{rates}", highlight=False, soft_wrap=True, markup=False)


def register_commands(cli: typer.Typer) -> None:
    cli.command("doctor")(doctor)
