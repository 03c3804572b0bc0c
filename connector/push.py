"""Push: the write plan → outbox rows → batch updates of ≤ 100 contacts → the pushed ledger.

An outbox row is one write to one contact: pending → sent → done | failed | skipped. Rows
are marked `sent`, with their batch id, in a committed transaction before the HTTP call, and
`done` (ledger upserted, history stamped) in the transaction that records the answer. A
crash therefore leaves `pending`/`sent` rows, which the next push resends before planning
anything else: only the batch that was in flight can reach HubSpot twice, and writing the
same values twice is harmless. A demotion is two rows for one contact (clear, then set);
a contact's rows go out strictly in id order, one batch round at a time.

One piece because the outbox state machine above is its invariant: planning, sending and
recording an answer each move rows between those states, and must be read together.
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
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from cache.catalog import require_setup
from cache.database import Cache, utcnow
from connector.client import BATCH_LIMIT, BatchResult, HubSpot
from foundation.errors import (AuthError, HubSpotError, MissingScopes, TooManyChanges,
                               ValidationFailed)
from foundation.settings import WriteBack
from foundation.shutdown import thread_pool
from mappings.writeback import (ContactChange, DesiredScore, LifecyclePolicy, Plan, current_values,
                                names_of, plan_contact)

MAX_SENDS = 3  # sends of one row per run before a retriable failure is left `failed`
# Per-input error categories worth another try (the rest are the record's own problem).
RETRIABLE_CATEGORIES = frozenset({"RATE_LIMIT", "RATE_LIMITS", "LOCKED", "INTERNAL_ERROR",
                                  "SERVICE_UNAVAILABLE", "TIMEOUT", "CONCURRENT_MODIFICATION"})
_CHUNK = 500
AfterSend = Callable[[str, list[str]], None]


@dataclass(frozen=True)
class Backlog:
    """Outbox rows an earlier push left unfinished, and contacts held back by failures."""

    resend: tuple[int, ...] = ()         # row ids to send before planning anything new
    contacts: frozenset[str] = frozenset()  # the contacts of those rows
    held: frozenset[str] = frozenset()   # failed for a non-retriable reason: --retry-failed
    in_flight: frozenset[str] = frozenset()  # rows another live run has sent


@dataclass
class PushSummary:
    """What a push planned and did."""

    plan: Plan
    backlog: Backlog = field(default_factory=Backlog)
    dry_run: bool = False
    write_calls: int = 0
    written: int = 0        # outbox rows HubSpot confirmed
    contacts_written: int = 0
    failed: list[dict] = field(default_factory=list)
    skipped: int = 0        # contacts archived or merged before their row went out
    unaccounted: int = 0    # inputs HubSpot's answer named neither as result nor as error
    splits: int = 0         # whole-batch 400s split in halves
    api_calls: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self, sample: int | None = None) -> dict:
        return {"dry_run": self.dry_run, "plan": self.plan.as_dict(sample), "notes": self.notes,
                "resent": len(self.backlog.resend), "held_by_failures": len(self.backlog.held),
                "in_flight_elsewhere": len(self.backlog.in_flight),
                "write_calls": self.write_calls, "written": self.written,
                "contacts_written": self.contacts_written, "failed": self.failed,
                "skipped": self.skipped, "unaccounted": self.unaccounted, "splits": self.splits,
                "api_calls": self.api_calls, "seconds": round(self.seconds, 2)}

    def render(self, sample: int = 10) -> str:
        lines = [self.plan.render(sample)] + [f"note: {n}" for n in self.notes]
        if self.backlog.resend:
            verb = "will be resent" if self.dry_run else "resent"
            lines.append(f"{len(self.backlog.resend):,} outbox rows left by an earlier push {verb} first")
        if self.backlog.held:
            lines.append(f"{len(self.backlog.held):,} contacts held back by earlier failures; fix the "
                         f"cause, then run `leadsync push --retry-failed`")
        if self.dry_run:
            lines.append("dry run: nothing sent")
            return "\n".join(lines)
        lines.append(f"wrote {self.contacts_written:,} contacts in {self.write_calls:,} batch calls "
                     f"({self.api_calls:,} API calls, {self.seconds:.1f} s)")
        if self.skipped:
            lines.append(f"{self.skipped:,} contacts skipped: archived or merged before the write")
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
        return "\n".join(lines)


# ---- planning (reads the cache only: zero API calls) ----------------------------------------

def plan_push(cache: Cache, write_back: WriteBack, policy: LifecyclePolicy | None, *,
              retry_failed: bool = False,
              contact_ids: Iterable[str] | None = None) -> tuple[Plan, Backlog]:
    """What a push would send: the backlog of unfinished rows, then the new plan."""
    ids = None if contact_ids is None else sorted({str(i) for i in contact_ids})
    backlog = read_backlog(cache.conn, retry_failed=retry_failed, contact_ids=ids)
    plan = build_plan(cache.conn, names_of(write_back), policy, contact_ids=ids,
                      exclude=backlog.contacts | backlog.held | backlog.in_flight)
    if backlog.held:
        plan.skipped["failed earlier"] += len(backlog.held)
    if backlog.in_flight:
        plan.skipped["in flight elsewhere"] += len(backlog.in_flight)
    return plan, backlog


def read_backlog(conn: sqlite3.Connection, *, retry_failed: bool = False,
                 contact_ids: Sequence[str] | None = None) -> Backlog:
    """Unfinished outbox rows: which to resend, which contacts wait for --retry-failed."""
    rows = conn.execute(
        "SELECT o.id, o.contact_id, o.status, o.retriable, r.outcome, r.pid FROM outbox o "
        "LEFT JOIN runs r ON r.id = o.run_id WHERE o.status IN ('pending', 'sent', 'failed') "
        "ORDER BY o.id").fetchall()
    wanted = None if contact_ids is None else set(contact_ids)
    resend, contacts, held, flying = [], set(), set(), set()
    for row_id, contact, status, retriable, outcome, pid in rows:
        if wanted is not None and contact not in wanted:
            continue
        if status == "sent" and outcome == "running" and pid != os.getpid() and _alive(pid):
            flying.add(contact)
        elif status == "failed" and not retriable and not retry_failed:
            held.add(contact)
        else:
            resend.append(row_id)
            contacts.add(contact)
    contacts -= held | flying
    by_row = {row[0]: row[1] for row in rows}
    resend = [r for r in resend if by_row[r] in contacts]
    return Backlog(tuple(resend), frozenset(contacts), frozenset(held), frozenset(flying))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_plan(conn: sqlite3.Connection, names: Mapping[str, str],
               policy: LifecyclePolicy | None, *, contact_ids: Sequence[str] | None = None,
               exclude: frozenset[str] = frozenset()) -> Plan:
    """Desired values of every scored contact diffed against what HubSpot has."""
    plan = Plan()
    watched = list(names.values()) + ["lifecyclestage"]
    # Only the watched properties leave SQLite: one small JSON array per contact.
    extract = "json_extract(c.properties, " + ", ".join(
        f"'$.\"{name}\"'" for name in watched) + ")"
    for chunk in _score_chunks(conn, contact_ids, extract):
        for row in chunk:
            (contact_id, total, fit, engagement, grade, stage, inactive, reasons, changed_at,
             history_id, known, properties, archived, merged_into, pulled_at, ledger) = row
            if contact_id in exclude:
                continue
            if not known:
                plan.skipped["unknown"] += 1
                continue
            if merged_into:
                plan.skipped["merged"] += 1
                continue
            if archived:
                plan.skipped["archived"] += 1
                continue
            score = DesiredScore(contact_id, total, fit, engagement, grade, stage, bool(inactive),
                                 reasons or "[]", changed_at)
            pulled = dict(zip(watched, json.loads(properties))) if properties else {}
            newer = {k: tuple(v) for k, v in json.loads(ledger).items()} if ledger != "{}" else {}
            current = current_values(pulled, pulled_at, newer)
            change, held = plan_contact(score, current, names, policy)
            plan.add(change, held)
            if change is not None:
                plan.history_upto[contact_id] = history_id
    return plan


_SCORES = """
    SELECT s.contact_id, s.total, s.fit, s.engagement, s.grade, s.stage, s.inactive, s.reasons,
           COALESCE((SELECT MAX(h.changed_at) FROM score_history h
                     WHERE h.contact_id = s.contact_id), s.scored_at),
           (SELECT MAX(h.id) FROM score_history h WHERE h.contact_id = s.contact_id),
           c.id IS NOT NULL, {extract}, c.archived, c.merged_into, c.pulled_at,
           -- the pushed ledger where newer than the last pull (older rows are superseded)
           (SELECT json_group_object(p.property, json_array(p.value, p.pushed_at)) FROM pushed p
            WHERE p.contact_id = s.contact_id AND (c.pulled_at IS NULL OR p.pushed_at > c.pulled_at))
    FROM scores s LEFT JOIN contacts c ON c.id = s.contact_id"""


def _score_chunks(conn: sqlite3.Connection, contact_ids: Sequence[str] | None,
                  extract: str) -> Iterator[list]:
    sql = _SCORES.format(extract=extract)
    if contact_ids is not None:
        for start in range(0, len(contact_ids), _CHUNK):
            part = contact_ids[start:start + _CHUNK]
            yield conn.execute(f"{sql} WHERE s.contact_id IN ({','.join('?' * len(part))}) "
                               f"ORDER BY s.contact_id", part).fetchall()
        return
    cursor = conn.execute(f"{sql} ORDER BY s.contact_id")
    while chunk := cursor.fetchmany(_CHUNK):
        yield chunk


# ---- pushing --------------------------------------------------------------------------------

def push(cache: Cache, client: HubSpot, write_back: WriteBack, policy: LifecyclePolicy | None,
         *, max_changes: int | None = None, retry_failed: bool = False,
         contact_ids: Iterable[str] | None = None, concurrency: int = 8,
         run_id: int | None = None, after_send: AfterSend | None = None) -> PushSummary:
    """Send what changed. Raises NotSetUp before setup, TooManyChanges over the guardrail
    (nothing is enqueued or sent then). `after_send(batch_id, contact_ids)` runs after each
    batch's HTTP call and before its answer is recorded (a seam for crash tests)."""
    started, calls = time.monotonic(), client.counters.calls
    require_setup(cache.conn, write_back)
    ids = None if contact_ids is None else sorted({str(i) for i in contact_ids})
    plan, backlog = plan_push(cache, write_back, policy, retry_failed=retry_failed, contact_ids=ids)
    summary = PushSummary(plan, backlog)
    moving = len(backlog.contacts | {c.contact_id for c in plan.changes})
    if max_changes is not None and moving > max_changes:
        raise TooManyChanges(
            f"push would update {moving:,} contacts, more than --max-changes {max_changes:,}; "
            f"nothing was sent. Check `leadsync push --dry-run`, then rerun with "
            f"--max-changes {moving}")
    sender = Sender(cache, client, summary, run_id=run_id, concurrency=concurrency,
                    after_send=after_send)
    if backlog.resend:
        sender.claim_backlog(backlog.resend)
        sender.drain()
        names = names_of(write_back)
        settled = sorted(backlog.contacts - sender.unfinished_contacts())
        again = build_plan(cache.conn, names, policy, contact_ids=settled)
        plan.changes += again.changes
        plan.history_upto.update(again.history_upto)
    sender.send_plan(plan)
    sender.finish()
    summary.api_calls = client.counters.calls - calls
    summary.seconds = time.monotonic() - started
    return summary


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

    def send_plan(self, plan: Plan) -> None:
        """Send the plan in batches of 100 contacts, each enqueued (as `sent`) by the thread
        that posts it; then rounds for retries and second writes (demotions).

        Contacts whose batch was not enqueued yet when a push dies have no outbox rows: the
        next push plans them again, which is the same as resending them."""
        with thread_pool(self.concurrency, "push") as pool:
            futures = [pool.submit(self._enqueue_and_send, plan.changes[start:start + BATCH_LIMIT],
                                   plan.history_upto)
                       for start in range(0, len(plan.changes), BATCH_LIMIT)]
            for future in futures:
                future.result()
        self.drain()

    def _enqueue_and_send(self, changes: list[ContactChange], history_upto: dict) -> None:
        batch, now, rows = self._next_batch(), utcnow(), []
        with self.cache.transaction() as conn:
            for change in changes:
                upto = history_upto.get(change.contact_id)
                first = self._insert(conn, change, upto, now, batch)
                rows.append(_Row(first, change.contact_id, change.writes[0],
                                 upto if len(change.writes) == 1 else None))
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
            if len(rows) == 1:
                self._settle(rows, set(), {rows[0].contact_id: (str(exc), False)})
                return
            self._count(splits=1)
            middle = len(rows) // 2
            self._send(rows[:middle])
            self._send(rows[middle:])
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
