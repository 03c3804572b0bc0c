"""The portal's property catalog as `leadsync setup` stored it, and what push reads from it.

`setup` stores each object type's property definitions here; model validation, the push
plan's lifecycle policy and the "is leadsync set up?" check read them back without an API call.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable

from cache.database import Cache
from foundation.errors import NotSetUp
from foundation.settings import Settings, WriteBack
from mappings.writeback import (DEFAULT_STAGE_ORDER, LIFECYCLE, LifecyclePolicy,
                                definition_mismatch, names_of, property_definitions, stage_order)
from scoring import catalog_from_rows
from scoring.properties import Catalog


def store_catalog(conn: sqlite3.Connection, object_type: str, properties: list[dict]) -> None:
    """Replace the cached catalog of `object_type` with these definitions."""
    conn.execute("DELETE FROM property_catalog WHERE object_type = ?", (object_type,))
    conn.executemany(
        "INSERT INTO property_catalog (object_type, name, type, field_type, label, options, read_only) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(object_type, p["name"], p.get("type"), p.get("fieldType"), p.get("label"),
          json.dumps(p.get("options") or [], sort_keys=True),
          1 if (p.get("modificationMetadata") or {}).get("readOnlyValue") else 0)
         for p in properties if p.get("name")])


def cached_catalog(cache: Cache) -> Catalog | None:
    """The portal's property catalog as `leadsync setup` cached it, or None if never fetched."""
    rows = cache.conn.execute(
        "SELECT object_type, name, type, field_type FROM property_catalog").fetchall()
    return catalog_from_rows(rows) if rows else None


def require_setup(conn: sqlite3.Connection, write_back: WriteBack) -> None:
    """Raise NotSetUp naming what is missing, in one line."""
    wanted = property_definitions(names_of(write_back), write_back.group)
    rows = {r[0]: r for r in conn.execute(
        "SELECT name, type, field_type, options FROM property_catalog WHERE object_type = 'contacts'")}
    if not rows:
        raise NotSetUp("the write-back properties are not set up in HubSpot; run `leadsync setup` "
                       "first (it creates them and reads the property catalog)")
    missing = [d["name"] for d in wanted if d["name"] not in rows]
    if missing:
        raise NotSetUp(f"HubSpot lacks the write-back properties {', '.join(missing)}; run "
                       f"`leadsync setup` first")
    for definition in wanted:
        _, kind, field_type, options = rows[definition["name"]]
        why = definition_mismatch(definition, {"type": kind, "fieldType": field_type,
                                               "options": json.loads(options or "[]")})
        if why:
            raise NotSetUp(f"HubSpot property {definition['name']} {why}; run `leadsync setup` "
                           f"to see what to fix")


def lifecycle_policy(conn: sqlite3.Connection, managed: Iterable[str],
                     demotable: Iterable[str] = ()) -> LifecyclePolicy:
    """The portal's stage order (from the stored catalog, else HubSpot's default), the stages
    the model manages and those it explicitly lets a contact leave backwards."""
    row = conn.execute("SELECT options FROM property_catalog WHERE object_type = 'contacts' "
                       "AND name = ?", (LIFECYCLE,)).fetchone()
    order = stage_order(json.loads(row[0])) if row and row[0] else DEFAULT_STAGE_ORDER
    return LifecyclePolicy(order=order, managed=frozenset(managed), demotable=frozenset(demotable))


def write_policy(cache: Cache, settings: Settings, model) -> LifecyclePolicy | None:
    """How push may move lifecycle stages: None when push.lifecycle_stage is off."""
    if not settings.write_back.lifecycle_stage:
        return None
    stages = model.stages
    demotable = [r.name for r in stages.rules if r.allow_demotion or stages.allow_demotion]
    demotable += [rule.source for rule in getattr(model, "recycle", ())]  # validated demotable
    return lifecycle_policy(cache.conn, stages.managed, demotable)
