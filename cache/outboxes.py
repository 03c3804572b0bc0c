"""The two write-back outboxes (contacts', companies') and the backlog an earlier push left.

Both are the same table shape and the same protocol (connector/outbox.py): an outbox row
per write, a ledger of what landed, history rows stamped `pushed_at`. `Outbox` names the
tables of one of them, so the protocol is written once; `read_backlog` is what `push` and
`push --dry-run` both read before planning anything new.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Sequence

from cache.lock import alive


@dataclass(frozen=True)
class Outbox:
    """Where one write-back keeps its rows: HubSpot object type (also the records table),
    id column, outbox, ledger and history tables."""

    object_type: str
    noun: str          # "contact": how messages name one record
    key: str           # the id column of the outbox, ledger and history tables
    outbox: str
    ledger: str
    history: str
    batch_prefix: str  # batch ids of the two outboxes never look alike
    per_model: bool    # history rows carry `model`; outbox rows say which models they write


CONTACTS = Outbox("contacts", "contact", "contact_id", "outbox", "pushed", "score_history",
                  "", per_model=True)
COMPANIES = Outbox("companies", "company", "company_id", "company_outbox", "company_pushed",
                   "company_score_history", "c", per_model=False)


@dataclass(frozen=True)
class Backlog:
    """Outbox rows an earlier push left unfinished, and records held back by failures."""

    resend: tuple[int, ...] = ()         # row ids to send before planning anything new
    records: frozenset[str] = frozenset()  # the records of those rows
    held: frozenset[str] = frozenset()   # failed for a non-retriable reason: --retry-failed
    in_flight: frozenset[str] = frozenset()  # rows another live run has sent

    @property
    def waiting(self) -> frozenset[str]:
        """Every record the backlog speaks for: a new plan leaves them out."""
        return self.records | self.held | self.in_flight


def read_backlog(conn: sqlite3.Connection, outbox: Outbox = CONTACTS, *,
                 retry_failed: bool = False, ids: Sequence[str] | None = None) -> Backlog:
    """Unfinished rows of `outbox`: which to resend, which records wait for --retry-failed,
    which another live run has in flight."""
    rows = conn.execute(
        f"SELECT o.id, o.{outbox.key}, o.status, o.retriable, r.outcome, r.pid "
        f"FROM {outbox.outbox} o LEFT JOIN runs r ON r.id = o.run_id "
        f"WHERE o.status IN ('pending', 'sent', 'failed') ORDER BY o.id").fetchall()
    wanted = None if ids is None else set(ids)
    resend, records, held, flying = [], set(), set(), set()
    for row_id, record, status, retriable, outcome, pid in rows:
        if wanted is not None and record not in wanted:
            continue
        if status == "sent" and outcome == "running" and pid != os.getpid() and alive(pid):
            flying.add(record)
        elif status == "failed" and not retriable and not retry_failed:
            held.add(record)
        else:
            resend.append(row_id)
            records.add(record)
    records -= held | flying
    by_row = {row[0]: row[1] for row in rows}
    resend = [r for r in resend if by_row[r] in records]
    return Backlog(tuple(resend), frozenset(records), frozenset(held), frozenset(flying))
    return True
