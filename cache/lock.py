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

from cache.database import utcnow
from foundation.errors import CacheBusy


@contextmanager
def run_lock(db_path: str, command: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the cache's run lock; wait up to `wait` seconds, then raise CacheBusy."""
    if db_path == ":memory:":
        yield
        return
    path = f"{db_path}.lock"
    handle = open(path, "a+")
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
