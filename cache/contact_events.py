"""The `contact_events` table: what scoring reads about engagements, clustered by contact.

A rescore reads every contact's engagements. Through `associations` they are scattered (one
seek per engagement, then a sort); `contact_events` holds one row per (contact, live
engagement) in contact order, with the time as POSIX seconds and only the properties a model
may test, so the rescore reads it in one sequential pass beside `contacts`.

It is derived, never written by hand: SQLite triggers (migration 0009_contact_events) keep it
equal to its definition whenever `engagements` or `associations` change, in the same
transaction, whoever writes. The triggers call the two functions below, so every connection
that writes those tables must have them registered (`register`; `migrate` does it).
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from scoring.properties import to_epoch

# Engagement properties left out of `contact_events.properties`: per-record ids and times
# (unique per row, so identical property sets could never be shared) and free-text bodies
# (bulky). A model that tests one of them is read the slow way, from `engagements`.
# This set may grow (rows written before keep the extra keys, which nobody reads) but must
# never shrink without a migration that rebuilds the table.
OMITTED = frozenset({
    "hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hs_timestamp",
    "hs_meeting_start_time", "hs_meeting_end_time",
    "hs_call_body", "hs_email_text", "hs_email_html", "hs_body_preview",
    "hs_body_preview_html", "hs_meeting_body", "hs_note_body", "hs_task_body",
})

_fromiso = datetime.fromisoformat
_loads = json.loads
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def seconds(text: str | None) -> float | None:
    """POSIX seconds of an engagement's occurred_at (ISO text; epoch ms tolerated)."""
    if not text:
        return None
    try:
        return _fromiso(text).timestamp()
    except (TypeError, ValueError):
        return to_epoch(text)


def scored_properties(text: str | None) -> str:
    """An engagement's properties JSON without the OMITTED ones, compact, keys in order."""
    try:
        properties = _loads(text) if text else {}
    except ValueError:
        return "{}"
    if not isinstance(properties, dict):
        return "{}"
    return _dumps({k: v for k, v in properties.items() if k not in OMITTED})


def register(conn: sqlite3.Connection) -> None:
    """Make the triggers' functions available on `conn`."""
    conn.create_function("leadsync_seconds", 1, seconds, deterministic=True)
    conn.create_function("leadsync_scored_properties", 1, scored_properties, deterministic=True)
