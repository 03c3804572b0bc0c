"""Push: the write plan → outbox rows → batch updates of ≤ 100 contacts → the pushed ledger.

The outbox protocol (rows marked `sent` before each call, recorded after, resent after a
crash) is connector/outbox.py's, shared with the company push. This module is the contact
side: the plan (read from the cache by cache/write_plan.py, which `push --dry-run` and
`simulate` share), the guardrail, the push_dirty marks that keep the plan small, and a
demotion as two rows for one contact (clear, then set).
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from cache import push_dirty
from cache.catalog import require_setup
from cache.database import Cache
from cache.outboxes import CONTACTS, Backlog, read_backlog
from cache.write_plan import Targets, absorb, build_plan, plan_names, plan_parts
from connector.client import HubSpot
from connector.company_push import CompanyPushSummary
from connector.outbox import (AfterSend, Entry, Overflow, Sender, Sent, backlog_lines, guardrail,
                              too_many_changes)
from mappings.writeback import LifecyclePolicy, Plan


@dataclass
class PushSummary(Sent):
    """What a push planned and did."""

    plan: Plan
    backlog: Backlog = field(default_factory=Backlog)
    dry_run: bool = False
    full_check: bool = False  # every scored contact planned, not only those marked
    contacts_written: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # `leadsync push` with a company model: the company scores' push (or its plan, dry run)
    companies: CompanyPushSummary | None = None

    def as_dict(self, sample: int | None = None) -> dict:
        data = {"dry_run": self.dry_run, "full_check": self.full_check,
                "plan": self.plan.as_dict(sample), "notes": self.notes,
                "resent": len(self.backlog.resend), "held_by_failures": len(self.backlog.held),
                "in_flight_elsewhere": len(self.backlog.in_flight),
                "write_calls": self.write_calls, "written": self.written,
                "contacts_written": self.contacts_written, "failed": self.failed,
                "skipped": self.skipped, "unaccounted": self.unaccounted,
                "rejected_named": self.rejected_named, "splits": self.splits,
                "api_calls": self.api_calls, "seconds": round(self.seconds, 2)}
        if self.companies is not None:
            data["companies"] = self.companies.as_dict(sample)
        return data

    def render(self, sample: int = 10) -> str:
        lines = [self.plan.render(sample)] + [f"note: {n}" for n in self.notes]
        lines += backlog_lines(self.backlog, CONTACTS, dry_run=self.dry_run)
        companies = self.companies
        if self.dry_run:
            if companies is not None:
                lines.append(companies.render_plan())
            lines.append("dry run: nothing sent")
            return "\n".join(lines)
        lines.append(f"wrote {self.contacts_written:,} contacts in {self.write_calls:,} batch calls "
                     f"({self.api_calls:,} API calls, {self.seconds:.1f} s)")
        lines += self.outcome_lines(CONTACTS, sample)
        if companies is not None:
            lines.append(companies.render(sample))
        return "\n".join(lines)


# ---- pushing --------------------------------------------------------------------------------

def push(cache: Cache, client: HubSpot, write_back: Targets, policy: LifecyclePolicy | None,
         *, max_changes: int | None = None, retry_failed: bool = False,
         contact_ids: Iterable[str] | None = None, concurrency: int = 8,
         run_id: int | None = None, after_send: AfterSend | None = None,
         full_check: bool = False, tripped: Sequence[Overflow] = (),
         progress: Callable[[int, int | None], None] | None = None) -> PushSummary:
    """Send what changed. Raises NotSetUp before setup, TooManyChanges over the guardrail
    (nothing is enqueued or sent then) or when `tripped` names a guardrail the run's company
    push tripped (planned first: the error names both). Several models (`write_back` a sequence): one write
    per contact carries all their properties. Plans the contacts marked since their last push
    (cache/push_dirty.py); `full_check` marks and plans every scored contact.
    `after_send(batch_id, contact_ids)` runs after each batch's HTTP call and before its
    answer is recorded (a seam for crash tests); `progress(rows settled, rows planned so far)`
    after each answer is recorded.

    When the guardrail cannot trip (fewer contacts marked than `max_changes`), the first
    batches go out while the rest is still being planned; otherwise all is planned first."""
    started, calls = time.monotonic(), client.counters.calls
    require_setup(cache.conn, write_back)
    names = write_back
    key = push_dirty.plan_key(plan_names(write_back), policy)
    if full_check or push_dirty.stored_plan_key(cache.conn) != key:
        push_dirty.mark_all(cache, key)
    ids = None if contact_ids is None else sorted({str(i) for i in contact_ids})
    backlog = read_backlog(cache.conn, CONTACTS, retry_failed=retry_failed, ids=ids)
    plan = Plan()
    if backlog.held:
        plan.skipped["failed earlier"] += len(backlog.held)
    if backlog.in_flight:
        plan.skipped["in flight elsewhere"] += len(backlog.in_flight)
    parts = plan_parts(cache.conn, names, policy, contact_ids=ids, dirty_only=ids is None,
                       exclude=backlog.waiting)
    most = len(ids) if ids is not None else push_dirty.marked(cache.conn)
    whole = max_changes is not None and len(backlog.records) + most > max_changes
    over = list(tripped)
    if whole:
        for part in parts:  # the guardrail needs the whole plan before anything goes out
            absorb(plan, part)
        parts = iter(())
        mine = guardrail(CONTACTS, backlog, (c.contact_id for c in plan.changes), max_changes,
                         "--max-changes")
        over[:0] = [mine] if mine else []
    if over:
        raise too_many_changes(over)
    if whole:
        _clear_settled(cache, plan)
    summary = PushSummary(plan, backlog, full_check=full_check)
    sender = contact_sender(cache, client, summary, run_id=run_id, concurrency=concurrency,
                            after_send=after_send)
    if progress is not None:
        sender.progress = progress
        sender.planned = len(backlog.resend) + _writes(plan)
        progress(0, sender.planned)
    if backlog.resend:
        sender.claim_backlog(backlog.resend)
        sender.drain()
        settled = sorted(backlog.records - sender.unfinished_records())
        again = build_plan(cache.conn, names, policy, contact_ids=settled)
        _clear_settled(cache, again)
        absorb(plan, again)
        sender.planned_more(_writes(again))
    sender.send(_stream(cache, sender, plan, parts))
    summary.contacts_written = sender.finish()
    summary.api_calls = client.counters.calls - calls
    summary.seconds = time.monotonic() - started
    return summary


def _clear_settled(cache: Cache, plan: Plan) -> None:
    """Drop the marks of planned contacts with nothing to write (changed contacts keep theirs
    until their outbox rows are written: cache/push_dirty.py)."""
    changed = {c.contact_id for c in plan.changes}
    settled = [(c, mark) for c, mark in plan.dirty.items() if c not in changed]
    if settled:
        with cache.transaction() as conn:
            push_dirty.clear(conn, settled)


def contact_sender(cache: Cache, client: HubSpot, summary: PushSummary, *, run_id: int | None,
                   concurrency: int = 8, after_send: AfterSend | None = None) -> Sender:
    """The outbox sender of the contact write-back: filing a contact's rows clears the
    `push_dirty` mark it was planned from, in the same transaction."""
    dirty = summary.plan.dirty  # grows as parts of the plan are absorbed

    def clear_marks(conn: sqlite3.Connection, sent: Sequence[Entry]) -> None:
        push_dirty.clear(conn, [(e.record_id, dirty[e.record_id]) for e in sent
                                if e.record_id in dirty])

    return Sender(cache, client, CONTACTS, summary, run_id=run_id, concurrency=concurrency,
                  after_send=after_send, enqueued=clear_marks)


def entries(plan: Plan) -> list[Entry]:
    """The plan's changes as outbox entries, with the history rows each one covers."""
    return [Entry(c.contact_id, c.writes, plan.history_upto.get(c.contact_id),
                  plan.history_models.get(c.contact_id)) for c in plan.changes]


def _stream(cache: Cache, sender: Sender, plan: Plan, parts: Iterable[Plan]) -> Iterator[list[Entry]]:
    """The plan's entries, then each part's as it is planned (added to `plan`)."""
    yield entries(plan)
    for part in parts:
        _clear_settled(cache, part)
        absorb(plan, part)
        sender.planned_more(_writes(part))
        yield entries(part)


def _writes(plan: Plan) -> int:
    return sum(len(c.writes) for c in plan.changes)
