"""Stopping a run without losing it: SIGTERM (cluster pre-emption, ``kill``) and a first Ctrl-C
ask the loop to stop at the end of the current iteration, where it writes a checkpoint that
``ganzoo resume`` continues exactly; a second Ctrl-C aborts at once without saving.

Handlers are installed only in the main thread of a POSIX process (elsewhere Python refuses,
and the run simply stops as Python would) and restored when the run ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any


class StopSignals:
    """``with StopSignals(say) as stop: ... if stop.requested: ...``"""

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.received is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.say("[yellow]stopping after this iteration (Ctrl-C again to abort without saving)[/yellow]")
        self.received = signum

    def __enter__(self) -> StopSignals:
        if os.name == "posix" and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
