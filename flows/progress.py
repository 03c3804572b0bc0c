"""Progress bars for long commands on a terminal (rich); nothing at all elsewhere.

One bar per stream of a pull (or per step: score, push, backtest), each with done/total, rate
and time left, and a note while HubSpot's rate limit is holding requests back. Commands get
a display from `StreamProgress.for_terminal(quiet)`: None when stderr is not a terminal or
the user asked for --quiet or --json, so pipes, cron mail and JSON stay clean.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TaskProgressColumn, TextColumn, TimeRemainingColumn)
from rich.text import Text


class _Rate(ProgressColumn):
    """Items per second over the last moments (rich's own speed estimate)."""

    def render(self, task: Task) -> Text:
        return Text("" if not task.speed else f"{task.speed:,.0f}/s", style="cyan")


class _Waiting(ProgressColumn):
    """Says so while the rate limit holds this run's requests back."""

    def __init__(self, waiting: Callable[[], bool]) -> None:
        super().__init__()
        self.waiting = waiting

    def render(self, task: Task) -> Text:
        held = not task.finished and self.waiting()
        return Text("waiting on the rate limit" if held else "", style="yellow")


class StreamProgress:
    """Bars on stderr, one per name: `display(name, done, total)` adds or moves one."""

    def __init__(self, out: TextIO | None = None, *, force_terminal: bool | None = None) -> None:
        self._waiting: Callable[[], bool] = lambda: False
        self._progress = Progress(
            TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), _Rate(), TimeRemainingColumn(), _Waiting(self.waiting),
            console=Console(file=out or sys.stderr, force_terminal=force_terminal),
            refresh_per_second=5, transient=False)
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._progress.start()

    @classmethod
    def for_terminal(cls, quiet: bool) -> "StreamProgress | None":
        """A display when stderr is a terminal and the user did not ask for quiet."""
        return None if quiet or not sys.stderr.isatty() else cls()

    def watch(self, waiting: Callable[[], bool]) -> None:
        """Show "waiting on the rate limit" while `waiting()` (the client's budget) says so."""
        self._waiting = waiting

    def waiting(self) -> bool:
        return self._waiting()

    def __call__(self, name: str, done: int, total: int | None) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is None:
                task = self._tasks[name] = self._progress.add_task(name, total=total)
            self._progress.update(task, completed=done, total=total)

    def step(self, name: str) -> Callable[[int, int | None], None]:
        """The display of one named step, as `progress(done, total)`."""
        return lambda done, total: self(name, done, total)

    def close(self) -> None:
        self._progress.stop()


@contextmanager
def terminal_progress(quiet: bool) -> Iterator[StreamProgress | None]:
    """`StreamProgress.for_terminal(quiet)`, closed (its last state left on screen) at the end."""
    display = StreamProgress.for_terminal(quiet)
    try:
        yield display
    finally:
        if display is not None:
            display.close()
