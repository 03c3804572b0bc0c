"""Which contacts a push must plan: those marked in `push_dirty` since their last push.

A contact's write plan (connector/push.py `build_plan`) is a function of: its `scores` row,
its `score_history` rows (the scored_at written is their latest `changed_at`), its `contacts`
row (pulled values, `pulled_at`, archived, merged), its `pushed` ledger rows, its outbox
rows, and two things shared by every contact: the write-back property names and the
lifecycle policy (stage order from the catalog, managed and demotable stages).

Why planning only marked contacts misses nothing (migration 0014_push_dirty):

1. Triggers mark a contact, in the writing transaction, whenever its score, history,
   contact row or ledger rows are inserted, changed or deleted by anything but a push's own
   ledger upsert (which records values HubSpot now has: it cannot create work). A rescore
   marks the contacts whose score and history rows it wrote itself, once each, at the end of
   the same transaction (`marks_deferred`): the same marks, without six per contact.
2. A mark is removed only by a push, only with the `seq` it planned from, and only in the
   transaction that makes the plan durable: with the contact's outbox rows (a change) or
   after a plan found nothing to write (no change, archived, merged, unknown). A re-mark
   in between deletes and re-inserts the row with a new `seq`, so it survives.
   Hence: an unmarked contact either had an empty plan when last planned, with none of its
   inputs changed since, or has outbox rows carrying its plan. Outbox rows are the outbox's
   own business: pending/sent rows are resent first by the next push, failed ones are held
   until `--retry-failed`, and both re-plan those contacts explicitly afterwards.
3. A crash loses nothing: marks are dropped in the same transaction as the rows that
   replace them, so a push killed before that leaves them for the next one.
4. The shared inputs are fingerprinted (`plan_key`). When `setup` or the settings change a
   property name, the portal's stage order or the model's stages, the fingerprint differs
   from the stored one and every scored contact is marked again, in the transaction that
   stores the new fingerprint. `push --full-check` does the same unconditionally.
5. Contacts held back from a plan (rows in flight elsewhere, failed earlier) keep their
   marks: they were not planned.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping

from cache.database import Cache
from mappings.writeback import LifecyclePolicy

PLAN_KEY = "plan_key"
DEFER = "defer_marks"  # set only inside a rescore's transaction (migration 0020_deferred_marks)


def plan_key(names: Mapping[str, str], policy: LifecyclePolicy | None) -> str:
    """A fingerprint of what every contact's plan shares: property names and stage policy."""
    shared = {"names": dict(sorted(names.items())),
              "policy": None if policy is None else {
                  "order": list(policy.order), "managed": sorted(policy.managed),
                  "demotable": sorted(policy.demotable)}}
    text = json.dumps(shared, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def stored_plan_key(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM push_plan_state WHERE key = ?", (PLAN_KEY,)).fetchone()
    return row[0] if row else None


def mark_all(cache: Cache, key: str) -> int:
    """Mark every scored contact and store `key`, in one transaction; returns how many."""
    with cache.transaction() as conn:
        conn.execute("DELETE FROM push_dirty")
        # (a contact scored by several models is one mark)
        count = conn.execute("INSERT INTO push_dirty (contact_id) SELECT DISTINCT contact_id "
                             "FROM scores ORDER BY contact_id").rowcount
        conn.execute("INSERT INTO push_plan_state (key, value) VALUES (?, ?) ON CONFLICT(key) "
                     "DO UPDATE SET value = excluded.value", (PLAN_KEY, key))
    return count


@contextmanager
def marks_deferred(conn: sqlite3.Connection) -> Iterator[set[str]]:
    """Inside the caller's open transaction: the score and history triggers stop marking, and
    every contact id added to the yielded set is marked once, with a new `seq`, on the way
    out. The flag is set and cleared in that transaction, so no other connection sees it; an
    error leaves the flag to the caller's rollback (the writes and the flag go together)."""
    conn.execute("INSERT OR REPLACE INTO push_plan_state (key, value) VALUES (?, '1')", (DEFER,))
    touched: set[str] = set()
    yield touched
    conn.executemany("INSERT OR REPLACE INTO push_dirty (contact_id) VALUES (?)",
                     [(contact_id,) for contact_id in sorted(touched)])
    conn.execute("DELETE FROM push_plan_state WHERE key = ?", (DEFER,))


def clear(conn: sqlite3.Connection, marks: Iterable[tuple[str, int]]) -> None:
    """Drop the marks a plan was made from (each only if not re-marked since); the caller's
    transaction makes that plan durable."""
    conn.executemany("DELETE FROM push_dirty WHERE contact_id = ? AND seq = ?", list(marks))


def orphans(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Marks of contacts that have no score (merged away, never scored): nothing to plan."""
    return conn.execute("SELECT d.contact_id, d.seq FROM push_dirty d WHERE NOT EXISTS "
                        "(SELECT 1 FROM scores s WHERE s.contact_id = d.contact_id)").fetchall()


def marked(conn: sqlite3.Connection) -> int:
    """How many contacts the next push will plan."""
    return conn.execute("SELECT COUNT(*) FROM push_dirty").fetchone()[0]
