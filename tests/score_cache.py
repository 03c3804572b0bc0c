"""Builders for small caches that scoring tests score (rows as pull would store them)."""
from __future__ import annotations

import json

from connector.cache import Cache


def add_contact(cache: Cache, contact_id: str, archived: int = 0, merged_into: str | None = None,
                **properties: str) -> None:
    cache.conn.execute("INSERT INTO contacts (id, email, properties, archived, merged_into) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (contact_id, properties.get("email"), json.dumps(properties), archived,
                        merged_into))


def add_event(cache: Cache, contact_id: str, kind: str, event_id: str, occurred_at: str,
              archived: int = 0, type_ids: tuple[int, ...] = (199,), **properties: str) -> None:
    cache.conn.execute("INSERT OR IGNORE INTO engagements (type, id, occurred_at, properties, archived) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (kind, event_id, occurred_at, json.dumps({"hs_timestamp": occurred_at,
                                                                 **properties}), archived))
    for type_id in type_ids:
        cache.conn.execute("INSERT INTO associations VALUES ('contacts', ?, ?, ?, ?)",
                           (contact_id, kind, event_id, type_id))


def add_company(cache: Cache, company_id: str, contact_id: str | None = None, type_id: int = 1,
                **properties: str) -> None:
    cache.conn.execute("INSERT OR IGNORE INTO companies (id, properties) VALUES (?, ?)",
                       (company_id, json.dumps(properties)))
    if contact_id is not None:
        cache.conn.execute("INSERT INTO associations VALUES ('contacts', ?, 'companies', ?, ?)",
                           (contact_id, company_id, type_id))
