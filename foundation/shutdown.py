"""Stop long-running commands cleanly on Ctrl-C and on SIGTERM (systemd, docker, CI).

A signal raises KeyboardInterrupt in the main thread (which rolls back the transaction it is
in and records the run as interrupted) and sets a process-wide stop flag that the other
threads see: `check()` before and after each API call, `sleep()` instead of `time.sleep` in
back-offs and rate-limit waits. A thread blocked in an HTTP read cannot be woken; the main
thread does not wait for it (see `connector/pull.py`), and `cli.main` ends the process.
"""
from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

_STOP = threading.Event()
_received: list[int] = []


class Stopped(KeyboardInterrupt):
    """Raised in a thread that finds the process stopping (a signal arrived)."""


def _interrupt(signum: int, frame: object) -> None:
    _received.append(signum)
    _STOP.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stopping() -> bool:
    """True once SIGINT or SIGTERM arrived inside `interrupted_by_signals`."""
    return _STOP.is_set()


def check() -> None:
    """Raise Stopped if the process is stopping."""
    if _STOP.is_set():
        raise Stopped("stopping")


def sleep(seconds: float) -> None:
    """`time.sleep` that a stop cuts short (raising Stopped)."""
    if _STOP.wait(max(seconds, 0.0)):
        raise Stopped("stopping")


def received() -> int | None:
    """The first signal that arrived (SIGINT or SIGTERM), if any: cli.py exits 128 + it."""
    return _received[0] if _received else None


def exit_code(default: int = 130) -> int:
    """The conventional exit status of a run stopped by a signal: 130 (SIGINT), 143 (SIGTERM)."""
    signum = received()
    return 128 + signum if signum else default


def reset() -> None:
    """Forget an earlier stop (a new command in the same process starts afresh)."""
    _STOP.clear()
    _received.clear()


@contextmanager
def thread_pool(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A ThreadPoolExecutor that, unlike `with ThreadPoolExecutor(...)`, does not wait for
    its threads when the block is left by a stop: one blocked in an HTTP read would hold the
    stop for the read's whole timeout. Queued work is cancelled; running work sees the stop
    flag at its next call. On success or any other error it waits, as the `with` form does."""
    pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix=name)
    try:
        yield pool
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)


@contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt (and the stop flag) while the block runs.

    Installed explicitly because a process started in the background by a shell inherits
    SIGINT as *ignored*, and SIGTERM's default would skip every `finally` (server stop, cache
    close). Outside the main thread signals cannot be handled, so nothing is changed there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGINT) is not _interrupt:
        reset()  # the outermost block: an earlier command's stop is over
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
