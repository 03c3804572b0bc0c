"""Builders for small caches that scoring tests score (rows as pull would store them)."""
from __future__ import annotations

import json

from cache.database import Cache


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


ENGAGEMENT_TYPE_IDS = {"calls": 193, "emails": 197, "meetings": 199, "notes": 201, "tasks": 203}


def cache_from_portal(cache: Cache, portal, *, pulled_only: bool = False) -> None:
    """Copy a sandbox portal's live records and associations into the cache, as a pull would
    (`pulled_only`: only the properties a default pull asks for, as a real cache holds)."""
    from mappings.streams import default_streams
    streams = default_streams()

    def kept(object_type: str, properties: dict) -> dict:
        if not pulled_only:
            return properties
        wanted = streams[object_type].properties
        return {k: v for k, v in properties.items() if k in wanted}

    conn = cache.conn
    conn.execute("BEGIN")
    for record in portal.live("contacts"):
        contact_id = str(record.id)
        conn.execute("INSERT INTO contacts (id, email, properties) VALUES (?, ?, ?)",
                     (contact_id, (record.properties.get("email") or "").lower(),
                      json.dumps({k: v for k, v in kept("contacts", record.properties).items()
                                  if v != ""})))
        for company_id, primary in portal.associated("contacts", record.id, "companies"):
            for type_id in ((279, 1) if primary else (279,)):
                conn.execute("INSERT INTO associations VALUES ('contacts', ?, 'companies', ?, ?)",
                             (contact_id, str(company_id), type_id))
        for kind, type_id in ENGAGEMENT_TYPE_IDS.items():
            for engagement_id, _ in portal.associated("contacts", record.id, kind):
                conn.execute("INSERT INTO associations VALUES ('contacts', ?, ?, ?, ?)",
                             (contact_id, kind, str(engagement_id), type_id))
    for record in portal.live("companies"):
        conn.execute("INSERT INTO companies (id, properties) VALUES (?, ?)",
                     (str(record.id), json.dumps(kept("companies", record.properties))))
    for kind in ENGAGEMENT_TYPE_IDS:
        for record in portal.live(kind):
            conn.execute("INSERT INTO engagements (type, id, occurred_at, properties) VALUES (?, ?, ?, ?)",
                         (kind, str(record.id), record.properties.get("hs_timestamp"),
                          json.dumps(kept(kind, record.properties))))
    conn.execute("COMMIT")
