"""A record of the unreadable files a dataset skipped, shared with its DataLoader workers.

Workers are separate processes holding copies of the dataset, so a list on the dataset would
only ever show the main process's skips. The record is a small append-only text file instead
(its path travels with the pickled or forked dataset); the main process reads it back, so a run
log can say how many files were dropped however many workers loaded them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
from pathlib import Path


def _remove(path: str, owner: int) -> None:
    # A forked worker inherits the finaliser; only the process that created the file deletes it.
    if os.getpid() == owner:
        with contextlib.suppress(OSError):
            os.unlink(path)


class SkipRecord:
    """Paths of skipped files, with the reason, from this process and its workers.

    One line per skip is appended with a single ``write`` in append mode, which POSIX keeps
    whole when several workers write at once. The file is deleted when the creating process
    drops the record.
    """

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="ganzoo-skipped-", suffix=".tsv")
        os.close(fd)
        self._owner = os.getpid()
        weakref.finalize(self, _remove, self.path, self._owner)

    def add(self, path: str | Path, reason: str = "") -> None:
        """Record that ``path`` was skipped (called by :class:`ganzoo.data.images.ImageList`)."""
        line = f"{path}\t{' '.join(str(reason).split())}\n"
        with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as f:
            f.write(line)

    def entries(self) -> list[tuple[Path, str]]:
        """(path, reason) of every skipped file, first skip first, each file once."""
        try:
            text = Path(self.path).read_text(encoding="utf-8")
        except OSError:
            return []
        seen: dict[str, str] = {}
        for line in text.splitlines():
            path, _, reason = line.partition("\t")
            if path and path not in seen:
                seen[path] = reason
        return [(Path(p), r) for p, r in seen.items()]

    def paths(self) -> list[Path]:
        return [p for p, _ in self.entries()]

    def __len__(self) -> int:
        return len(self.entries())
