"""Push: the write plan → outbox rows → batch updates of ≤ 100 contacts → the pushed ledger.

An outbox row is one write to one contact: pending → sent → done | failed | skipped. Rows
are marked `sent`, with their batch id, in a committed transaction before the HTTP call, and
`done` (ledger upserted, history stamped) in the transaction that records the answer. A
crash therefore leaves `pending`/`sent` rows, which the next push resends before planning
anything else: only the batch that was in flight can reach HubSpot twice, and writing the
same values twice is harmless. A demotion is two rows for one contact (clear, then set);
a contact's rows go out strictly in id order, one batch round at a time.

One piece because the outbox state machine above is its invariant: sending and recording an
answer each move rows between those states, and must be read together. The plan itself is
read from the cache by cache/write_plan.py, which `push --dry-run` and `simulate` share.
"""
from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

from cache import push_dirty
from cache.catalog import require_setup
from cache.database import Cache, utcnow
from cache.write_plan import (Backlog, Targets, absorb, build_plan, plan_names, plan_parts,
                              read_backlog)
from connector.client import BATCH_LIMIT, BatchResult, HubSpot
from connector.rejections import named_inputs
from foundation.errors import (AuthError, HubSpotError, MissingScopes, TooManyChanges,
                               ValidationFailed)
from foundation.shutdown import thread_pool
from mappings.writeback import ContactChange, LifecyclePolicy, Plan

if TYPE_CHECKING:  # connector/company_push.py imports this module
    from connector.company_push import CompanyPushSummary

MAX_SENDS = 3  # sends of one row per run before a retriable failure is left `failed`
# Per-input error categories worth another try (the rest are the record's own problem).
RETRIABLE_CATEGORIES = frozenset({"RATE_LIMIT", "RATE_LIMITS", "LOCKED", "INTERNAL_ERROR",
                                  "SERVICE_UNAVAILABLE", "TIMEOUT", "CONCURRENT_MODIFICATION"})
_CHUNK = 500
AfterSend = Callable[[str, list[str]], None]


@dataclass
class PushSummary:
    """What a push planned and did."""

    plan: Plan
    backlog: Backlog = field(default_factory=Backlog)
    dry_run: bool = False
    full_check: bool = False  # every scored contact planned, not only those marked
    write_calls: int = 0
    written: int = 0        # outbox rows HubSpot confirmed
    contacts_written: int = 0
    failed: list[dict] = field(default_factory=list)
    skipped: int = 0        # contacts archived or merged before their row went out
    unaccounted: int = 0    # inputs HubSpot's answer named neither as result nor as error
    rejected_named: int = 0  # whole-batch 400s whose answer named the bad inputs
    splits: int = 0         # whole-batch 400s that named none: split in halves
    api_calls: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # `leadsync push` with a company model: the company scores' push (or its plan, dry run)
    companies: "CompanyPushSummary | None" = None

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
        if self.backlog.resend:
            verb = "will be resent" if self.dry_run else "resent"
            lines.append(f"{len(self.backlog.resend):,} outbox rows left by an earlier push {verb} first")
        if self.backlog.held:
            lines.append(f"{len(self.backlog.held):,} contacts held back by earlier failures; fix the "
                         f"cause, then run `leadsync push --retry-failed`")
        companies = self.companies
        if self.dry_run:
            if companies is not None:
                lines.append(f"companies: {len(companies.plan.changes):,} to write, "
                             f"{companies.plan.unchanged:,} already up to date")
            lines.append("dry run: nothing sent")
            return "\n".join(lines)
        lines.append(f"wrote {self.contacts_written:,} contacts in {self.write_calls:,} batch calls "
                     f"({self.api_calls:,} API calls, {self.seconds:.1f} s)")
        if self.skipped:
            lines.append(f"{self.skipped:,} contacts skipped: archived or merged before the write")
        if self.rejected_named:
            lines.append(f"{self.rejected_named:,} batches rejected whole named their bad records: "
                         f"those failed, the rest were resent in one call each")
        if self.splits:
            lines.append(f"{self.splits:,} batches rejected whole were split to isolate bad records")
        if self.unaccounted:
            lines.append(f"WARNING: HubSpot's answers did not account for {self.unaccounted:,} "
                         f"contacts; they are marked failed (retriable) and resent next push")
        if self.failed:
            lines.append(f"{len(self.failed):,} contacts failed:")
            lines += [f"  contact {f['contact_id']}: {f['error']}"
                      + (" (will be retried)" if f["retriable"] else "") for f in self.failed[:sample]]
            if len(self.failed) > sample:
                lines.append(f"  … and {len(self.failed) - sample:,} more (--json lists all)")
        if companies is not None:
            lines.append(companies.render())
        return "\n".join(lines)


# ---- pushing --------------------------------------------------------------------------------

def push(cache: Cache, client: HubSpot, write_back: Targets, policy: LifecyclePolicy | None,
         *, max_changes: int | None = None, retry_failed: bool = False,
         contact_ids: Iterable[str] | None = None, concurrency: int = 8,
         run_id: int | None = None, after_send: AfterSend | None = None,
         full_check: bool = False,
         progress: Callable[[int, int | None], None] | None = None) -> PushSummary:
    """Send what changed. Raises NotSetUp before setup, TooManyChanges over the guardrail
    (nothing is enqueued or sent then). Several models (`write_back` a sequence): one write
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
    backlog = read_backlog(cache.conn, retry_failed=retry_failed, contact_ids=ids)
    plan = Plan()
    if backlog.held:
        plan.skipped["failed earlier"] += len(backlog.held)
    if backlog.in_flight:
        plan.skipped["in flight elsewhere"] += len(backlog.in_flight)
    parts = plan_parts(cache.conn, names, policy, contact_ids=ids, dirty_only=ids is None,
                       exclude=backlog.contacts | backlog.held | backlog.in_flight)
    most = len(ids) if ids is not None else push_dirty.marked(cache.conn)
    if max_changes is not None and len(backlog.contacts) + most > max_changes:
        for part in parts:  # the guardrail needs the whole plan before anything goes out
            absorb(plan, part)
        parts = iter(())
        moving = len(backlog.contacts | {c.contact_id for c in plan.changes})
        if moving > max_changes:
            raise TooManyChanges(
                f"push would update {moving:,} contacts, more than --max-changes "
                f"{max_changes:,}; nothing was sent. Check `leadsync push --dry-run`, then "
                f"rerun with --max-changes {moving}")
        _clear_settled(cache, plan)
    summary = PushSummary(plan, backlog, full_check=full_check)
    sender = Sender(cache, client, summary, run_id=run_id, concurrency=concurrency,
                    after_send=after_send)
    if progress is not None:
        sender.progress = progress
        sender.planned = len(backlog.resend) + sum(len(c.writes) for c in plan.changes)
        progress(0, sender.planned)
    if backlog.resend:
        sender.claim_backlog(backlog.resend)
        sender.drain()
        settled = sorted(backlog.contacts - sender.unfinished_contacts())
        again = build_plan(cache.conn, names, policy, contact_ids=settled)
        _clear_settled(cache, again)
        absorb(plan, again)
        sender.planned_more(again)
    sender.send_plan(plan, parts)
    sender.finish()
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


def _marks(changes: Iterable[ContactChange], dirty: Mapping[str, int]) -> list[tuple[str, int]]:
    return [(c.contact_id, dirty[c.contact_id]) for c in changes if c.contact_id in dirty]


@dataclass(frozen=True)
class _Row:
    id: int
    contact_id: str
    properties: dict[str, str]
    history_upto: int | None


class Sender:
    """Sends this push's outbox rows in rounds of overlapping ≤ 100-contact batches."""

    def __init__(self, cache: Cache, client: HubSpot, summary: PushSummary, *,
                 run_id: int | None, concurrency: int, after_send: AfterSend | None) -> None:
        self.cache, self.client, self.summary = cache, client, summary
        self.run_id, self.concurrency, self.after_send = run_id, max(concurrency, 1), after_send
        self.mine: set[int] = set()
        self.sends: Counter[int] = Counter()
        self._batch_numbers = itertools.count(1)
        self._prefix = f"r{run_id}" if run_id is not None else f"p{os.getpid()}.{int(time.time())}"
        self._lock = threading.Lock()  # summary counters, bumped from the batch threads
        self.progress: Callable[[int, int | None], None] | None = None
        self.planned: int | None = None
        self.settled = 0  # rows done or failed for good

    def planned_more(self, part: Plan) -> None:
        """The progress total grows as the plan streams in."""
        if self.progress is not None:
            with self._lock:
                self.planned = (self.planned or 0) + sum(len(c.writes) for c in part.changes)

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.summary, name, getattr(self.summary, name) + delta)

    # -- the rows this push owns ----------------------------------------------------------

    def claim_backlog(self, row_ids: Sequence[int]) -> None:
        """Take over rows an earlier push left: back to pending, sent first."""
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany("UPDATE outbox SET status = 'pending', run_id = ?, updated_at = ? "
                             "WHERE id = ?", [(self.run_id, now, i) for i in row_ids])
        self.mine.update(row_ids)

    def enqueue(self, plan: Plan) -> None:
        """One outbox row per write of each planned change, in one transaction (all pending)."""
        with self.cache.transaction() as conn:
            for change in plan.changes:
                self._insert(conn, change, plan.history_upto.get(change.contact_id), utcnow())
            push_dirty.clear(conn, _marks(plan.changes, plan.dirty))

    def send_plan(self, plan: Plan, parts: Iterable[Plan] = ()) -> None:
        """Send the plan's changes, then those of `parts` as they are planned (each part is
        added to `plan`), in batches of 100 contacts, each enqueued (as `sent`) by the thread
        that posts it; then rounds for retries and second writes (demotions).

        Contacts whose batch was not enqueued yet when a push dies have no outbox rows and
        keep their dirty marks: the next push plans them again, which is the same as
        resending them."""
        waiting = list(plan.changes)
        with thread_pool(self.concurrency, "push") as pool:
            futures = []

            def submit(changes: list[ContactChange]) -> None:
                futures.append(pool.submit(self._enqueue_and_send, changes, plan.history_upto,
                                           plan.dirty))

            for part in parts:
                _clear_settled(self.cache, part)
                absorb(plan, part)
                self.planned_more(part)
                waiting += part.changes
                while len(waiting) >= BATCH_LIMIT:
                    submit(waiting[:BATCH_LIMIT])
                    waiting = waiting[BATCH_LIMIT:]
            for start in range(0, len(waiting), BATCH_LIMIT):
                submit(waiting[start:start + BATCH_LIMIT])
            for future in futures:
                future.result()
        self.drain()

    def _enqueue_and_send(self, changes: list[ContactChange], history_upto: dict,
                          dirty: dict) -> None:
        batch, now, rows = self._next_batch(), utcnow(), []
        with self.cache.transaction() as conn:
            for change in changes:
                upto = history_upto.get(change.contact_id)
                first = self._insert(conn, change, upto, now, batch)
                rows.append(_Row(first, change.contact_id, change.writes[0],
                                 upto if len(change.writes) == 1 else None))
            # the outbox rows carry the plan now: its marks go in the same transaction
            push_dirty.clear(conn, _marks(changes, dirty))
        self._post(rows, batch)

    def _insert(self, conn: sqlite3.Connection, change: ContactChange, history_upto: int | None,
                now: str, batch: str | None = None) -> int:
        """Rows for one change's writes, the first one `sent` in `batch` if given (else all
        pending); returns the first row's id."""
        first = None
        last = len(change.writes) - 1
        for index, write in enumerate(change.writes):
            sent = batch is not None and index == 0
            cur = conn.execute(
                "INSERT INTO outbox (contact_id, properties, status, attempts, batch, run_id, "
                "created_at, updated_at, history_upto) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.contact_id, json.dumps(write, sort_keys=True), "sent" if sent else "pending",
                 1 if sent else 0, batch if sent else None, self.run_id, now, now,
                 history_upto if index == last else None))
            self.mine.add(cur.lastrowid)
            first = cur.lastrowid if first is None else first
        return first

    def _next_batch(self) -> str:
        with self._lock:
            return f"{self._prefix}.{next(self._batch_numbers)}"

    def unfinished_contacts(self) -> set[str]:
        return {row[1] for row in self._unfinished()}

    def _unfinished(self) -> list[tuple]:
        rows = self.cache.conn.execute(
            "SELECT o.id, o.contact_id, o.status, o.properties, o.history_upto, c.id IS NOT NULL, "
            "c.archived, c.merged_into FROM outbox o LEFT JOIN contacts c ON c.id = o.contact_id "
            "WHERE o.status IN ('pending', 'sent', 'failed') ORDER BY o.id").fetchall()
        return [r for r in rows if r[0] in self.mine]

    # -- rounds ---------------------------------------------------------------------------

    def drain(self) -> None:
        """Send until no row of this push is ready (done, failed or skipped)."""
        while True:
            ready = self._ready()
            if not ready:
                return
            batches = [ready[i:i + BATCH_LIMIT] for i in range(0, len(ready), BATCH_LIMIT)]
            with thread_pool(min(self.concurrency, len(batches)), "push") as pool:
                futures = [pool.submit(self._send, batch) for batch in batches]
                for future in futures:
                    future.result()

    def _ready(self) -> list[_Row]:
        """Per contact, its earliest unfinished row, if that row is pending and the contact
        is still live (else the row is skipped)."""
        first: dict[str, tuple] = {}
        for row in self._unfinished():
            first.setdefault(row[1], row)
        ready, dead = [], []
        for row_id, contact_id, status, properties, upto, known, archived, merged in first.values():
            if status != "pending":
                continue
            if not known or archived or merged:
                dead.append((row_id, "merged" if merged else "archived" if known else "unknown"))
                continue
            ready.append(_Row(row_id, contact_id, json.loads(properties), upto))
        if dead:
            now = utcnow()
            with self.cache.transaction() as conn:
                conn.executemany("UPDATE outbox SET status = 'skipped', error = ?, updated_at = ? "
                                 "WHERE id = ?",
                                 [(f"contact {why} in HubSpot before the write", now, i)
                                  for i, why in dead])
            self._count(skipped=len(dead))
        return ready

    def _send(self, rows: list[_Row]) -> None:
        """Mark `rows` sent in a new batch (committed), then post them."""
        batch = self._next_batch()
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany("UPDATE outbox SET status = 'sent', batch = ?, attempts = attempts + 1, "
                             "run_id = ?, updated_at = ? WHERE id = ?",
                             [(batch, self.run_id, now, r.id) for r in rows])
        self._post(rows, batch)

    def _post(self, rows: list[_Row], batch: str) -> None:
        """One batch update for rows already marked sent; record the answer per contact."""
        with self._lock:
            self.sends.update(r.id for r in rows)
            self.summary.write_calls += 1
        inputs = [{"id": r.contact_id, "properties": r.properties} for r in rows]
        try:
            result = self.client.batch_update("contacts", inputs)
        except ValidationFailed as exc:
            self._rejected(rows, inputs, exc)
            return
        except HubSpotError as exc:
            fatal = isinstance(exc, (AuthError, MissingScopes)) or exc.status == 429
            if fatal:  # nothing can succeed now: leave the rows for the next push
                self._release(rows)
                raise
            self._settle(rows, set(), {r.contact_id: (str(exc), exc.retriable) for r in rows})
            return
        if self.after_send is not None:
            self.after_send(batch, [r.contact_id for r in rows])
        self._record(rows, result)

    def _rejected(self, rows: list[_Row], inputs: list[dict], exc: ValidationFailed) -> None:
        """A batch rejected whole (400): fail the inputs HubSpot's answer names, with its
        reason, and resend the rest in one call; split in halves only when it names none."""
        named = named_inputs(exc.body, inputs)
        if named:
            self._count(rejected_named=1)
            self._settle(rows, set(), {c: (reason, False) for c, reason in named.items()})
            rest = [r for r in rows if r.contact_id not in named]
            if rest:
                self._send(rest)
            return
        if len(rows) == 1:
            self._settle(rows, set(), {rows[0].contact_id: (str(exc), False)})
            return
        self._count(splits=1)
        middle = len(rows) // 2
        self._send(rows[:middle])
        self._send(rows[middle:])

    def _record(self, rows: list[_Row], result: BatchResult) -> None:
        """Match HubSpot's answer back per contact: results, per-input errors, the rest."""
        by_contact = {r.contact_id: r for r in rows}
        done = {str(r.get("id")) for r in result.results} & by_contact.keys()
        failed: dict[str, tuple[str, bool]] = {}
        for error in result.errors:
            context = error.get("context") or {}
            message = error.get("message") or error.get("category") or "no message"
            retriable = str(error.get("category") or "").upper() in RETRIABLE_CATEGORIES
            for contact_id in context.get("ids") or []:
                contact_id = str(contact_id)
                if contact_id in by_contact and contact_id not in done:
                    failed[contact_id] = (f"{error.get('category') or 'ERROR'}: {message}", retriable)
        missing = by_contact.keys() - done - failed.keys()
        if missing:
            self._count(unaccounted=len(missing))
            for contact_id in missing:
                failed[contact_id] = ("HubSpot's answer named this contact neither as a result nor "
                                      "as an error", True)
        self._settle(rows, done, failed)

    def _settle(self, rows: list[_Row], done: set[str], failed: dict[str, tuple[str, bool]]) -> None:
        """Record written rows (ledger, outbox, history) and failed ones, in one transaction.

        A retriable failure goes back to pending (sent again next round) until MAX_SENDS."""
        now = utcnow()
        by_contact = {r.contact_id: r for r in rows}
        done_rows = [r for r in rows if r.contact_id in done]
        with self._lock:
            again = {c for c, (_, retriable) in failed.items()
                     if retriable and self.sends[by_contact[c].id] < MAX_SENDS}
        retry = [(msg, now, by_contact[c].id) for c, (msg, _) in failed.items() if c in again]
        final = [(msg, 1 if retriable else 0, now, by_contact[c].id)
                 for c, (msg, retriable) in failed.items() if c not in again]
        with self.cache.transaction() as conn:
            conn.executemany(
                "INSERT INTO pushed (contact_id, property, value, pushed_at, run_id) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(contact_id, property) DO UPDATE SET value = excluded.value, "
                "pushed_at = excluded.pushed_at, run_id = excluded.run_id",
                [(r.contact_id, name, value, now, self.run_id)
                 for r in done_rows for name, value in r.properties.items()])
            conn.executemany("UPDATE outbox SET status = 'done', error = NULL, retriable = NULL, "
                             "updated_at = ? WHERE id = ?", [(now, r.id) for r in done_rows])
            conn.executemany(
                "UPDATE score_history SET pushed_at = ? WHERE contact_id = ? AND pushed_at IS NULL "
                "AND id <= ?", [(now, r.contact_id, r.history_upto) for r in done_rows
                                if r.history_upto is not None])
            conn.executemany("UPDATE outbox SET status = 'pending', error = ?, retriable = 1, "
                             "updated_at = ? WHERE id = ?", retry)
            conn.executemany("UPDATE outbox SET status = 'failed', error = ?, retriable = ?, "
                             "updated_at = ? WHERE id = ?", final)
        self._count(written=len(done_rows))
        if self.progress is not None:
            with self._lock:
                self.settled += len(done_rows) + len(final)
                settled = self.settled
            self.progress(min(settled, self.planned or settled), self.planned)

    def _release(self, rows: list[_Row]) -> None:
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany("UPDATE outbox SET status = 'pending', updated_at = ? WHERE id = ?",
                             [(now, r.id) for r in rows])

    def finish(self) -> None:
        """Fill the summary's failures and contact count from the outbox."""
        if not self.mine:
            return
        rows = []
        ids = sorted(self.mine)
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            rows += self.cache.conn.execute(
                f"SELECT id, contact_id, status, error, retriable FROM outbox WHERE id IN "
                f"({','.join('?' * len(part))})", part).fetchall()
        self.summary.failed = [{"contact_id": c, "error": e, "retriable": bool(r)}
                               for _, c, s, e, r in sorted(rows) if s == "failed"]
        self.summary.contacts_written = len({c for _, c, s, _, _ in rows if s == "done"})
