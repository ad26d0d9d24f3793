"""``ganzoo push``: a trained run as a model folder (see :mod:`ganzoo.sharing`) with a model card,
written locally or uploaded to the Hugging Face hub.

The card is generated from what the run recorded, not typed by hand, so it cannot drift from the
weights: the training data (the recipe's data table), the budget (steps done of the planned
length, batch size, wall time), the last evaluation with its protocol (split, items, metrics),
the plugin versions and the full recipe. A number the run did not record is said to be missing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError
from ganzoo.sharing import (
    is_hub_source,
    is_model_folder,
    read_marker,
    upload_to_hub,
    write_model_folder,
)


@dataclass
class PushResult:
    folder: Path
    url: str | None
    metrics: dict[str, float]


def run_record(run_dir: Path | None) -> dict[str, Any]:
    """What a run's ``metrics.jsonl`` says about it: the last evaluation (``eval/`` stripped) and
    its step, the end event (seconds, what stopped it), and the sample images logged."""
    record: dict[str, Any] = {"metrics": {}, "eval_step": None, "end": {}, "samples": []}
    path = run_dir / "metrics.jsonl" if run_dir else None
    if path is None or not path.is_file():
        return record
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        kind = row.get("kind")
        if kind == "eval":
            record["metrics"] = {k[len("eval/"):]: v for k, v in row.items() if k.startswith("eval/")}
            record["eval_step"] = row.get("step")
        elif kind == "event" and row.get("event") == "end":
            record["end"] = row
        elif kind == "samples" and row.get("path"):
            record["samples"].append(run_dir / row["path"])  # type: ignore[operator]
    return record


def model_card(name: str, *, recipe: Mapping[str, Any], recipe_toml: str, meta: Mapping[str, Any],
               record: Mapping[str, Any], plugins: Mapping[str, Any] | None, source: str,
               location: str = "MODEL_FOLDER") -> str:
    """The README.md of a model folder (Hugging Face reads its front matter)."""
    train, data = recipe.get("train", {}), recipe.get("data", {})
    method = recipe.get("method", {}).get("type", "?")
    length = (f"{train['iterations']} iterations" if train.get("iterations")
              else f"{train['epochs']} epochs" if train.get("epochs") else "not recorded")
    end = record.get("end") or {}
    step = meta.get("step")
    budget = [f"- planned length: {length}, batch size {train.get('batch_size', '?')}",
              f"- trained: {step if step is not None else 'not recorded'} steps"
              + (f", stopped by {end['stopped_by']}" if end.get("stopped_by") else ""),
              f"- wall time: {end['seconds']} s" if end.get("seconds") is not None else "- wall time: not recorded"]
    metrics = record.get("metrics") or {}
    if metrics:
        rows = "\n".join(f"| {key} | {value:.4g} |" for key, value in sorted(metrics.items()))
        scores = f"| metric | value |\n| --- | --- |\n{rows}"
    else:
        scores = "No evaluation was recorded for this run (run `ganzoo evaluate` and push again)."
    names = ", ".join(train.get("eval_metrics", []))
    protocol = (f"Evaluated at step {record.get('eval_step')} on the **test** split of the training data, "
                f"{train.get('eval_items', 'all')} items per direction, metrics {names} "
                "(ganzoo's evaluation protocol: docs/evaluation.md)." if metrics else "")
    versions = ""
    if plugins:
        listed = [f"{p.get('name')} ({p.get('dist')} {p.get('version')})" for p in plugins.get("plugins", [])
                  if isinstance(p, dict) and p.get("status", "loaded") == "loaded"]
        versions = (f"ganzoo {plugins.get('ganzoo', '?')}, torch {plugins.get('torch', '?')}; plugins: "
                    + ", ".join(listed))
    data_lines = "\n".join(f"- {k}: `{v}`" for k, v in data.items() if v not in (None, "", [], {}))
    return f"""---
library_name: ganzoo
tags:
- image-to-image
- gan
- {method}
---

# {name}

A {method} model for ganzoo (translates {', '.join(meta.get('directions', []))}).
Source: {source}.

## Use

```bash
pip install ganzoo
ganzoo translate {location} IMAGES... --out translated/
```

```python
import ganzoo
model = ganzoo.load("{location}")
model.translate_folder("photos/", "translated/")
```

## Training data

{data_lines or '- not recorded'}

## Budget

{chr(10).join(budget)}

## Metrics

{scores}

{protocol}

## Software

{versions or 'not recorded'}

## Recipe

The resolved recipe (every default written out); `ganzoo run recipe.toml` trains it again.

```toml
{recipe_toml.strip()}
```
"""


def push(source: Path | str, dest: str | Path, *, overwrite: bool = False, samples: int = 4,
         private: bool = False, ema: bool = True) -> PushResult:
    """Write the model of a run (a run directory, a checkpoint, or a model folder) to ``dest``:
    a local folder, or ``hf://user/repo`` (written to a temporary folder, then uploaded)."""
    from ganzoo.engine.loading import find_run_dir, load_trained
    from ganzoo.overrides import tomllib

    resolved, method, checkpoint = load_trained(Path(source), ema=ema)
    if is_model_folder(checkpoint):  # re-pushing a model folder: keep what it already says
        old = read_marker(checkpoint)
        run_dir, meta = None, {"step": old.get("step"), "directions": old.get("directions")}
        generators, directions = old.get("generators"), old.get("directions")
        recipe_toml = (checkpoint / "recipe.toml").read_text(encoding="utf-8")
        plugins = _read_json(checkpoint / "plugins.json")
        record = {"metrics": _read_json(checkpoint / "metrics.json") or {}, "end": {}, "samples": [],
                  "eval_step": old.get("step")}
        origin = describe_source(old.get("source"), checkpoint)
        sample_files = sorted((checkpoint / "samples").glob("*")) if (checkpoint / "samples").is_dir() else []
    else:
        run_dir = find_run_dir(checkpoint)
        meta = {**(_read_json(checkpoint / "meta.json") or {}), "directions": list(method.directions)}
        generators, directions = None, None
        recipe_toml = resolved.to_toml()
        plugins = _read_json(run_dir / "plugins.json") if run_dir else None
        record = run_record(run_dir)
        origin = f"run {resolved.name}, checkpoint {checkpoint.name} (step {meta.get('step', '?')})"
        sample_files = record["samples"]
    sample_files = [p for p in sample_files if p.is_file()][-samples:] if samples else []
    card = model_card(resolved.name, recipe=tomllib.loads(recipe_toml), recipe_toml=recipe_toml, meta=meta,
                      record=record, plugins=plugins, source=origin, location=str(dest))
    info = {"source": origin, "step": meta.get("step"), "ema": bool(ema and (checkpoint / "ema.safetensors").is_file()),
            "plugins": (plugins or {}).get("plugins", [])}
    if is_hub_source(dest):
        with tempfile.TemporaryDirectory(prefix="ganzoo-push-") as tmp:
            folder = write_model_folder(Path(tmp) / "model", method=method, recipe_toml=recipe_toml,
                                        generators=generators, directions=directions, info=info, card=card,
                                        metrics=record["metrics"], plugins=plugins, samples=sample_files)
            url = upload_to_hub(folder, str(dest), private=private, message=f"ganzoo push {resolved.name}")
        return PushResult(Path(str(dest)), url, record["metrics"])
    dest = Path(dest)
    if dest.resolve() == checkpoint.resolve():
        raise GanzooError(f"{dest}: is the model being pushed; choose another folder")
    folder = write_model_folder(dest, method=method, recipe_toml=recipe_toml, generators=generators,
                                directions=directions, info=info, card=card, metrics=record["metrics"],
                                plugins=plugins, samples=sample_files, overwrite=overwrite)
    return PushResult(folder, None, record["metrics"])


def describe_source(source: Any, folder: Path) -> str:
    """Where a model folder's weights came from, in words (a published model: its URL and licence)."""
    if isinstance(source, dict) and source.get("catalogue"):
        return (f"published model {source['catalogue']} ({source.get('url')}), {source.get('publisher')}; "
                f"licence: {source.get('licence')}")
    return str(source or folder)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
