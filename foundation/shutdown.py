"""Stop long-running commands cleanly on Ctrl-C and on SIGTERM (systemd, docker, CI)."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt while the block runs.

    Installed explicitly because a process started in the background by a shell inherits
    SIGINT as *ignored*, and SIGTERM's default would skip every `finally` (server stop, cache
    close). Outside the main thread signals cannot be handled, so nothing is changed there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
