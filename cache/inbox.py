"""The webhook inbox: events the receiver accepted, waiting for (or done with) the worker.

Lifecycle of a row (the `inbox` table, migration 0005_inbox):

    pending ──claim──► (leased) ──mark_done──► done
       ▲                  │ ├──mark_dropped──► dropped   (e.g. echoes of leadsync's own writes)
       └── failed ◄───────┘ └──mark_failed───► parked    (after max_attempts)

`failed` rows are pending again once `next_attempt_at` passes. A claim leases rows by moving
`next_attempt_at` forward: a worker that dies mid-batch loses nothing, the rows come back
when the lease runs out. Times are the cache's ISO-8601 UTC text, so they compare as text.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from cache.database import Cache

UNPROCESSED = ("pending", "failed")
_MAX_INT = 2**63 - 1  # SQLite's INTEGER range


@dataclass(frozen=True)
class WebhookEvent:
    """One event of a HubSpot delivery, as the inbox stores it."""

    key: str
    event_id: int
    subscription_type: str
    object_id: str
    occurred_at: int
    payload: str


@dataclass(frozen=True)
class InboxEntry:
    """An inbox row handed to the worker by `claim`."""

    id: int
    event_id: int
    subscription_type: str
    object_id: str
    occurred_at: int
    payload: dict[str, Any]
    attempts: int
    received_at: str


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (1-based): first, then doubling, never more than `longest`."""

    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(hours=1)

    def delay(self, attempt: int) -> timedelta:
        return min(self.first * 2 ** max(attempt - 1, 0), self.longest)


@dataclass(frozen=True)
class Metrics:
    """What /healthz and `leadsync status` show about the inbox."""

    depth: int
    oldest_pending_age_s: float | None
    processed: int
    failed: int
    parked: int
    dropped: int


def event_key(event: dict[str, Any]) -> str:
    """A stable identity for an event: the same event redelivered gets the same key.

    HubSpot does not guarantee `eventId` is unique, so the key also covers what the event
    says happened. `attemptNumber` is left out: it is the one field a redelivery changes.
    """
    identity = [event.get(name) for name in (
        "portalId", "eventId", "subscriptionType", "eventType", "objectTypeId", "objectId",
        "occurredAt", "propertyName", "propertyValue", "associationType", "fromObjectId",
        "toObjectId", "associationRemoved", "primaryObjectId", "mergedObjectIds", "newObjectId")]
    text = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def event_from_json(event: Any) -> WebhookEvent:
    """Validate one element of a delivery; ValueError names the missing or wrong field.

    Required: numeric eventId and occurredAt, subscriptionType (or the older eventType),
    and the object: objectId, or fromObjectId for association changes.
    """
    if not isinstance(event, dict):
        raise ValueError("is not a JSON object")
    subscription_type = event.get("subscriptionType", event.get("eventType"))
    if not isinstance(subscription_type, str) or not subscription_type:
        raise ValueError("has no subscriptionType")
    object_id = event.get("objectId", event.get("fromObjectId"))
    for name, value in (("eventId", event.get("eventId")), ("occurredAt", event.get("occurredAt")),
                        ("objectId", object_id)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
            raise ValueError(f"has no numeric {name}")
    return WebhookEvent(
        key=event_key(event), event_id=event["eventId"], subscription_type=subscription_type,
        object_id=str(object_id), occurred_at=event["occurredAt"],
        payload=json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False))


def append(cache: Cache, events: Sequence[WebhookEvent], now: datetime) -> int:
    """Add `events` in one transaction, skipping ones already there; returns how many are new."""
    received = iso(now)
    rows = [(e.key, e.event_id, e.subscription_type, e.object_id, e.occurred_at, e.payload,
             received, received) for e in events]
    with cache.transaction() as conn:
        cur = conn.executemany(
            "INSERT OR IGNORE INTO inbox (event_key, event_id, subscription_type, object_id, "
            "occurred_at, payload, received_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows)
        return cur.rowcount


def claim(cache: Cache, limit: int, now: datetime, *,
          lease: timedelta = timedelta(seconds=60)) -> list[InboxEntry]:
    """Up to `limit` due events, oldest occurrence first, leased to the caller for `lease`.

    The rows are chosen before the write transaction (a WAL read never waits and never
    makes the receiver wait), then leased in a short one that re-checks each is still due."""
    found = cache.conn.execute(
        "SELECT id, event_id, subscription_type, object_id, occurred_at, payload, attempts, "
        "received_at FROM inbox INDEXED BY inbox_due WHERE status IN ('pending', 'failed') "
        "AND next_attempt_at <= ? ORDER BY occurred_at, id LIMIT ?", (iso(now), limit)).fetchall()
    rows = []
    with cache.transaction() as conn:
        for row in found:
            if conn.execute("UPDATE inbox SET next_attempt_at = ? WHERE id = ? AND status IN "
                            "('pending', 'failed') AND next_attempt_at <= ?",
                            (iso(now + lease), row[0], iso(now))).rowcount:
                rows.append(row)
    return [InboxEntry(id=r[0], event_id=r[1], subscription_type=r[2], object_id=r[3],
                       occurred_at=r[4], payload=json.loads(r[5]), attempts=r[6], received_at=r[7])
            for r in rows]


def mark_done(cache: Cache, ids: Iterable[int], now: datetime) -> int:
    """Record that the worker processed these events."""
    with cache.transaction() as conn:
        return _update(conn, "UPDATE inbox SET status = 'done', processed_at = ?, error = NULL, "
                             "next_attempt_at = NULL WHERE id = ?", [(iso(now), i) for i in ids])


def mark_dropped(cache: Cache, ids: Iterable[int], reason: str, now: datetime) -> int:
    """Record that these events need no work (`reason` says why, e.g. an echo of our write)."""
    with cache.transaction() as conn:
        return _update(conn, "UPDATE inbox SET status = 'dropped', processed_at = ?, error = ?, "
                             "next_attempt_at = NULL WHERE id = ?",
                       [(iso(now), reason, i) for i in ids])


def mark_failed(cache: Cache, ids: Iterable[int], error: str, now: datetime, *,
                max_attempts: int, backoff: Backoff = Backoff()) -> int:
    """Count a failed attempt: retry after the backoff, or park once `max_attempts` are spent."""
    with cache.transaction() as conn:
        changed = 0
        for event_id in ids:
            row = conn.execute("SELECT attempts FROM inbox WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                continue
            attempts = row[0] + 1
            parked = attempts >= max_attempts
            conn.execute(
                "UPDATE inbox SET status = ?, attempts = ?, error = ?, next_attempt_at = ? "
                "WHERE id = ?",
                ("parked" if parked else "failed", attempts, error,
                 None if parked else iso(now + backoff.delay(attempts)), event_id))
            changed += 1
        return changed


def metrics(cache: Cache, now: datetime) -> Metrics:
    """Inbox depth (pending + failed), age of the oldest unprocessed receipt, and counts."""
    counts = {status: (count, oldest) for status, count, oldest in cache.conn.execute(
        "SELECT status, COUNT(*), MIN(received_at) FROM inbox GROUP BY status")}
    unprocessed = [counts[s] for s in UNPROCESSED if s in counts]
    oldest = min((received for _, received in unprocessed), default=None)
    return Metrics(
        depth=sum(count for count, _ in unprocessed),
        oldest_pending_age_s=(round((now - datetime.fromisoformat(oldest)).total_seconds(), 3)
                              if oldest else None),
        processed=counts.get("done", (0,))[0],
        failed=counts.get("failed", (0,))[0],
        parked=counts.get("parked", (0,))[0],
        dropped=counts.get("dropped", (0,))[0])


def iso(moment: datetime) -> str:
    """`moment` in the cache's text form, e.g. 2026-11-01T09:30:00.000Z (UTC, milliseconds)."""
    if moment.tzinfo is None:
        raise ValueError("inbox times must be timezone-aware")
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _update(conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> int:
    return conn.executemany(sql, rows).rowcount if rows else 0
