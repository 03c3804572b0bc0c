"""One leadsync run per cache at a time: an advisory lock file beside the database.

Overlapping cron jobs must never interleave their writes to the same cache. The lock is
released by the OS when the process dies, so a killed run never leaves it stuck.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from typing import Iterator

from cache.database import check_folder, utcnow
from foundation.errors import CacheBusy, ConfigError


@contextmanager
def run_lock(db_path: str, command: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the cache's run lock; wait up to `wait` seconds, then raise CacheBusy."""
    if db_path == ":memory:":
        yield
        return
    path = f"{db_path}.lock"
    check_folder(db_path)
    try:
        handle = open(path, "a+")
    except OSError as exc:
        raise ConfigError(f"{db_path}: cannot create the lock file {path} "
                          f"({exc.strerror or exc}); pass a --db in a folder you can write") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CacheBusy(_busy_message(path, db_path)) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": command, "since": utcnow()}))
        handle.flush()
        yield
    finally:
        handle.close()


def _busy_message(lock_path: str, db_path: str) -> str:
    try:
        with open(lock_path) as f:
            holder = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        holder = {}
    who = (f"`leadsync {holder.get('command')}` (pid {holder.get('pid')}, since {holder.get('since')})"
           if holder else "another leadsync run")
    return f"{db_path} is in use by {who}; wait for it to finish or pass --wait SECONDS"


def holder(db_path: str) -> int | None:
    """The pid of the live run holding the cache's lock, or None if no run holds it.

    Probes with a shared lock, released at once: a run starting in that instant may find the
    cache busy, as it would with any other run."""
    path = f"{db_path}.lock"
    try:
        handle = open(path)
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return int(json.loads(handle.read() or "{}").get("pid") or 0) or -1
            except (ValueError, AttributeError):
                return -1  # held, by a run that has not written its name yet
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def alive(pid: int | None) -> bool:
    """True if a process `pid` exists on this machine."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
