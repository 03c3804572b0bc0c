"""Owners: HubSpot's `/crm/v3/owners` (names and teams) read whole into the `owners` table.

A portal has tens of owners, so every pull reads them all (usually one call) instead of
keeping a watermark: owners HubSpot no longer lists are marked archived, never deleted, so
contacts and engagements that still name them keep a name in reports.
"""
from __future__ import annotations

from cache.database import Cache, utcnow
from cache.owners import save_owners
from connector.client import HubSpot


def refresh_owners(cache: Cache, client: HubSpot) -> int:
    """Read every active owner and save them; returns how many HubSpot listed."""
    owners, after = [], None
    while True:
        page = client.owners_page(after=after)
        owners += page.results
        after = page.after
        if after is None:
            break
    with cache.transaction() as conn:
        save_owners(conn, owners, utcnow())
    return len(owners)
