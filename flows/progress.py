"""A one-line, per-stream progress display for terminals; silent elsewhere."""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class StreamProgress:
    """Shows `contacts 1,200/5,000 · calls 300 …` on one refreshed stderr line."""

    def __init__(self, out: TextIO | None = None, interval: float = 0.2):
        self.out = out or sys.stderr
        self.interval = interval
        self._counts: dict[str, tuple[int, int | None]] = {}
        self._shown = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_terminal(cls, quiet: bool) -> "StreamProgress | None":
        """A display when stderr is a terminal and the user did not ask for quiet."""
        return None if quiet or not sys.stderr.isatty() else cls()

    def __call__(self, stream: str, done: int, total: int | None) -> None:
        with self._lock:
            self._counts[stream] = (done, total)
            now = time.monotonic()
            if now - self._shown >= self.interval:
                self._shown = now
                self.out.write("\r\033[K" + self.line())
                self.out.flush()

    def line(self) -> str:
        parts = [f"{name} {done:,}" + (f"/{total:,}" if total else "")
                 for name, (done, total) in self._counts.items()]
        return " · ".join(parts)

    def close(self) -> None:
        self.out.write("\r\033[K")
        self.out.flush()
