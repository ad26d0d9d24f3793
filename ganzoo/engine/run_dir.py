"""A run directory belongs to one run, and to one process at a time.

Re-running a launch command after a crash is the most common way to point a new run at an old
run's directory. Starting over there silently would mix two runs' logs, leave the old run's
checkpoints (maybe of other network sizes) beside the new ones and let ``keep_last`` prune the
new run's instead of the old. So a new run refuses a directory that already holds files, and
says how to continue it (``--resume``) or replace it (``--overwrite``, which removes only the
files a run writes).

Two processes writing one run directory interleave their logs and checkpoints. A run takes a
lock file (``.lock``: pid, host, start time, command) for as long as it writes; a lock whose
process is gone from this host is stale and taken over, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

LOCK = ".lock"
RUN_OUTPUTS = ("checkpoints", "samples", "tensorboard", "metrics.jsonl", "index.html", "loss_curves.png",
               "recipe.toml", "plugins.json", "metrics.csv", "wandb", "wandb-id.txt")
"""What a run writes into its directory; ``--overwrite`` removes these and nothing else."""


def unique_run_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``... so a new run never overwrites an old one."""
    candidate, n = parent / name, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{name}-{n}"
    return candidate


def check_new_run_dir(run_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse to start a new run in ``run_dir`` when it already holds files (see the module's
    docstring); with ``overwrite``, remove the previous run's outputs first."""
    if run_dir.exists() and not run_dir.is_dir():
        raise GanzooError(f"{run_dir}: is a file, not a run directory; choose another --out")
    held = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK) if run_dir.is_dir() else []
    if not held:
        return
    if not overwrite:
        what = "holds a run" if (run_dir / "recipe.toml").is_file() else f"is not empty ({', '.join(held[:3])}"
        what += "" if what == "holds a run" else (", ...)" if len(held) > 3 else ")")
        raise GanzooError(
            f"{run_dir} {what}; continue it with: ganzoo resume {run_dir} (or run --resume), start over with "
            "run --overwrite (removes that run's checkpoints, samples and logs), or choose another --out")
    others = [name for name in held if name not in RUN_OUTPUTS]
    if others:
        raise GanzooError(f"{run_dir}: --overwrite removes only a run's own outputs, and this folder also holds "
                          f"{', '.join(others[:3])}; choose another --out")
    for name in held:
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


class RunLock:
    """``with RunLock(run_dir, "run"):`` holds ``run_dir/.lock`` for the block."""

    def __init__(self, run_dir: Path, command: str = "run", *, warn: Any = None):
        self.path, self.command, self.warn = Path(run_dir) / LOCK, command, warn
        self.held = False

    def __enter__(self) -> RunLock:
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise GanzooError(f"{self.path.parent}: is a file, not a run directory; choose another --out")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GanzooError(f"{self.path.parent}: cannot be created ({exc.strerror})") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": self.command, "argv": " ".join(sys.argv[:4])}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and not _stale(owner):
                    raise GanzooError(
                        f"{self.path.parent} is in use by another {owner.get('command', 'ganzoo')} (pid "
                        f"{owner.get('pid')} on {owner.get('host')} since {owner.get('since')}); wait for it to "
                        f"end, or delete {self.path} if that process is gone") from None
                if self.warn and owner is not None:
                    self.warn(f"{self.path}: taking over the lock of pid {owner.get('pid')}, which is no longer "
                              "running")
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            self.held = True
            return self
        raise GanzooError(f"{self.path}: could not take the lock of this run directory")

    def _owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # unreadable or half-written: treat as stale
        return owner if isinstance(owner, dict) else None

    def __exit__(self, *exc: object) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False


def _stale(owner: dict[str, Any]) -> bool:
    """The owner ran on this host and its process is gone (another host's lock is never stale)."""
    try:
        return owner.get("host") == socket.gethostname() and not pid_alive(int(owner["pid"]))
    except (KeyError, ValueError, TypeError):
        return False


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has this pid (one we may not signal is alive too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
