"""A cache of the sandbox's seeded portal, as a default pull stores it, for learn tests.

Seeded in-process (no HTTP: learn never talks to HubSpot) once per session per size; tests
get their own copy.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from score_cache import cache_from_portal

from cache.database import open_cache

ANCHOR = datetime(2026, 12, 2, tzinfo=timezone.utc)
AS_OF = ANCHOR - timedelta(days=90)
_TEMPLATES: dict[tuple[int, int], Path] = {}


def learn_cache(directory: Path, target: Path, *, contacts: int = 1500, seed: int = 7) -> Path:
    """Copy the cache of Sandbox data (contacts, seed, ANCHOR) to `target`."""
    from sandbox.portal import Portal
    from sandbox.seed import seed_portal

    key = (contacts, seed)
    if key not in _TEMPLATES:
        template = directory / f"learn-{contacts}-{seed}.db"
        portal = Portal()
        seed_portal(portal, contacts=contacts, seed=seed,
                    anchor_ms=int(ANCHOR.timestamp() * 1000))
        cache = open_cache(template)
        cache_from_portal(cache, portal, pulled_only=True)
        cache.close()
        _TEMPLATES[key] = template
    source = sqlite3.connect(_TEMPLATES[key])
    copy = sqlite3.connect(target)
    source.backup(copy)
    copy.close()
    source.close()
    return target
