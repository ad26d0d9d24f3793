"""``ganzoo bench``: every recipe under the same budget and seeds, one results file, one table.

Papers compare methods trained for different lengths, on different protocols, reporting the
best of many checkpoints. Here every entry (recipe x seed) is trained by the same engine under
the same budget and scored by the same evaluation on the same test split, and the table shows
the spread over seeds. The pieces:

- a budget of iterations (``train.iterations``) or of wall-clock seconds. For seconds, each
  recipe's speed is measured first on a short run, its length is set to the iterations that
  fit (so its learning-rate schedule is laid out over the run it will really have), and
  ``train.max_seconds`` stops it at the first iteration past the budget; the time it really
  trained is recorded;
- each entry in a process of its own (:mod:`ganzoo.bench.worker`): a failure is recorded with
  its message and the others run;
- ``OUT/results.json`` written after every entry: a rerun with the same ``--out`` skips the
  entries that finished (with the same recipe file and options) and continues the one that was
  interrupted from its checkpoint;
- the tables (:mod:`ganzoo.bench.tables`) rebuilt from that file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

FORMAT = 1
QUIET = ("train.sample_every=0", "train.checkpoint_every=0", "train.loggers=[]")
"""Every entry: no periodic sample grids or checkpoints (I/O that would count as training time;
the final grid and checkpoint are still written, and an interrupted entry still saves), no
loggers besides metrics.jsonl."""


@dataclass
class BenchPlan:
    """What ``ganzoo bench`` was asked to do."""

    recipes: list[Path]
    out: Path
    seeds: list[int] = field(default_factory=lambda: [0])
    budget_seconds: float | None = None
    budget_iterations: int | None = None
    evals: int = 4
    """Evaluations during each entry's training (the last at its end); more than one gives a best checkpoint."""
    overrides: list[str] = field(default_factory=list)
    device: str | None = None
    threads: int | None = None
    in_process: bool = False
    suite: str | None = None
    calibration_iterations: int = 20
    command: str | None = None
    """The command line that made the bench, recorded to reproduce it."""

    def settings(self) -> dict[str, Any]:
        """What must match for a finished entry to be reused by a rerun."""
        return {"budget_seconds": self.budget_seconds, "budget_iterations": self.budget_iterations,
                "evals": self.evals, "overrides": list(self.overrides), "device": self.device,
                "threads": self.threads}


def machine() -> dict[str, Any]:
    """Where the numbers were measured: they mean nothing without it."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    from ganzoo import __version__

    info["ganzoo"] = __version__
    return info


def fingerprint(path: Path, settings: dict[str, Any]) -> str:
    """A recipe file's content and the bench's settings: an entry made with others is stale."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:16]


class Bench:
    """Runs a :class:`BenchPlan` into ``plan.out`` (see the module's docstring)."""

    def __init__(self, plan: BenchPlan, say: Callable[[str], None] = print):
        self.plan, self.say = plan, say
        self.out = Path(plan.out)
        self.path = self.out / "results.json"
        self.results = self._load()
        self._interrupted = False
        self._elsewhere: list[str] = []

    # ---------------------------------------------------------------- the results file

    def _load(self) -> dict[str, Any]:
        plan = self.plan
        if self.path.is_file():
            try:
                results = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise GanzooError(f"{self.path}: not a bench results file ({exc}); use another --out") from None
            done = [k for k, e in results.get("entries", {}).items() if e.get("status") == "ok"]
            if done and results.get("settings") != plan.settings():
                raise GanzooError(f"{self.out} holds a bench with other settings ({results.get('settings')}); "
                                  "rerun with the same budget and options, or use another --out")
        else:
            results = {"format": FORMAT, "entries": {}, "recipes": {}, "calibration": {}}
        results.update(settings=plan.settings(), suite=plan.suite, seeds=sorted(set(results.get("seeds", []))
                                                                                 | set(plan.seeds)))
        if plan.command:
            results["command"] = plan.command
        return results

    def save(self) -> None:
        from ganzoo.bench.tables import write_tables

        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=1, sort_keys=False))
        tmp.replace(self.path)
        write_tables(self.results, self.out)

    # ---------------------------------------------------------------- the run

    def run(self) -> dict[str, Any]:
        plan = self.plan
        here = {**machine(), **({"torch_threads": plan.threads} if plan.threads else {})}
        before = self.results.setdefault("machine", here)  # where (and when) the bench began
        self._elsewhere = [k for k in ("cpu", "torch_threads", "gpu", "torch") if before.get(k) != here.get(k)]
        if self._elsewhere:
            self.say(f"warning: {self.out} was begun with another {', '.join(self._elsewhere)}; the table will say "
                     "so if an entry is trained now")
        recipes = self._recipes()
        self.save()
        for key, info in recipes.items():
            if self._interrupted:
                break
            planned = self._length(key, info)
            for seed in plan.seeds:  # (an interrupted speed measurement stops the bench here too)
                if self._interrupted:
                    break
                self._entry(key, info, seed, planned)
        self.results["finished"] = not self._interrupted and all(
            self.results["entries"].get(f"{k}/seed{s}", {}).get("status") == "ok" for k in recipes
            for s in plan.seeds)
        self.save()
        return self.results

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def _recipes(self) -> dict[str, dict[str, Any]]:
        """Name -> what the tables need of each recipe; a recipe that does not load is recorded
        as failed for every seed (its message says why) and the others go on."""
        from ganzoo.recipe import load_recipe

        found: dict[str, dict[str, Any]] = {}
        for path in self.plan.recipes:
            path = Path(path)
            info: dict[str, Any] = {"path": _shown(path), "file": str(path.resolve())}
            try:
                resolved = load_recipe(path, [*self.plan.overrides, *self._device()])
                base = resolved.name
                info.update(method=resolved.method.spec.name, length=resolved.train.iterations,
                            paired_train=bool(getattr(resolved.method.spec.cls, "requires_paired", False)),
                            eval_items=resolved.train.eval_items, batch_size=resolved.train.batch_size,
                            data=resolved.data.spec.name, fingerprint=fingerprint(path, self.plan.settings()))
            except (GanzooError, OSError) as exc:
                base, info["error"] = path.stem, str(exc).strip()
            key, n = base, 2
            while key in found:
                key, n = f"{base}-{n}", n + 1
            found[key] = info
            self.results["recipes"][key] = {k: v for k, v in info.items() if k != "file"}  # no local paths
        return found

    def _device(self) -> list[str]:
        return [f"run.device={json.dumps(self.plan.device)}"] if self.plan.device else []

    def _length(self, key: str, info: dict[str, Any]) -> int | None:
        """The iterations each entry of the recipe is laid out for (None: the recipe's own)."""
        plan = self.plan
        if "error" in info or not plan.budget_seconds:
            return plan.budget_iterations
        known = self.results["calibration"].get(key)
        if known and known.get("fingerprint") == info["fingerprint"] and known.get("it_s"):
            return int(known["planned_iterations"])
        n = plan.calibration_iterations
        window = max(1, n // 2)
        overrides = [*plan.overrides, *self._device(), *QUIET, f"train.iterations={n}", f"train.log_every={window}",
                     "train.eval_metrics=[]", f"run.seed={plan.seeds[0]}"]
        self.say(f"{key}: measuring its speed on {n} iterations")
        entry = self._launch(info["file"], overrides, self.out / "calibration" / key, sample=None)
        speed = entry.get("steady_it_s")
        if entry.get("status") == "interrupted":
            self._interrupted = True
            return None
        if entry.get("status") != "ok" or not speed:
            info["error"] = f"speed calibration failed: {entry.get('error', 'no speed was logged')}"
            return None
        planned = max(1, math.ceil(speed * plan.budget_seconds))
        self.results["calibration"][key] = {"it_s": speed, "planned_iterations": planned,
                                            "fingerprint": info["fingerprint"]}
        self.say(f"{key}: {speed:.2f} it/s; laid out for {planned} iterations, stopped at {plan.budget_seconds:g} s")
        return planned

    def _entry(self, key: str, info: dict[str, Any], seed: int, planned: int | None) -> None:
        plan = self.plan
        name = f"{key}/seed{seed}"
        old = self.results["entries"].get(name)
        if old and old.get("status") == "ok" and old.get("fingerprint") == info.get("fingerprint"):
            self.say(f"{name}: done before, skipped")
            return
        if "error" in info:
            self.results["entries"][name] = {"recipe": key, "seed": seed, "status": "failed", "error": info["error"]}
            self.say(f"{name}: failed: {info['error']}")
            self.save()
            return
        overrides = [*plan.overrides, *self._device(), *QUIET, f"run.seed={seed}"]
        length = planned or info.get("length")
        if planned:
            overrides.append(f"train.iterations={planned}")
        if plan.budget_seconds:
            overrides.append(f"train.max_seconds={plan.budget_seconds}")
        if length and plan.evals > 1:
            overrides.append(f"train.eval_every={max(1, length // plan.evals)}")
        self.say(f"{name}: training")
        sample = self.out / "samples" / f"{key}.png" if seed == plan.seeds[0] else None
        # an interrupted entry (its checkpoint saved) continues; any other starts over
        resume = bool(old) and old.get("status") == "interrupted" and old.get("fingerprint") == info["fingerprint"]
        entry = self._launch(info["file"], overrides, self.out / "runs" / key / f"seed{seed}", sample=sample,
                             resume=resume)
        if self._elsewhere:
            self.results["mixed_machines"] = True
        entry.update(recipe=key, seed=seed, fingerprint=info["fingerprint"], overrides=overrides,
                     date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        if entry.get("sample"):
            entry["sample"] = _relative(Path(entry["sample"]), self.out)
        self.results["entries"][name] = entry
        self.say(f"{name}: {_summary(entry)}")
        if entry["status"] == "interrupted":
            self._interrupted = True
        self.save()

    def _launch(self, recipe: str, overrides: Sequence[str], run_dir: Path, sample: Path | None,
                resume: bool = False) -> dict[str, Any]:
        from ganzoo.bench.worker import run_entry

        spec = {"recipe": recipe, "overrides": list(overrides), "run_dir": str(run_dir), "threads": self.plan.threads,
                "sample": str(sample) if sample else None, "resume": resume}
        if self.plan.in_process:
            import torch

            threads = torch.get_num_threads()
            try:
                entry = run_entry(spec)
            finally:
                torch.set_num_threads(threads)
            entry.pop("memory", None)  # this process's peak is every entry's so far: not this entry's
            return entry
        return self._subprocess(spec, run_dir)

    def _subprocess(self, spec: dict[str, Any], run_dir: Path) -> dict[str, Any]:
        """The worker in its own process, its output in ``run_dir.log``. Ctrl-C reaches the worker
        (same process group), which saves its checkpoint and stops; this process waits for it,
        then stops the bench. SIGTERM is passed on likewise."""
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        spec_path, result_path = run_dir.with_suffix(".spec.json"), run_dir.with_suffix(".result.json")
        log_path = run_dir.with_suffix(".log")
        result_path.unlink(missing_ok=True)
        spec_path.write_text(json.dumps({**spec, "result": str(result_path)}, indent=1))
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ganzoo.bench.worker", str(spec_path)],
                                    stdout=log, stderr=subprocess.STDOUT)

            def stop(signum: int, frame: Any) -> None:
                self._interrupted = True
                if signum == signal.SIGTERM:
                    proc.send_signal(signal.SIGTERM)

            previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                code = proc.wait()
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
        if result_path.is_file():
            return json.loads(result_path.read_text())
        status = "interrupted" if self._interrupted else "failed"
        return {"status": status, "error": f"the worker process exited with status {code} without a result; "
                                           f"see {log_path}"}


def _summary(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return f"{entry['status']}: {entry.get('error', '')}".rstrip(": ")
    last = entry.get("last") or {}
    scores = ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k != "step")
    return (f"{entry['iterations']} iterations in {entry['train_seconds']:.1f} s "
            f"(stopped by {entry['stopped_by']}){'; ' + scores if scores else ''}")


def _shown(path: Path) -> str:
    """A recipe path as the user would type it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)

