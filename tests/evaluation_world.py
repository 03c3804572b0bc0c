"""Caches pulled from the sandbox over real HTTP, for simulate, backtest and report tests.

Pulling is the slow part, so each (contacts, seed) is pulled once per test session into a
template file; tests get their own copy.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_none

from cache.database import Cache, open_cache
from connector import failures
from connector.client import HubSpot
from connector.pull import pull
from connector.ratelimit import Budget, Limiter
from flows.sync import write_back_extra
from foundation.settings import Settings
from mappings.streams import ENGAGEMENT_TYPES, select
from sandbox import Sandbox

ALL_STREAMS = ("contacts", "companies", *ENGAGEMENT_TYPES)
_TEMPLATES: dict[tuple[int, int], tuple[Path, datetime]] = {}


def make_client(sb: Sandbox) -> HubSpot:
    retrying = Retrying(retry=retry_if_exception(failures.is_retriable), wait=wait_none(),
                        stop=stop_after_attempt(4), reraise=True)
    return HubSpot(base_url=sb.base_url, token=sb.token,
                   budget=Budget(Limiter(190, 10.0), Limiter(5, 1.0)), concurrency=8,
                   retrying=retrying)


def pulled_cache(directory: Path, target: Path, *, contacts: int, seed: int) -> datetime:
    """Copy a cache pulled from Sandbox(contacts, seed) to `target`; returns the data's anchor
    (the instant the sandbox's history ends)."""
    key = (contacts, seed)
    if key not in _TEMPLATES:
        template = directory / f"sandbox-{contacts}-{seed}.db"
        with Sandbox(contacts=contacts, seed=seed) as sb:
            cache = open_cache(template)
            pull(cache, make_client(sb), select(ALL_STREAMS, write_back_extra(Settings())))
            cache.close()
            anchor = datetime.fromtimestamp(sb.anchor_ms / 1000, timezone.utc)
        _TEMPLATES[key] = (template, anchor)
    template, anchor = _TEMPLATES[key]
    source = sqlite3.connect(template)
    copy = sqlite3.connect(target)
    source.backup(copy)  # a consistent copy, WAL included
    copy.close()
    source.close()
    return anchor


def table_counts(cache: Cache) -> dict[str, int]:
    """Rows per table: a fingerprint showing that a command wrote nothing."""
    names = [r[0] for r in cache.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {n: cache.conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
