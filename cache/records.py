"""Save HubSpot records into the cache: upserts, tombstones, merges and sync state.

Every function takes the connection of an open transaction (`Cache.transaction()`), so a
page of rows and the cursor that covers it land together or not at all.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from mappings.records import (CONTACT_TO, association_rows, merged_ids, primary_company,
                              record_row)
from mappings.streams import Stream

_COLUMNS = {
    "contacts": ("id", "email", "properties", "created_at", "updated_at", "archived", "pulled_at"),
    "companies": ("id", "domain", "properties", "created_at", "updated_at", "archived", "pulled_at"),
    "engagements": ("type", "id", "occurred_at", "properties", "created_at", "updated_at",
                    "archived", "pulled_at"),
}
_KEYS = {"contacts": ("id",), "companies": ("id",), "engagements": ("type", "id")}


@dataclass
class Tally:
    """How a stream's records changed the cache in one run."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    archived: int = 0
    merged: int = 0
    restored: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class SyncState:
    """Where a stream's pull stands: its watermark, and a half-done phase to resume."""

    stream: str
    watermark: str | None = None
    phase: str | None = None  # None, "full" or "incremental"
    cursor: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SweepState:
    """Where a stream's rolling archived sweep stands (`archive_sweep`): the listing cursor
    and when its cycle began (None, None: between cycles; None, a time: the listing is done
    and the tombstones it did not list are still to be read back)."""

    stream: str
    after: str | None = None
    cycle_started: str | None = None
    pages: int = 0
    last_pages: int | None = None  # pages of the last complete cycle
    last_completed: str | None = None


def table_of(stream: Stream) -> str:
    return "engagements" if stream.is_engagement else stream.name


def save_records(conn: sqlite3.Connection, stream: Stream, records: Sequence[Mapping],
                 pulled_at: str, tally: Tally) -> list[str]:
    """Upsert `records` of `stream`; count new/changed; apply merges. Returns the ids saved."""
    table = table_of(stream)
    rows = [record_row(stream, r, pulled_at).values for r in records]
    before = _existing(conn, table, stream.name, [row["id"] for row in rows])
    for row in rows:
        old = before.get(row["id"])
        if old is None:
            tally.new += 1
        elif old != (row["properties"], row["archived"]):
            tally.changed += 1
        else:
            tally.unchanged += 1
    columns = _COLUMNS[table]
    keys = _KEYS[table]
    updates = [f"{c} = excluded.{c}" for c in columns if c not in keys]
    if table != "engagements":
        updates.append("merged_into = NULL")  # listed as itself: no longer merged away
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}",
        [tuple(row[c] for c in columns) for row in rows])
    if table in ("contacts", "companies"):
        for record in records:
            tally.merged += apply_merge(conn, table, str(record["id"]), merged_ids(record))
    return [row["id"] for row in rows]


def apply_merge(conn: sqlite3.Connection, table: str, survivor: str, merged: Iterable[str]) -> int:
    """Point merged-away ids at `survivor` and carry their scoring history over to it."""
    count = 0
    for old in merged:
        if old == survivor:
            continue
        # Also for ids the cache never saw: an old id must still lead to its survivor.
        cur = conn.execute(f"INSERT INTO {table} (id, merged_into) VALUES (?, ?) "
                           f"ON CONFLICT(id) DO UPDATE SET merged_into = excluded.merged_into, "
                           f"archived = 0 WHERE merged_into IS NOT excluded.merged_into",
                           (old, survivor))
        count += cur.rowcount
        if table == "contacts":
            conn.execute("UPDATE score_history SET contact_id = ? WHERE contact_id = ?", (survivor, old))
            conn.execute("DELETE FROM scores WHERE contact_id = ?", (old,))
            conn.execute("DELETE FROM pushed WHERE contact_id = ?", (old,))
            conn.execute("DELETE FROM outbox WHERE contact_id = ? AND status != 'done'", (old,))
        conn.execute("DELETE FROM associations WHERE from_type = ? AND from_id = ?", (table, old))
        conn.execute("DELETE FROM association_queue WHERE object_type = ? AND id = ?", (table, old))
    return count


def mark_archived(conn: sqlite3.Connection, stream: Stream, records: Sequence[Mapping],
                  pulled_at: str, tally: Tally) -> None:
    """Save records HubSpot lists as archived, as tombstones (rows kept, archived = 1)."""
    table = table_of(stream)
    before = _existing(conn, table, stream.name, [str(r["id"]) for r in records])
    fresh = [r for r in records if before.get(str(r["id"]), (None, 0))[1] != 1]
    tally.archived += len(fresh)
    save_records(conn, stream, [{**r, "archived": True} for r in fresh], pulled_at, Tally())
    # Known tombstones are stamped as listed: a sweep reads back the ones it did not list.
    known = [str(r["id"]) for r in records if before.get(str(r["id"]), (None, 0))[1] == 1]
    extra = " AND type = ?" if table == "engagements" else ""
    conn.executemany(f"UPDATE {table} SET pulled_at = ? WHERE id = ?{extra}",
                     [(pulled_at, i, stream.name) if extra else (pulled_at, i) for i in known])


def tombstone_unseen(conn: sqlite3.Connection, stream: Stream, since: str) -> int:
    """After a full listing: live rows not seen since `since` are gone from HubSpot."""
    table = table_of(stream)
    extra = " AND type = ?" if table == "engagements" else ""
    params: tuple = (since, stream.name) if extra else (since,)
    merged = "" if table == "engagements" else " AND merged_into IS NULL"
    cur = conn.execute(f"UPDATE {table} SET archived = 1 WHERE archived = 0{merged} "
                       f"AND (pulled_at IS NULL OR pulled_at < ?){extra}", params)
    return cur.rowcount


def queue_associations(conn: sqlite3.Connection, object_type: str, ids: Iterable[str]) -> None:
    """Remember that these records' associations must be (re)read."""
    conn.executemany("INSERT OR IGNORE INTO association_queue (object_type, id) VALUES (?, ?)",
                     [(object_type, i) for i in ids])


def requeue_verified(conn: sqlite3.Connection, since: str, until: str) -> int:
    """Queue again the live contacts whose links were verified in [since, until)."""
    return conn.execute(
        "INSERT OR IGNORE INTO association_queue (object_type, id) SELECT 'contacts', id "
        "FROM contacts WHERE archived = 0 AND merged_into IS NULL "
        "AND links_verified_at >= ? AND links_verified_at < ?", (since, until)).rowcount


def save_associations(conn: sqlite3.Connection, from_type: str, to_type: str,
                      results: Mapping[str, list[dict]]) -> None:
    """Replace the stored `from_type`→`to_type` associations of each id in `results`.

    Rows are stored contact-side (from_type = 'contacts'); an engagement's contacts are
    turned around so one table answers "what did this contact do?".
    """
    for from_id, targets in results.items():
        if from_type == "contacts":
            follow = to_type == "companies" and _tracks_primary_company(conn, from_id)
            conn.execute("DELETE FROM associations WHERE from_type = 'contacts' AND from_id = ? "
                         "AND to_type = ?", (from_id, to_type))
            conn.executemany("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)",
                             association_rows("contacts", from_id, to_type, targets))
            if follow:
                _follow_primary_company(conn, from_id, primary_company(targets))
        else:
            conn.execute("DELETE FROM associations WHERE from_type = 'contacts' AND to_type = ? "
                         "AND to_id = ?", (from_type, from_id))
            rows = [("contacts", str(t["toObjectId"]), from_type, from_id, CONTACT_TO[from_type])
                    for t in targets]
            conn.executemany("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)", rows)


def _tracks_primary_company(conn: sqlite3.Connection, contact_id: str) -> bool:
    """Whether the cached contact's `associatedcompanyid` should follow its links: it has the
    property, or its links were read before. (A record saved without it and read for the
    first time, such as an export's, keeps the properties it came with.)"""
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1 AND (links_verified_at IS NOT NULL "
        "               OR json_type(properties, '$.associatedcompanyid') IS NOT NULL)) "
        "    OR EXISTS (SELECT 1 FROM associations WHERE from_type = 'contacts' AND from_id = ?1 "
        "               AND to_type = 'companies')", (contact_id,)).fetchone()[0])


def _follow_primary_company(conn: sqlite3.Connection, contact_id: str, company: str | None) -> None:
    """`associatedcompanyid` is the primary company link as a property. HubSpot moves no
    modified date when the primary company changes, so the links just read (after the record)
    are the fresher source."""
    if company is None:
        conn.execute("UPDATE contacts SET properties = json_remove(properties, '$.associatedcompanyid') "
                     "WHERE id = ? AND json_type(properties, '$.associatedcompanyid') IS NOT NULL",
                     (contact_id,))
    else:
        conn.execute("UPDATE contacts SET properties = json_set(properties, '$.associatedcompanyid', ?) "
                     "WHERE id = ? AND json_extract(properties, '$.associatedcompanyid') IS NOT ?",
                     (company, contact_id, company))


def read_state(conn: sqlite3.Connection, stream: str) -> SyncState:
    row = conn.execute("SELECT watermark, phase, cursor FROM sync_state WHERE stream = ?",
                       (stream,)).fetchone()
    if row is None:
        return SyncState(stream)
    return SyncState(stream, row[0], row[1], json.loads(row[2]) if row[2] else {})


def write_state(conn: sqlite3.Connection, state: SyncState, now: str) -> None:
    conn.execute(
        "INSERT INTO sync_state (stream, watermark, phase, cursor, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(stream) DO UPDATE SET watermark = excluded.watermark, phase = excluded.phase, "
        "cursor = excluded.cursor, updated_at = excluded.updated_at",
        (state.stream, state.watermark, state.phase,
         json.dumps(state.cursor, sort_keys=True) if state.cursor else None, now))


def read_sweep(conn: sqlite3.Connection, stream: str) -> SweepState:
    row = conn.execute("SELECT after, cycle_started, pages, last_pages, last_completed "
                       "FROM archive_sweep WHERE stream = ?", (stream,)).fetchone()
    return SweepState(stream, *row) if row else SweepState(stream)


def write_sweep(conn: sqlite3.Connection, state: SweepState, now: str) -> None:
    conn.execute(
        "INSERT INTO archive_sweep (stream, after, cycle_started, pages, last_pages, "
        "last_completed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(stream) DO UPDATE "
        "SET after = excluded.after, cycle_started = excluded.cycle_started, "
        "pages = excluded.pages, last_pages = excluded.last_pages, "
        "last_completed = excluded.last_completed, updated_at = excluded.updated_at",
        (state.stream, state.after, state.cycle_started, state.pages, state.last_pages,
         state.last_completed, now))


def _existing(conn: sqlite3.Connection, table: str, stream: str, ids: list[str]) -> dict[str, tuple]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    if table == "engagements":
        sql = f"SELECT id, properties, archived FROM engagements WHERE type = ? AND id IN ({marks})"
        params = [stream, *ids]
    else:
        sql = f"SELECT id, properties, archived FROM {table} WHERE id IN ({marks})"
        params = ids
    return {row[0]: (row[1], row[2]) for row in conn.execute(sql, params)}
